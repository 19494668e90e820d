import test from 'ava';
import { compareFloors, goalFigures, type CompareOutcome } from '../../bench/compare-etcd.js';
import type { WorkloadResult } from '../../bench/compare-etcd-workload.js';
import { loadTopology } from '../../topology/load.js';

function result(writeMs: number[], readMs: number[], visibilityMs: number[]): WorkloadResult {
  return { writeMs, readMs, readErrors: 0, readsShed: 0, visibilityMs, attempted: writeMs.length, writeErrors: 0, visibilityTimeouts: 0, visibilityErrors: 0, missingReads: 0, unchecked: 0, shed: 0, elapsedS: 1 };
}

const wan = loadTopology('topology/wan.yaml');

test('the ratios of the issue, each against its goal, with both floors beside them', (t) => {
  const af: CompareOutcome = { ok: true, result: result([1, 2, 3], [0.5, 1], [100, 150, 200]) };
  const etcd: CompareOutcome = { ok: true, result: result([100, 150, 200], [40, 80], [50, 80, 100]) };
  const floors = compareFloors(wan, 'us-east', 'us-east');
  t.is(floors.aetherflowMs, 170);
  t.is(floors.etcdMs, 150);
  const figs = goalFigures(af, etcd, 10_000, floors);
  const by = (prefix: string) => figs.find((f) => f.name.startsWith(prefix))!;
  t.deepEqual(by('AetherFlow write p99 ÷'), { name: 'AetherFlow write p99 ÷ etcd write p99', measured: 0.015, unit: 'ratio', goal: '≤ 0.1', met: true });
  t.is(by('AetherFlow snapshot read').measured, 0.0125);
  t.true(by('AetherFlow snapshot read').met!);
  // 150 ÷ 80 read from the latency histogram, each figure at most 0.1% above its sample.
  t.is(by('AetherFlow visibility in another region p50').measured, 1.876);
  t.false(by('AetherFlow visibility in another region p50').met!);
  t.is(by('AetherFlow visibility in another region p99').measured, 2);
  t.is(by('AetherFlow visibility floor, worst pair').measured, 170);
  t.is(by('etcd visibility floor, worst reader').measured, 150);
});

test('a failed run fails every ratio and still prints the floors', (t) => {
  const figs = goalFigures({ ok: false, error: 'TIMEOUT: no' }, { ok: true, result: result([1], [1], [1]) }, 10_000, compareFloors(wan, 'eu-west', 'eu-west'));
  t.is(figs.filter((f) => f.met === false).length, 4);
  t.is(figs.find((f) => f.name.startsWith('etcd visibility floor, worst'))!.measured, 110);
});
