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
