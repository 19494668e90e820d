import test from 'ava';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Level } from 'level';
import type { AetherError } from '../../common/errors.js';
import { systemPhysicalNs } from '../../glts/clock.js';
import { GLT_MAX, GLT_ZERO, compareGlt, decodeGlt, encodeGlt, glt, type Glt } from '../../glts/glt.js';
import { encodeStoredValue, escape, versionKey } from '../../datanode/keys.js';
import { LevelStore, type LevelStoreOptions } from '../../datanode/level-store.js';
import { ensureFormat } from '../../datanode/migrate.js';
import { MAX_OFFSET_MS, allChanges, batchOf, code, conformance, remote, type StoreHarness } from './conformance.js';
import { dirEntries } from './entries.js';

const MS = 1_000_000n;
const START_NS = 1_763_751_000_000_000_000n;

function rawDb(path: string): Level<Buffer, Buffer> {
  return new Level<Buffer, Buffer>(path, { keyEncoding: 'buffer', valueEncoding: 'buffer' });
}

/** A store on a fake physical clock that open's wait for the clock advances. */
async function fakeClockStore(origin: string, extra: Partial<LevelStoreOptions> = {}) {
  let nowNs = START_NS;
  const waits: bigint[] = [];
  const dir = await mkdtemp(join(tmpdir(), 'aetherflow-level-'));
  const path = join(dir, 'db');
  const open = () =>
    LevelStore.open({
      path,
      origin,
      clock: { maxOffsetMs: MAX_OFFSET_MS, physicalNs: () => nowNs },
      waitPhysical: async (ns) => {
        waits.push(ns);
        nowNs += ns;
      },
      ...extra,
    });
  return {
    dir,
    path,
    open,
    waits,
    physicalNs: () => nowNs,
    advanceNs: (ns: bigint) => void (nowNs += ns),
  };
}

conformance('LevelStore', async (origin) => {
  const f = await fakeClockStore(origin);
  const h: StoreHarness = {
    store: await f.open(),
    advanceNs: f.advanceNs,
    physicalNs: f.physicalNs,
    reopen: async () => {
      await h.store.shutdown();
      h.store = await f.open();
      return h.store;
    },
    entries: async () => {
      await h.store.shutdown();
      const e = await dirEntries(f.path);
      h.store = await f.open();
      return e;
    },
    dispose: async () => {
      await h.store.shutdown();
      await rm(f.dir, { recursive: true, force: true });
    },
  };
  return h;
});

test('LevelDB failures surface as STORE_IO: a second open of a locked store, a path that is a file', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'aetherflow-level-io-'));
  const options = { path: join(dir, 'db'), origin: 'node-a', clock: { maxOffsetMs: MAX_OFFSET_MS } };
  const store = await LevelStore.open(options);
  try {
    const locked = await t.throwsAsync(LevelStore.open(options));
    t.is((locked as AetherError).code, 'STORE_IO');
    await writeFile(join(dir, 'file'), 'not a database');
    const notDir = await t.throwsAsync(LevelStore.open({ ...options, path: join(dir, 'file') }));
    t.is((notDir as AetherError).code, 'STORE_IO');
  } finally {
    await store.shutdown();
    await rm(dir, { recursive: true, force: true });
  }
});

test('a full write queue makes writers wait, and every write still lands in order', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'aetherflow-level-bp-'));
  const store = await LevelStore.open({ path: dir, origin: 'node-a', clock: { maxOffsetMs: MAX_OFFSET_MS }, maxQueuedWrites: 4, maxBatchWrites: 2 });
  try {
    const vs = await Promise.all(Array.from({ length: 100 }, (_, i) => store.put(Buffer.from(`k${i % 9}`), Buffer.from(`v${i}`))));
    for (let i = 1; i < vs.length; i++) t.true(compareGlt(vs[i]!.ts, vs[i - 1]!.ts) > 0);
    t.is((await allChanges(store, 'node-a')).length, 100);
    await store.shutdown();
    const again = await LevelStore.open({ path: dir, origin: 'node-a', clock: { maxOffsetMs: MAX_OFFSET_MS } });
    t.is((await allChanges(again, 'node-a')).length, 100);
    await again.shutdown();
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('closedMark under a write backlog returns without waiting for queued writes, yet holds every write stamped ≤ it; an apply jumps the queue', async (t) => {
  const f = await fakeClockStore('node-a', { maxBatchWrites: 16 });
  const store = await f.open();
  try {
    const pending = Array.from({ length: 2000 }, (_, i) => store.put(Buffer.from(`k${i}`), Buffer.from(`v${i}`)));
    let settled = 0;
    for (const p of pending) void p.then(() => settled++);
    // Let a few batches be stamped and enter the pipeline.
    for (let i = 0; i < 3; i++) await new Promise((r) => setImmediate(r));
    f.advanceNs(MS);
    const ts = { wall: f.physicalNs() - 500n, logical: 0 };
    const [c] = await Promise.all([store.closedMark(), store.apply({ epoch: 1n, batches: [batchOf('eu', ts, [remote('remote', 'r', ts, 'node-b')])] })]);
    t.true(settled < pending.length, 'the mark and the apply did not wait for the whole backlog');
    const closedAt = await allChanges(store, 'node-a', GLT_ZERO, c);
    const versions = await Promise.all(pending);
    const atOrBelow = versions.filter((v) => compareGlt(v.ts, c) <= 0);
    t.deepEqual(closedAt.map((v) => v.key.toString()), atOrBelow.map((v) => v.key.toString()), 'every write stamped ≤ the mark was durable when it returned');
    t.true(versions.length > atOrBelow.length, 'writes queued at the mark were stamped above it');
    t.is((await store.get(Buffer.from('remote'), c))?.origin, 'node-b');
  } finally {
    await store.shutdown();
    await rm(f.dir, { recursive: true, force: true });
  }
});

test('a closed mark persists a synced ceiling ahead of it, refreshed only when the mark comes near it', async (t) => {
  const f = await fakeClockStore('node-a');
  let store = await f.open();
  try {
    const c1 = await store.closedMark();
    f.advanceNs(100n * MS);
    await store.closedMark();
    await store.shutdown();
    const ceiling = async () => {
      const db = rawDb(f.path);
      try {
        return decodeGlt((await db.get(Buffer.from('sceiling')))!);
      } finally {
        await db.close();
      }
    };
    t.deepEqual(await ceiling(), glt(c1.wall + 500n * MS), 'one write for marks within the refresh distance');
    store = await f.open();
    f.advanceNs(300n * MS);
    const c3 = await store.closedMark();
    await store.shutdown();
    t.deepEqual(await ceiling(), glt(c3.wall + 500n * MS));
    store = await f.open();
  } finally {
    await store.shutdown();
    await rm(f.dir, { recursive: true, force: true });
  }
});

test('open waits for a physical clock a little behind the persisted floor (stamps at real time); far behind, it floors the clock instead', async (t) => {
  const f = await fakeClockStore('node-a');
  let store = await f.open();
  try {
    const c = await store.closedMark();
    await store.shutdown();
    f.advanceNs(-300n * MS);
    const behind = c.wall + 500n * MS - f.physicalNs();
    store = await f.open();
    t.deepEqual(f.waits, [behind + 1n], 'waited until the clock passed the ceiling');
    const v = await store.put(Buffer.from('k'), Buffer.from('1'));
    t.is(v.ts.wall, f.physicalNs(), 'at real time after the wait');
    const c2 = await store.closedMark();
    await store.shutdown();
    f.advanceNs(-3000n * MS);
    store = await f.open();
    t.is(f.waits.length, 1, 'no wait beyond MAX_OPEN_WAIT');
    const w = await store.put(Buffer.from('k'), Buffer.from('2'));
    t.true(compareGlt(w.ts, c2) > 0);
    t.is(w.ts.wall, c2.wall + 500n * MS, 'stamps run ahead, on the ceiling, until the clock catches up');
    t.true(w.ts.wall > f.physicalNs());
  } finally {
    await store.shutdown();
    await rm(f.dir, { recursive: true, force: true });
  }
});

test('with the real clock, a store reopened right after a closed mark waits out its ceiling and stamps at real time', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'aetherflow-level-real-'));
  const options = { path: dir, origin: 'node-a', clock: { maxOffsetMs: MAX_OFFSET_MS } };
  let store = await LevelStore.open(options);
  try {
    const c = await store.closedMark();
    await store.shutdown();
    store = await LevelStore.open(options);
    t.true(systemPhysicalNs() > c.wall + 500n * MS, 'open returned once the clock passed the ceiling');
    const v = await store.put(Buffer.from('k'), Buffer.from('v'));
    t.true(compareGlt(v.ts, c) > 0);
    t.true(v.ts.wall <= systemPhysicalNs(), 'not ahead of real time');
  } finally {
    await store.shutdown();
    await rm(dir, { recursive: true, force: true });
  }
});

// ---- formats and migration

/** A format-1 change key: 'c' | wall | logical | esc(origin) | esc(key). */
function v1ChangeKey(ts: Glt, origin: string, key: Buffer): Buffer {
  return Buffer.concat([Buffer.from('c'), encodeGlt(ts), escape(Buffer.from(origin, 'utf8')), escape(key)]);
}

/** Writes a format-1 data dir by hand: versions, the time-ordered change index, v1 metadata. */
async function writeV1Dir(path: string, versions: { key: string; value: string | null; ts: Glt; origin: string }[], meta: { closed: Glt; frontier: Glt; watermark: Glt; stamped: Glt }): Promise<void> {
  const db = rawDb(path);
  try {
    await db.open();
    const batch = db.batch();
    batch.put(Buffer.from('sformat'), Buffer.of(1));
    for (const v of versions) {
      const stored = encodeStoredValue(v.value === null ? null : Buffer.from(v.value));
      batch.put(versionKey(Buffer.from(v.key), v.ts, v.origin), stored);
      batch.put(v1ChangeKey(v.ts, v.origin, Buffer.from(v.key)), stored);
    }
    batch.put(Buffer.from('sclosed'), encodeGlt(meta.closed));
    batch.put(Buffer.from('sstamped'), encodeGlt(meta.stamped));
    batch.put(Buffer.from('mfrontier'), encodeGlt(meta.frontier));
    batch.put(Buffer.from('mwatermark'), encodeGlt(meta.watermark));
    await batch.write();
  } finally {
    await db.close();
  }
}

test('a format-1 dir is migrated at open: change index per origin, closed T as the ceiling floor, frontier as the applied floor, watermark gone', async (t) => {
  const f = await fakeClockStore('node-a');
  try {
    const base = f.physicalNs() - 60_000n * MS;
    const versions = Array.from({ length: 30 }, (_, i) => ({ key: `k${i % 7}`, value: i % 6 === 5 ? null : `v${i}`, ts: glt(base + BigInt(i) * MS, i % 2), origin: ['node-a', 'node-b', 'node-c'][i % 3]! }));
    const closed = glt(f.physicalNs() + 200n * MS, 3);
    const frontier = glt(base + 20n * MS);
    await writeV1Dir(f.path, versions, { closed, frontier, watermark: glt(base + 25n * MS), stamped: glt(base + 29n * MS, 1) });
    const progress: number[] = [];
    const store = await LevelStore.open({ path: f.path, origin: 'node-a', clock: { maxOffsetMs: MAX_OFFSET_MS, physicalNs: f.physicalNs }, onMigrateProgress: (n) => progress.push(n) });
    try {
      t.deepEqual(progress, [30]);
      t.deepEqual(await store.origins(), ['node-a', 'node-b', 'node-c']);
      for (const o of ['node-a', 'node-b', 'node-c']) {
        const want = versions.filter((v) => v.origin === o).map((v) => `${v.key}=${v.value}@${v.ts.wall}.${v.ts.logical}`);
        t.deepEqual((await allChanges(store, o)).map((v) => `${v.key}=${v.value === null ? null : v.value.toString()}@${v.ts.wall}.${v.ts.logical}`), want);
      }
      t.is((await store.get(Buffer.from('k0'), GLT_MAX))?.value.toString(), 'v28');
      const st = await store.streamState();
      t.deepEqual(st.appliedFloor, frontier);
      t.deepEqual(st.frontier, frontier);
      t.deepEqual(st.applied, new Map());
      // The old closed T was ahead of the physical clock (v1 pushed clocks): no stamp at or below it.
      const v = await store.put(Buffer.from('new'), Buffer.from('x'));
      t.true(compareGlt(v.ts, closed) > 0);
      // A version of any region at or below the applied floor was held by v1: an apply skips it.
      t.is(await store.apply({ epoch: 1n, batches: [batchOf('eu', frontier, [remote('old', 'x', glt(base + 10n * MS), 'node-z')])] }), 0);
    } finally {
      await store.shutdown();
    }
    const db = rawDb(f.path);
    try {
      t.deepEqual(await db.keys({ gte: Buffer.from('c'), lt: Buffer.from('d') }).all(), [], 'no format-1 change entry left');
      t.deepEqual(await db.getMany([Buffer.from('sformat'), Buffer.from('sclosed'), Buffer.from('mwatermark')]), [Buffer.of(2), undefined, undefined]);
    } finally {
      await db.close();
    }
  } finally {
    await rm(f.dir, { recursive: true, force: true });
  }
});

test('migration goes in bounded batches, and one interrupted midway carries on at the next open', async (t) => {
  const f = await fakeClockStore('node-a');
  try {
    const base = f.physicalNs() - 60_000n * MS;
    const versions = Array.from({ length: 25 }, (_, i) => ({ key: `k${i}`, value: `v${i}`, ts: glt(base + BigInt(i) * MS), origin: i % 2 ? 'node-a' : 'node-b' }));
    await writeV1Dir(f.path, versions, { closed: glt(base + 30n * MS), frontier: glt(base + 20n * MS), watermark: glt(base), stamped: glt(base + 24n * MS) });
    const db = rawDb(f.path);
    const progress: number[] = [];
    try {
      await db.open();
      const crash = new Error('crash after the first batch');
      const err = await t.throwsAsync(
        ensureFormat(db, f.path, {
          batchEntries: 10,
          onProgress: (n) => {
            progress.push(n);
            throw crash;
          },
        }),
      );
      t.is(err, crash);
      t.deepEqual(await db.get(Buffer.from('sformat')), Buffer.of(1), 'still format 1');
      t.is((await db.keys({ gte: Buffer.from('c'), lt: Buffer.from('d') }).all()).length, 15);
      await ensureFormat(db, f.path, { batchEntries: 10, onProgress: (n) => progress.push(n) });
      t.deepEqual(progress, [10, 10, 15]);
    } finally {
      await db.close();
    }
    const store = await f.open();
    try {
      t.deepEqual((await allChanges(store, 'node-a')).map((v) => v.key.toString()), versions.filter((v) => v.origin === 'node-a').map((v) => v.key));
      t.deepEqual((await allChanges(store, 'node-b')).map((v) => v.key.toString()), versions.filter((v) => v.origin === 'node-b').map((v) => v.key));
      t.deepEqual((await store.streamState()).appliedFloor, glt(base + 20n * MS));
    } finally {
      await store.shutdown();
    }
  } finally {
    await rm(f.dir, { recursive: true, force: true });
  }
});

test('a dir of an unknown format, or holding data without a format marker, is refused with STORE_FORMAT naming the path and formats', async (t) => {
  const f = await fakeClockStore('node-a');
  try {
    const db = rawDb(f.path);
    await db.put(Buffer.from('sformat'), Buffer.of(3));
    await db.close();
    const err = (await t.throwsAsync(f.open())) as AetherError;
    t.is(err.code, 'STORE_FORMAT');
    t.true(err.message.includes(f.path) && err.message.includes('format 3') && err.message.includes('reads format 2'), err.message);
    const db2 = rawDb(f.path);
    await db2.put(Buffer.from('sformat'), Buffer.of(2, 0));
    await db2.close();
    t.is(await code(f.open()), 'STORE_FORMAT');
    const db3 = rawDb(f.path);
    await db3.del(Buffer.from('sformat'));
    await db3.put(Buffer.from('vsomething'), Buffer.of(1));
    await db3.close();
    const none = (await t.throwsAsync(f.open())) as AetherError;
    t.is(none.code, 'STORE_FORMAT');
    t.true(none.message.includes('no format marker'), none.message);
    // The refused dir is left as it was, and unlocked.
    const db4 = rawDb(f.path);
    t.deepEqual(await db4.keys().all(), [Buffer.from('vsomething')]);
    await db4.close();
  } finally {
    await rm(f.dir, { recursive: true, force: true });
  }
});
