import test from 'ava';
import { Registry } from 'prom-client';
import { createAetherMetrics } from '../../common/metrics.js';
import { CountedStore } from '../../datanode/counted-store.js';
import { encodeVersions } from '../../datanode/delta.js';
import { MemoryDisk, MemoryStore } from '../../datanode/memory-store.js';
import { GLT_MAX, GLT_ZERO, type Glt } from '../../glts/glt.js';

async function gauge(registry: Registry, name: string): Promise<number> {
  const m = (await registry.getMetricsAsJSON()).find((x) => x.name === name);
  return (m?.values[0]?.value as number | undefined) ?? 0;
}

test('mvcc_versions follows writes, applies, hiding, re-stamping and GC; a reopened node counts what it holds (paged, per origin)', async (t) => {
  let nowNs = 1_763_751_000_000_000_000n;
  const physicalNs = () => nowNs;
  const disk = new MemoryDisk();
  const open = () => new MemoryStore({ origin: 'd1', disk, clock: { maxOffsetMs: 250, physicalNs } });
  const registry = new Registry();
  const metrics = createAetherMetrics(registry, { budgetMs: 50 });
  const remote = new MemoryStore({ origin: 'd2', clock: { maxOffsetMs: 250, physicalNs } });
  const store = await CountedStore.open(open(), metrics, 40);
  for (let i = 0; i < 10; i++) {
    await store.put(Buffer.from(`k${i % 4}`), Buffer.from(`v${i}`));
    await remote.put(Buffer.from(`r${i % 3}`), Buffer.from(`w${i}`));
    nowNs += 1_000_000n;
  }
  await store.delete(Buffer.from('k0'));
  const to: Glt = { wall: nowNs, logical: 0 };
  const shipped = await remote.changes('d2', GLT_ZERO, to, 1 << 20);
  t.is(await store.apply({ epoch: 1n, batches: [{ region: 'r2', to, versions: shipped.versions }] }), 10);
  t.is(await gauge(registry, 'mvcc_versions'), 21);

  // Hiding and re-stamping move versions: the count stays.
  const W = { wall: nowNs - 5_000_000n, logical: 0 };
  t.true((await store.hide(1n, ['d2'], W, 100)).moved > 0);
  await store.restamp(1n, { origins: ['d2'], above: W, upTo: to, floor: to }, 100);
  t.is(await gauge(registry, 'mvcc_versions'), 21);
  t.is(await store.apply({ epoch: 1n, batches: [{ region: 'r3', to: GLT_MAX, versions: encodeVersions([{ key: Buffer.from('x'), value: null, ts: to, origin: 'd3' }]) }] }), 1);

  nowNs += 1_000_000n;
  const horizon = await store.closedMark();
  const dropped = await store.gc(horizon);
  t.true(dropped > 0);
  t.is(await gauge(registry, 'mvcc_versions'), 22 - dropped);
  t.is(await gauge(registry, 'gc_collected_total'), dropped);

  const again = new Registry();
  await store.shutdown();
  await CountedStore.open(open(), createAetherMetrics(again, { budgetMs: 50 }), 40);
  t.is(await gauge(again, 'mvcc_versions'), 22 - dropped);
});
