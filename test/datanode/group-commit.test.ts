import test from 'ava';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Level } from 'level';
import { AetherError } from '../../common/errors.js';
import { GLT_MAX, compareGlt, glt } from '../../glts/glt.js';
import { LevelStore, type LevelStoreOptions, type WrittenBatch } from '../../datanode/level-store.js';
import { MAX_OFFSET_MS, allChanges, batchOf, remote } from './conformance.js';

/**
 * Group commit of LevelStore (docs/architecture.md "Storage layout": a write is acknowledged only after its
 * batch is synced): concurrent writes share one synced batch, in order, atomically, and
 * a batch that fails fails every write in it.
 */

/** A LevelDB whose next chained-batch write can be made to fail, as a disk error would. */
function faultyDb(path: string): { db: Level<Buffer, Buffer>; failNextBatch: () => void } {
  const db = new Level<Buffer, Buffer>(path, { keyEncoding: 'buffer', valueEncoding: 'buffer' });
  let fail = false;
  const batch = db.batch.bind(db) as (...args: unknown[]) => unknown;
  db.batch = ((...args: unknown[]) => {
    if (args.length > 0) return batch(...args);
    const chained = batch() as ReturnType<Level<Buffer, Buffer>['batch']>;
    const write = chained.write.bind(chained);
    chained.write = (async (options: { sync?: boolean } = {}) => {
      if (!fail) return write(options);
      fail = false;
      await chained.close();
      throw new Error('injected I/O error');
    }) as typeof chained.write;
    return chained;
  }) as typeof db.batch;
  return { db, failNextBatch: () => void (fail = true) };
}

async function withStore(t: { teardown: (fn: () => Promise<void>) => void }, extra: Partial<LevelStoreOptions> = {}) {
  const dir = await mkdtemp(join(tmpdir(), 'aetherflow-group-commit-'));
  const batches: WrittenBatch[] = [];
  let failNextBatch = () => {};
  const options: LevelStoreOptions = {
    path: join(dir, 'db'),
    origin: 'node-a',
    clock: { maxOffsetMs: MAX_OFFSET_MS },
    onBatchWritten: (b) => batches.push(b),
    openDatabase: (path) => {
      const f = faultyDb(path);
      failNextBatch = f.failNextBatch;
      return f.db;
    },
    ...extra,
  };
  const store = await LevelStore.open(options);
  t.teardown(async () => {
    await store.shutdown();
    await rm(dir, { recursive: true, force: true });
  });
  const reopen = async () => {
    await store.shutdown();
    const again = await LevelStore.open(options);
    t.teardown(() => again.shutdown());
    return again;
  };
  return { store, batches, failNextBatch: () => failNextBatch(), reopen };
}

const key = (i: number) => Buffer.from(`k${String(i).padStart(5, '0')}`);

test('sync is on by default: concurrent writes share synced batches, many writes per fsync', async (t) => {
  const { store, batches } = await withStore(t);
  const writers = 64;
  const perWriter = 40;
  await Promise.all(
    Array.from({ length: writers }, async (_, w) => {
      for (let i = 0; i < perWriter; i++) await store.put(key(w * perWriter + i), Buffer.from(`v${i}`));
    }),
  );
  const client = batches.filter((b) => b.writes > 0);
  t.true(client.every((b) => b.synced), 'every batch of client writes is synced');
  t.is(client.reduce((n, b) => n + b.writes, 0), writers * perWriter);
  // With 64 writers each keeping one write in flight, one fsync serves many of them.
  t.true(client.length <= (writers * perWriter) / 8, `${client.length} synced batches for ${writers * perWriter} writes`);
});

test('a write resolves only after the synced batch holding it was written; order and stamps follow the queue', async (t) => {
  const { store, batches, reopen } = await withStore(t, { maxBatchWrites: 7 });
  const resolvedAfter: number[] = [];
  const versions = await Promise.all(
    Array.from({ length: 100 }, (_, i) =>
      store.put(key(i), Buffer.from(`v${i}`)).then((v) => {
        resolvedAfter.push(batches.reduce((n, b) => n + b.writes, 0));
        return v;
      }),
    ),
  );
  // Each write resolved with its batch already counted: its sync came first.
  resolvedAfter.forEach((written, i) => t.true(written >= i + 1, `write ${i} resolved after ${written} writes were written`));
  for (let i = 1; i < versions.length; i++) t.true(compareGlt(versions[i]!.ts, versions[i - 1]!.ts) > 0, 'stamps follow the queue');
  t.true(batches.filter((b) => b.writes > 0).every((b) => b.writes <= 7));
  const again = await reopen();
  const changes = await allChanges(again, 'node-a');
  t.deepEqual(
    changes.map((v) => v.key.toString()),
    versions.map((v) => v.key.toString()),
  );
});

test('a batch is bounded in bytes too: a single larger write still goes, alone', async (t) => {
  const { store, batches } = await withStore(t, { maxBatchBytes: 4096 });
  const value = Buffer.alloc(1000, 1);
  await Promise.all([...Array.from({ length: 40 }, (_, i) => store.put(key(i), value)), store.put(key(99), Buffer.alloc(10_000, 2))]);
  const client = batches.filter((b) => b.writes > 0);
  t.is(client.reduce((n, b) => n + b.writes, 0), 41);
  for (const b of client) t.true(b.bytes <= 4096 || b.writes === 1, `batch of ${b.writes} writes, ${b.bytes} bytes`);
  t.true(client.some((b) => b.bytes > 4096 && b.writes === 1));
});

test('a synced batch that fails fails every write in it with STORE_IO, and none of them is stored; the next batch goes on', async (t) => {
  const { store, batches, failNextBatch } = await withStore(t);
  await store.put(key(0), Buffer.from('before'));
  failNextBatch();
  const failed = await Promise.allSettled(Array.from({ length: 50 }, (_, i) => store.put(key(i + 1), Buffer.from(`lost${i}`))));
  for (const r of failed) {
    t.is(r.status, 'rejected');
    if (r.status === 'rejected') {
      t.true(r.reason instanceof AetherError);
      t.is((r.reason as AetherError).code, 'STORE_IO');
    }
  }
  t.is(batches.filter((b) => b.writes > 0).reduce((n, b) => n + b.writes, 0), 1, 'the failed batch was never reported written');
  const after = await store.put(key(100), Buffer.from('after'));
  const live = await allChanges(store, 'node-a');
  t.deepEqual(
    live.map((v) => v.key.toString()),
    [key(0), key(100)].map(String),
  );
  t.is((await store.get(key(1), GLT_MAX)), undefined);
  t.is((await store.get(key(100), after.ts))?.value.toString(), 'after');
});

test('an apply is synced too before it resolves (applied[origin] counts only then)', async (t) => {
  const { store, batches } = await withStore(t);
  await store.apply({ epoch: 1n, batches: [batchOf('eu', glt(1_000n, 0), [remote('x', '1', glt(900n, 0), 'eu-d1')])] });
  const leaderBatches = batches.filter((b) => b.writes === 0);
  t.true(leaderBatches.length >= 1);
  t.true(leaderBatches.every((b) => b.synced));
  t.deepEqual((await store.streamState()).applied.get('eu'), glt(1_000n, 0));
});

test('sync: false still works: batches are not synced, writes are grouped and survive a reopen', async (t) => {
  const { store, batches, reopen } = await withStore(t, { sync: false });
  await Promise.all(Array.from({ length: 200 }, (_, i) => store.put(key(i), Buffer.from(`v${i}`))));
  await store.apply({ epoch: 1n, batches: [batchOf('eu', glt(1_000n, 0), [remote('x', '1', glt(900n, 0), 'eu-d1')])] });
  t.true(batches.length > 0);
  t.true(batches.every((b) => !b.synced));
  t.true(batches.filter((b) => b.writes > 0).length < 200);
  const again = await reopen();
  t.is((await allChanges(again, 'node-a')).length, 200);
  t.deepEqual((await again.streamState()).applied.get('eu'), glt(1_000n, 0));
});
