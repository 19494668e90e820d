import test from 'ava';
import { Registry } from 'prom-client';
import { createAetherMetrics } from '../../common/metrics.js';
import { CountedStore } from '../../datanode/counted-store.js';
import { MemoryDisk, MemoryStore } from '../../datanode/memory-store.js';
import { Clock } from '../../glts/clock.js';

async function gauge(registry: Registry, name: string): Promise<number> {
  const m = (await registry.getMetricsAsJSON()).find((x) => x.name === name);
  return (m?.values[0]?.value as number | undefined) ?? 0;
}

test('mvcc_versions follows writes, applies and GC, and a reopened node counts what it holds (paged)', async (t) => {
  let nowNs = 1_763_751_000_000_000_000n;
  const physicalNs = () => nowNs;
  const disk = new MemoryDisk();
  const open = () => new MemoryStore({ origin: 'd1', disk, clock: new Clock({ maxOffsetMs: 250, physicalNs, floor: disk.floor() }) });
  const registry = new Registry();
  const metrics = createAetherMetrics(registry, { budgetMs: 50 });
  const inner = open();
  // A remote node's writes, applied here, share timestamps with local ones at page boundaries.
  const remote = new MemoryStore({ origin: 'd2', clock: new Clock({ maxOffsetMs: 250, physicalNs }) });
  const store = await CountedStore.open(inner, metrics, 3);
  for (let i = 0; i < 10; i++) {
    await store.put(Buffer.from(`k${i % 4}`), Buffer.from(`v${i}`));
    await remote.put(Buffer.from(`r${i % 3}`), Buffer.from(`w${i}`));
    nowNs += 1_000_000n;
  }
  await store.delete(Buffer.from('k0'));
  await store.applyRemote(await remote.changes({ wall: 0n, logical: 0 }, { wall: nowNs, logical: 0 }));
  t.is(await gauge(registry, 'mvcc_versions'), 21);

  const horizon = { wall: nowNs, logical: 0 };
  nowNs += 1_000_000n;
  const dropped = await store.gc(horizon);
  t.true(dropped > 0);
  t.is(await gauge(registry, 'mvcc_versions'), 21 - dropped);
  t.is(await gauge(registry, 'gc_collected_total'), dropped);

  const again = new Registry();
  await CountedStore.open(inner, createAetherMetrics(again, { budgetMs: 50 }), 3);
  t.is(await gauge(again, 'mvcc_versions'), 21 - dropped);
  await store.shutdown();
});
