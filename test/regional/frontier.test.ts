import test from 'ava';
import { Frontier } from '../../regional/frontier.js';
import { glt } from '../../glts/glt.js';

test('waitFor resolves when the frontier reaches the GLT, false after the wait', async (t) => {
  const f = new Frontier();
  const waiting = f.waitFor(glt(10n), 10_000);
  f.advance(glt(5n));
  f.advance(glt(10n));
  t.true(await waiting);
  t.false(await f.waitFor(glt(11n), 1));
  t.true(await f.waitFor(glt(3n), 0));
});

test('the frontier never moves back', (t) => {
  const f = new Frontier(glt(10n));
  f.advance(glt(10n));
  t.throws(() => f.advance(glt(9n)), { name: 'AssertionFailure' });
});

test('close releases waiters', async (t) => {
  const f = new Frontier();
  const w = f.waitFor(glt(1n), 60_000);
  f.close();
  t.false(await w);
});
