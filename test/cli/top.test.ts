import test from 'ava';
import { drawHistogram, roundHistogram } from '../../cli/commands/top.js';
import { roundStats, type RoundRow } from '../../cli/cluster-status.js';

test('round times are binned in budget/5 steps up to twice the budget, slower ones in one open bin', (t) => {
  const bins = roundHistogram([0, 9.9, 10, 49.9, 50, 99.9, 100, 5000], 50);
  t.is(bins.length, 11);
  t.deepEqual(
    bins.map((b) => b.count),
    [2, 1, 0, 0, 1, 1, 0, 0, 0, 1, 2],
  );
  t.is(bins[10]!.toMs, null);
  t.is(bins[4]!.toMs, 50);
});

test('the drawing marks the budget between the bins below and above it, and scales bars to the fullest bin', (t) => {
  const lines = drawHistogram(roundHistogram([12, 12, 12, 12, 61], 50), 50).split('\n');
  t.is(lines.length, 12);
  t.regex(lines[5]!, /budget 50 ms/);
  t.regex(lines[4]!, /^ +40–50 ms/);
  t.regex(lines[6]!, /^ +50–60 ms/);
  t.regex(lines[1]!, /█{40} 4$/);
  t.regex(lines[7]!, /│█{10} {31}1$/);
});

test('round figures: nearest-rank quantiles, over-budget count and rounds per second from the GLTs', (t) => {
  const row = (wallMs: number, ms: number): RoundRow => ({ glt: `${BigInt(wallMs) * 1_000_000n}.0`, members: ['a'], epoch: '1', coordinator: 'c', beginToReadyMs: ms, sincePreviousMs: null });
  const rounds = [row(2000, 70), row(1500, 30), row(1000, 20)];
  const s = roundStats(rounds, 50);
  t.is(s.p50Ms, 30);
  t.is(s.p99Ms, 70);
  t.is(s.overBudget, 1);
  t.is(s.perSecond, 2);
  t.is(roundStats([], 50).p50Ms, null);
});
