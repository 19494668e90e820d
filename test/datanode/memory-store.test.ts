import { MemoryDisk, MemoryStore } from '../../datanode/memory-store.js';
import { MAX_OFFSET_MS, conformance, type StoreHarness } from './conformance.js';
import { diskEntries } from './entries.js';

conformance('MemoryStore', async (origin) => {
  let nowNs = 1_763_751_000_000_000_000n;
  const physicalNs = () => nowNs;
  const disk = new MemoryDisk();
  const open = () => new MemoryStore({ origin, disk, clock: { maxOffsetMs: MAX_OFFSET_MS, physicalNs } });
  const h: StoreHarness = {
    store: open(),
    advanceNs: (ns) => void (nowNs += ns),
    physicalNs,
    reopen: async () => {
      await h.store.shutdown();
      h.store = open();
      return h.store;
    },
    // Restarts, as the LevelStore harness must: the suite sees the same behaviour from both.
    entries: async () => {
      await h.reopen();
      return diskEntries(disk);
    },
    dispose: () => h.store.shutdown(),
  };
  return h;
});
