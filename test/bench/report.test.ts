import test from 'ava';
import { BEGIN_MARKER, END_MARKER, renderBlock, rewriteReport, type BenchRun } from '../../bench/report.js';

const runs: BenchRun[] = [
  {
    name: 'store',
    command: 'node dist/cli/main.js bench store --json',
    date: '2026-11-21T20:00:00Z',
    durationS: 60,
    status: 'ok',
    figures: [
      { name: 'put_mvcc_vs_raw_ratio', measured: 0.45, unit: 'ratio', goal: '≥ 0.5', met: false },
      { name: 'put_mvcc_per_s', measured: 38554, unit: 'writes/s', goal: null, met: null },
    ],
  },
  { name: 'quantum', command: 'node dist/cli/main.js bench quantum --json', date: '2026-11-21T20:01:00Z', durationS: 1, status: 'failed', error: 'PROCESS: needs root | netns' },
  { name: 'snapshot', command: 'node dist/cli/main.js bench snapshot --json', date: '2026-11-21T20:01:00Z', status: 'skipped', reason: 'not registered' },
];
const existing = '# Benchmarks\n\nIntro paragraph.\n\n## Store (`aetherflow bench store`)\n\nHand-written figures.\n\n## Quantum\n\nMore notes.\n';

test('the block lists every figure beside its goal, failures and skips as rows, and the plots', (t) => {
  const block = renderBlock(runs, '2 × CPU, 24 GiB', [{ title: 'Round time', path: 'plots/round-time.png' }]);
  t.true(block.startsWith(BEGIN_MARKER) && block.endsWith(END_MARKER));
  const rows = block.split('\n').filter((l) => l.startsWith('| ') && !l.startsWith('| figure') && !l.startsWith('| ---'));
  t.is(rows.length, 4);
  t.true(rows[0]!.includes('store: put_mvcc_vs_raw_ratio') && rows[0]!.includes('≥ 0.5') && rows[0]!.includes('**no**'));
  t.true(rows[1]!.includes('38,554 writes/s'));
  t.true(rows[2]!.includes('run failed') && rows[2]!.includes('needs root \\| netns'));
  t.true(rows[3]!.includes('skipped'));
  t.true(block.includes('![Round time](plots/round-time.png)'));
});

test('a rewrite keeps the hand-written sections and replaces only the generated block', (t) => {
  const first = rewriteReport(existing, renderBlock(runs, 'm1', []));
  t.true(first.startsWith('# Benchmarks\n\nIntro paragraph.\n\n' + BEGIN_MARKER));
  t.true(first.includes('## Store (`aetherflow bench store`)\n\nHand-written figures.') && first.includes('## Quantum\n\nMore notes.'));
  t.true(first.indexOf(END_MARKER) < first.indexOf('## Store'));
  const second = rewriteReport(first, renderBlock(runs.slice(0, 1), 'm2', []));
  t.is(second.split(BEGIN_MARKER).length, 2);
  t.false(second.includes('m1'));
  t.true(second.includes('m2'));
  t.is(second.slice(second.indexOf(END_MARKER)), first.slice(first.indexOf(END_MARKER)));
});

test('an empty or missing report gets a title and the block', (t) => {
  const out = rewriteReport('', renderBlock([], 'm', []));
  t.true(out.startsWith('# Benchmarks\n\n' + BEGIN_MARKER));
});

test('a yes/no figure (unit true=1) reads true or false', (t) => {
  const drill: BenchRun = {
    name: 'drill',
    command: 'node dist/cli/main.js chaos drill storm --json',
    date: '2026-12-06T12:00:00Z',
    durationS: 1,
    status: 'ok',
    figures: [
      { name: 'S, D and M held', measured: 1, unit: 'true=1', goal: 'true', met: true },
      { name: 'every region readmitted', measured: 0, unit: 'true=1', goal: 'true', met: false },
    ],
  };
  const rows = renderBlock([drill], 'm', []).split('\n').filter((l) => l.startsWith('| drill'));
  t.regex(rows[0]!, /\| true \| true \| yes \|/);
  t.regex(rows[1]!, /\| true \| false \| \*\*no\*\* \|/);
});
