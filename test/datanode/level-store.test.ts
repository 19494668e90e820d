import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
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
