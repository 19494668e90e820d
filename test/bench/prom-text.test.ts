import test from 'ava';
import { counterDelta, histogramDelta, maxGauge, windowMetrics, type DeploymentScrape } from '../../bench/deployment-metrics.js';
import { bucketsOf, maxOf, parsePromText, sumOf } from '../../bench/prom-text.js';

const coordText = (n: number, fast: number) => `# HELP snapshot_commit_seconds Commit time
# TYPE snapshot_commit_seconds histogram
snapshot_commit_seconds_bucket{le="0.01",phase="total",role="coordinator"} ${fast}
snapshot_commit_seconds_bucket{le="0.02",phase="total",role="coordinator"} ${n}
snapshot_commit_seconds_bucket{le="+Inf",phase="total",role="coordinator"} ${n}
snapshot_commit_seconds_sum{phase="total"} 0.5
snapshot_commit_seconds_count{phase="total"} ${n}
snapshot_commits_total ${n}
eventloop_longest_task_seconds 0.012
`;
const leaderText = (bytes: number, versions: number, task: number) => `replication_shipped_bytes_total{peer="eu-west"} ${bytes}
replication_shipped_bytes_total{peer="ap-south"} ${bytes}
replication_shipped_versions_total{peer="eu-west"} ${versions}
replication_shipped_versions_total{peer="ap-south"} ${versions}
quantum_bytes_total{direction="out"} ${3 * bytes}
quantum_bytes_total{direction="in"} 7
label_escape{a="x\\"y",b="z"} 1
eventloop_longest_task_seconds ${task}
nodejs_eventloop_lag_max_seconds 0.2
`;

test('samples keep their labels, escaped quotes and +Inf bounds', (t) => {
  const s = parsePromText(coordText(10, 4) + leaderText(100, 5, 0.03));
  t.is(sumOf([s], 'replication_shipped_bytes_total'), 200);
  t.is(sumOf([s], 'quantum_bytes_total', { direction: 'out' }), 300);
  t.deepEqual(s.find((x) => x.name === 'label_escape')?.labels, { a: 'x"y', b: 'z' });
  t.deepEqual(bucketsOf([s, s], 'snapshot_commit_seconds', { phase: 'total' }), [
    { le: 0.01, count: 8 },
    { le: 0.02, count: 20 },
    { le: Infinity, count: 20 },
  ]);
  t.is(maxOf(s, 'eventloop_longest_task_seconds'), 0.03);
  t.is(maxOf(s, 'absent'), undefined);
});

function deployment(coord: string | undefined, leader: string | undefined): DeploymentScrape {
  return {
    processes: new Map([
      ['coord-1', { role: 'coordinator' as const, samples: coord === undefined ? undefined : parsePromText(coord) }],
      ['us-east-l1', { role: 'leader' as const, samples: leader === undefined ? undefined : parsePromText(leader) }],
    ]),
  };
}

test('a window is what the counters and histograms gained between two scrapes', (t) => {
  const before = deployment(coordText(10, 4), leaderText(100, 5, 0.001));
  const after = deployment(coordText(30, 20), leaderText(400, 20, 0.08));
  t.is(counterDelta(before, after, 'coordinator', 'snapshot_commits_total'), 20);
  t.deepEqual(histogramDelta(before, after, 'coordinator', 'snapshot_commit_seconds', { phase: 'total' }), [
    { le: 0.01, count: 16 },
    { le: 0.02, count: 20 },
    { le: Infinity, count: 20 },
  ]);
  const w = windowMetrics(before, after);
  t.is(w.shippedBytes, 600);
  t.is(w.shippedVersions, 30);
  t.is(w.quantumOutBytes, 900);
  t.deepEqual(w.longestTask, { value: 0.08, process: 'us-east-l1' });
  t.deepEqual(maxGauge(after, 'nodejs_eventloop_lag_max_seconds'), { value: 0.2, process: 'us-east-l1' });
  t.deepEqual(w.silent, []);
});

test('a process that restarted counts its new value; one that did not answer is left out and named', (t) => {
  const before = deployment(coordText(50, 4), leaderText(100, 5, 0));
  const after = deployment(coordText(7, 7), undefined);
  t.is(counterDelta(before, after, 'coordinator', 'snapshot_commits_total'), 7);
  t.deepEqual(histogramDelta(before, after, 'coordinator', 'snapshot_commit_seconds', { phase: 'total' }).map((b) => b.count), [7, 7, 7]);
  const w = windowMetrics(before, after);
  t.is(w.shippedBytes, 0);
  t.deepEqual(w.silent, ['us-east-l1']);
});
