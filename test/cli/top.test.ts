import test from 'ava';
import { drawHistogram, formatTopFrame, histogram } from '../../cli/commands/top.js';
import type { ClusterStatus, CommitRow } from '../../cli/cluster-status.js';

test('times are binned in reference/5 steps up to twice the reference, larger ones in one open bin', (t) => {
  const bins = histogram([0, 9.9, 10, 49.9, 50, 99.9, 100, 5000], 50);
  t.is(bins.length, 11);
  t.deepEqual(
    bins.map((b) => b.count),
    [2, 1, 0, 0, 1, 1, 0, 0, 0, 1, 2],
  );
  t.is(bins[10]!.toMs, null);
  t.is(bins[4]!.toMs, 50);
});

test('the drawing marks the reference between the bins below and above it, and scales bars to the fullest bin', (t) => {
  const lines = drawHistogram(histogram([12, 12, 12, 12, 61], 50), { ms: 50, label: 'budget' }).split('\n');
  t.is(lines.length, 12);
  t.regex(lines[5]!, /budget 50 ms/);
  t.regex(lines[4]!, /^ +40–50 ms/);
  t.regex(lines[6]!, /^ +50–60 ms/);
  t.regex(lines[1]!, /█{40} 4$/);
  t.regex(lines[7]!, /│█{10} {31}1$/);
});

test("a frame shows the commits' lag against interval + budget, not round times", (t) => {
  const row = (wallMs: number, lagMs: number): CommitRow => ({
    glt: `${BigInt(wallMs) * 1_000_000n}.0`,
    members: ['a'],
    epoch: '1',
    coordinator: 'c',
    membershipVersion: 1,
    decideMs: 1,
    lagMs,
    sincePreviousMs: null,
  });
  const s: ClusterStatus = {
    name: 'x',
    at: new Date(0).toISOString(),
    coordinator: null,
    coordinators: [],
    regions: [],
    membershipVersion: null,
    excluded: [],
    commits: [row(2000, 55), row(1950, 250)],
    commitStats: { count: 2, intervalMs: 50, budgetMs: 50, perSecond: 20, lastAgeMs: 10, lagP50Ms: 55, lagP99Ms: 250, decideP99Ms: 1 },
  };
  const frame = formatTopFrame(s);
  t.regex(frame, /commit lag \(how far each GLT trailed the coordinator's clock\), last 2 commits/);
  t.regex(frame, /interval \+ budget 100 ms/);
  t.regex(frame, /≥ 200 ms │█{40} 1/);
  t.notRegex(frame, /round/i);
});
