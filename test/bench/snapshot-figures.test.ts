import test from 'ava';
import type { WindowMetrics } from '../../bench/deployment-metrics.js';
import type { Figure } from '../../common/figure.js';
import { lz4VersionBytes, parseRates, snapshotFigures, type RateMeasurement, type SnapshotBenchInput } from '../../bench/snapshot-figures.js';
import { visibilityFloor } from '../../bench/floors.js';
import type { Bucket } from '../../bench/stats.js';
import type { VisibilityResult } from '../../history/visibility-sampler.js';
import { loadTopology } from '../../topology/load.js';

const commits = (fastMs: number, under20: number, n: number): Bucket[] => [
  { le: fastMs / 1000, count: Math.round(n / 2) },
  { le: 0.02, count: under20 },
  { le: 0.05, count: n },
  { le: Infinity, count: n },
];

function metrics(buckets: Bucket[], o: Partial<WindowMetrics> = {}): WindowMetrics {
  return {
    commits: buckets[buckets.length - 1]!.count,
    commitBuckets: { decide: buckets, persist: buckets, announce: buckets, total: buckets },
    shippedBytes: 20_000,
    shippedVersions: 1000,
    quantumOutBytes: 25_000,
    quantumOutPackets: 100,
    fecParityPackets: 0,
    retransmissions: 0,
    backpressured: { admitted: 0, refused: 0 },
    longestTask: { value: 0.03, process: 'us-east-l1' },
    loopDelayMax: { value: 0.1, process: 'us-east-l1' },
    silent: [],
    ...o,
  };
}

function visibility(ms: number[]): VisibilityResult {
  return { perRegionMs: new Map(), censoredMs: ms, acknowledged: 100, sampledWrites: 50, reads: ms.length, skipped: 0, timeouts: 0, errors: 0, stale: [], absent: 0 };
}

function rate(ratePerS: number, o: Partial<RateMeasurement> = {}): RateMeasurement {
  const durationS = 10;
  const offered = ratePerS * durationS;
  return {
    ratePerS,
    durationS,
    offered,
    acknowledged: offered,
    failed: 0,
    failures: {},
    shed: 0,
    writeP99Ms: 5,
    metrics: metrics(commits(5, 200, 200)),
    cpu: { seconds: offered * 0.0002 + 2, wallS: durationS, cores: 0.5, gone: 0, appeared: 0 },
    coresByRole: {},
    coresByProcess: {},
    freshnessMs: new Map([['us-east', [10, 20, 60]]]),
    frontierAhead: { samples: 0, maxMs: 0 },
    ...(ratePerS > 0 ? { visibility: visibility([30, 40, 90]) } : {}),
    missedWrites: 0,
    missedExcused: 0,
    excludedRegions: [],
    ...o,
  };
}

const local = loadTopology('topology/local.yaml');
const wan = loadTopology('topology/wan.yaml');

function input(o: Partial<SnapshotBenchInput> = {}): SnapshotBenchInput {
  return {
    name: 'local',
    wan: false,
    floor: visibilityFloor(local, 'us-east'),
    lz4VersionBytes: 20,
    idle: { cpu: { seconds: 2, wallS: 10, cores: 0.2, gone: 0, appeared: 0 }, coresByRole: {}, coresByProcess: {}, metrics: metrics(commits(5, 200, 200)) },
    rates: [rate(0), rate(1000), rate(5000)],
    exits: [],
    ...o,
  };
}

const find = (figs: Figure[], name: string): Figure => {
  const f = figs.find((x) => x.name === name);
  if (!f) throw new Error(`no figure ${name} in ${figs.map((x) => x.name).join('; ')}`);
  return f;
};

test('local.yaml: each goal of the issue is judged at the rates it names', (t) => {
  const figs = snapshotFigures(input());
  t.deepEqual(find(figs, 'local idle CPU, whole deployment (no clients)'), { name: 'local idle CPU, whole deployment (no clients)', measured: 0.2, unit: 'cores', goal: '≤ 0.3 cores', met: true });
  t.is(find(figs, 'local @5,000/s writes acknowledged of offered').met, true);
  t.is(find(figs, 'local @1,000/s writes acknowledged of offered').met, null);
  t.is(find(figs, 'local @0/s commit time p99').goal, '≤ 20 ms');
  t.is(find(figs, 'local @0/s commit time p99').met, true);
  t.is(find(figs, 'local @1,000/s visibility in another region p99').met, true);
  t.is(find(figs, 'local @1,000/s visibility in another region p99').measured, 90);
  t.is(find(figs, 'local @1,000/s Quantum bytes on the wire per version per peer').measured, 25);
  t.is(find(figs, 'local @1,000/s Quantum bytes on the wire per version per peer').met, true);
  t.is(find(figs, 'local @1,000/s shipped bytes per version per peer (framed LZ4 deltas)').met, null);
  t.is(find(figs, 'local @5,000/s CPU per acknowledged write, all processes').measured, 0.24);
  t.is(find(figs, 'local @5,000/s longest event-loop task, worst process').met, true);
  t.is(find(figs, 'local @1,000/s longest event-loop task, worst process').met, null);
  t.is(find(figs, 'local commit time p99 @5,000/s − @0/s (flat)').met, true);
  t.false(figs.some((f) => f.name.startsWith('local @0/s visibility')));
  t.true(figs.every((f) => f.name.startsWith('local ')));
});

test('a rate not sustained is reported but its latency goals are not judged; the 5,000 writes/s goal fails', (t) => {
  const slow = rate(5000, { acknowledged: 40_000, visibility: visibility([500, 900]), metrics: metrics(commits(5, 100, 200)) });
  const figs = snapshotFigures(input({ rates: [rate(0), slow] }));
  t.is(find(figs, 'local @5,000/s writes acknowledged of offered').met, false);
  t.is(find(figs, 'local @5,000/s writes acknowledged of offered').measured, 80);
  const vis = find(figs, 'local @5,000/s visibility in another region p99');
  t.is(vis.met, null);
  t.true(vis.goal!.includes('not judged'));
  t.is(find(figs, 'local @5,000/s commit time p99').met, null);
  // The flat-commit goal compares whatever was measured.
  t.is(find(figs, 'local commit time p99 @5,000/s − @0/s (flat)').met, false);
});

test('the commit goal on a bucket bound is judged from the bucket counts', (t) => {
  const figs = snapshotFigures(input({ rates: [rate(0, { metrics: metrics(commits(5, 197, 200)) })] }));
  t.is(find(figs, 'local @0/s commit time p99').met, false);
  t.false(figs.some((f) => f.name.includes('(flat)')));
});

test('wan.yaml: visibility is judged at 2,500 writes/s against the printed floor + 50 ms; no local-only goal applies', (t) => {
  const floor = visibilityFloor(wan, 'us-east');
  const figs = snapshotFigures(input({ name: 'wan', wan: true, floor, rates: [rate(1000, { visibility: visibility([400]) }), rate(2500, { visibility: visibility([100, 215]) })] }));
  const v = find(figs, 'wan @2,500/s visibility in another region p99');
  t.is(v.goal, '≤ floor 170 ms + 50 ms = 220 ms');
  t.is(v.met, true);
  t.is(find(figs, 'wan @1,000/s visibility in another region p99').met, null);
  t.is(find(figs, 'wan idle CPU, whole deployment (no clients)').met, null);
  t.is(find(figs, 'wan @1,000/s CPU per acknowledged write, all processes').met, null);
  t.is(find(figs, 'wan visibility floor (worst origin → member → coordinator → reader, + one interval)').measured, 170);
});

test('a read that missed an acknowledged write fails its goal; process exits are counted', (t) => {
  const figs = snapshotFigures(input({ rates: [rate(1000, { missedWrites: 2 })], exits: ['us-east-l1 (SIGKILL)'] }));
  t.is(find(figs, 'local @1,000/s reads that missed an acknowledged write').met, false);
  t.is(find(figs, 'local role process exits during the run').measured, 1);
});

test('rates parse from a list; anything else is a usage error', (t) => {
  t.deepEqual(parseRates('0, 1000,2500'), [0, 1000, 2500]);
  t.throws(() => parseRates('fast'), { message: /--rates/ });
  t.throws(() => parseRates(''), { message: /--rates/ });
});

test('an encoded version of the workload is a few tens of bytes', (t) => {
  const b = lz4VersionBytes({ regions: ['a', 'b'], origin: 'a-d1', keys: 10_000, keyPrefix: 'bench/1/', valueBytes: 32, seed: 1, ratePerS: 5000 }, 2000);
  t.true(b > 5 && b < 60, `${b}`);
});
