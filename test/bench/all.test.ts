import test from 'ava';
import { mergeOptions, parseDrillList } from '../../bench/all.js';
import { lossLatencyPoints, ratePoints } from '../../bench/plot.js';

test('drill names from `chaos drill --list`: JSON or one per line', (t) => {
  t.deepEqual(parseDrillList('["region-crash","catch-up"]'), ['region-crash', 'catch-up']);
  t.deepEqual(parseDrillList('{"drills":[{"name":"storm"},{"name":"catch-up","description":"x"}]}'), ['storm', 'catch-up']);
  t.deepEqual(parseDrillList('drill             what it does\nregion-partition   cut one region off\ncatch-up  a region catches up\n\n'), ['region-partition', 'catch-up']);
});

test("the snapshot plot's points come from the rate figures of both topologies", (t) => {
  const figs = [
    { name: 'local @1,000/s commit time p99', measured: 12, unit: 'ms', goal: null, met: null },
    { name: 'wan @2,500/s visibility in another region p99', measured: 180, unit: 'ms', goal: null, met: null },
    { name: 'local @1,000/s visibility reads (sampled writes × other regions)', measured: 5, unit: 'reads', goal: null, met: null },
    { name: 'local @0/s commit time p50', measured: Number.NaN, unit: 'ms', goal: null, met: null },
  ];
  t.deepEqual(ratePoints(figs), [
    { topology: 'local', ratePerS: 1000, figure: 'commit time p99', ms: 12 },
    { topology: 'wan', ratePerS: 2500, figure: 'visibility in another region p99', ms: 180 },
  ]);
  t.deepEqual(lossLatencyPoints([{ name: 'quantum loss 2% latency p99', measured: 3, unit: 'ms', goal: null, met: null }]), [{ protocol: 'Quantum', lossPercent: 2, percentile: 'p99', ms: 3 }]);
});

test("a drill's own --fast options replace the common ones", (t) => {
  t.deepEqual(mergeOptions(['--duration', '5', '--rate', '500'], ['--size', '20', '--duration', '30']), ['--rate', '500', '--size', '20', '--duration', '30']);
  t.deepEqual(mergeOptions(['--rate', '500'], []), ['--rate', '500']);
});
