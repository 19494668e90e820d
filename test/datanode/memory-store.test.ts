import { Clock } from '../../glts/clock.js';
import { MemoryDisk, MemoryStore } from '../../datanode/memory-store.js';
import { MAX_OFFSET_MS, conformance, type StoreHarness } from './conformance.js';

conformance('MemoryStore', async (origin) => {
  let nowNs = 1_763_751_000_000_000_000n;
  const physicalNs = () => nowNs;
  const disk = new MemoryDisk();
  const open = () => new MemoryStore({ origin, disk, clock: new Clock({ maxOffsetMs: MAX_OFFSET_MS, physicalNs, floor: disk.floor() }) });
  const h: StoreHarness = {
    store: open(),
    advanceNs: (ns) => void (nowNs += ns),
    physicalNs,
    reopen: async () => {
      await h.store.shutdown();
      h.store = open();
      return h.store;
    },
    dispose: () => h.store.shutdown(),
  };
  return h;
});
