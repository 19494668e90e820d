import test from 'ava';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AetherError } from '../../common/errors.js';
import { GLT_MAX, GLT_ZERO, compareGlt } from '../../glts/glt.js';
import { LevelStore } from '../../datanode/level-store.js';
import { MAX_OFFSET_MS, conformance, type StoreHarness } from './conformance.js';

conformance('LevelStore', async (origin) => {
  let nowNs = 1_763_751_000_000_000_000n;
  const physicalNs = () => nowNs;
  const dir = await mkdtemp(join(tmpdir(), 'aetherflow-level-'));
  const open = () => LevelStore.open({ path: join(dir, 'db'), origin, clock: { maxOffsetMs: MAX_OFFSET_MS, physicalNs } });
  const h: StoreHarness = {
    store: await open(),
    advanceNs: (ns) => void (nowNs += ns),
    physicalNs,
    reopen: async () => {
      await h.store.shutdown();
      h.store = await open();
      return h.store;
    },
    dispose: async () => {
      await h.store.shutdown();
      await rm(dir, { recursive: true, force: true });
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
    t.is((await store.changes(GLT_ZERO, GLT_MAX)).length, 100);
    await store.shutdown();
    const again = await LevelStore.open({ path: dir, origin: 'node-a', clock: { maxOffsetMs: MAX_OFFSET_MS } });
    t.is((await again.changes(GLT_ZERO, GLT_MAX)).length, 100);
    await again.shutdown();
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('close(T) under a write backlog returns without waiting for queued writes, yet holds every write stamped ≤ T; an applied delta jumps the queue', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'aetherflow-level-close-'));
  let nowNs = 1_763_751_000_000_000_000n;
  const store = await LevelStore.open({ path: dir, origin: 'node-a', clock: { maxOffsetMs: MAX_OFFSET_MS, physicalNs: () => nowNs }, maxBatchWrites: 16 });
  try {
    const pending = Array.from({ length: 2000 }, (_, i) => store.put(Buffer.from(`k${i}`), Buffer.from(`v${i}`)));
    let settled = 0;
    for (const p of pending) void p.then(() => settled++);
    // Let a few batches be stamped and enter the pipeline.
    for (let i = 0; i < 3; i++) await new Promise((r) => setImmediate(r));
    nowNs += 1_000_000n;
    const T = { wall: nowNs, logical: 0 };
    const remote = { key: Buffer.from('remote'), value: Buffer.from('r'), ts: { wall: nowNs - 500n, logical: 0 }, origin: 'node-b' };
    await Promise.all([store.close(T), store.applyRemote([remote])]);
    t.true(settled < pending.length, 'close and the delta did not wait for the whole backlog');
    const closedAt = await store.changes(GLT_ZERO, T, { origin: 'node-a' });
    const versions = await Promise.all(pending);
    const atOrBelow = versions.filter((v) => compareGlt(v.ts, T) <= 0);
    t.deepEqual(closedAt.map((v) => v.key.toString()), atOrBelow.map((v) => v.key.toString()), 'every write stamped ≤ T was readable when close returned');
    t.true(versions.length > atOrBelow.length, 'writes queued at close were stamped above T');
    t.is((await store.get(Buffer.from('remote'), T))?.origin, 'node-b');
  } finally {
    await store.shutdown();
    await rm(dir, { recursive: true, force: true });
  }
});
