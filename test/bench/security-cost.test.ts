import test from 'ava';
import { securityFigures } from '../../bench/security-cost.js';

const sample = (writesPerS: number, writeP99Ms: number, visibilityP99Ms: number) => ({ writesPerS, writeP99Ms, visibilityP99Ms });

test('every variant is set against insecure and unsynced; only the default at the highest rate is judged', (t) => {
  const results = new Map([
    ['secure, synced', new Map([[1000, sample(1000, 20, 200)], [10000, sample(4000, 400, 900)]])],
    ['insecure, synced', new Map([[1000, sample(1000, 15, 150)], [10000, sample(4500, 300, 700)]])],
    ['insecure, unsynced', new Map([[1000, sample(1000, 10, 100)], [10000, sample(5000, 200, 600)]])],
  ]);
  const figures = securityFigures(results, [1000, 10000]);
  const byName = new Map(figures.map((f) => [f.name, f]));
  const judged = figures.filter((f) => f.met !== null);
  t.deepEqual(judged.map((f) => [f.name, f.measured, f.met]), [['secure, synced @10,000/s writes acknowledged/s ÷ insecure, unsynced', 0.8, true]]);
  t.is(byName.get('insecure, synced @10,000/s write p99 ÷ insecure, unsynced')!.measured, 1.5);
  t.is(byName.get('secure, synced @1,000/s visibility p99 ÷ insecure, unsynced')!.measured, 2);
  t.false(figures.some((f) => f.name.startsWith('insecure, unsynced') && f.unit === 'ratio'), 'the baseline has no ratio to itself');
});

test('a throughput below the goal is a miss; a variant with no visibility reads has no visibility figure', (t) => {
  const results = new Map([
    ['secure, synced', new Map([[5000, sample(3000, 400, Number.NaN)]])],
    ['insecure, unsynced', new Map([[5000, sample(5000, 200, 600)]])],
  ]);
  const figures = securityFigures(results, [5000]);
  t.false(figures.find((f) => f.met !== null)!.met);
  t.true(Number.isNaN(figures.find((f) => f.name === 'secure, synced @5,000/s visibility in another region p99')!.measured));
});
