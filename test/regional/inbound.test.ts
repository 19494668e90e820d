import test from 'ava';
import { EMPTY_BATCH, encodeDelta, frameDelta } from '../../datanode/delta.js';
import { GLT_ZERO, type Glt } from '../../glts/glt.js';
import type { Ship } from '../../kernel/messages.js';
import { Inbound } from '../../regional/inbound.js';

const g = (wall: number): Glt => ({ wall: BigInt(wall), logical: 0 });
const ship = (from: number, to: number, count = 1, region = 'a'): Ship => ({
  type: 'ship',
  origin: 'a',
  region,
  from: g(from),
  to: g(to),
  horizon: GLT_ZERO,
  delta: count === 0 ? frameDelta(EMPTY_BATCH) : encodeDelta([{ key: Buffer.from('k'), value: Buffer.from('v'), ts: g(to), origin: 'a-d1' }]),
  count,
});

test('Ships continuing what is held queue; an overlap is fine; a gap and a duplicate are answered, not queued', (t) => {
  const i = new Inbound(new Map([['a', g(10)]]), { queueBytes: 1 << 20, applyBytes: 1 << 20 });
  t.is(i.offer(ship(10, 20)).kind, 'queued');
  t.is(i.offer(ship(15, 30)).kind, 'queued');
  t.deepEqual(i.offer(ship(40, 50)), { kind: 'gap', expected: g(30) });
  t.deepEqual(i.offer(ship(0, 10)), { kind: 'duplicate', applied: g(10) });
  const plan = i.plan();
  t.deepEqual(plan.batches.map((b) => [b.region, b.to, b.deltas.length]), [['a', g(30), 2]]);
  i.onApplied(plan);
  t.deepEqual(i.applied('a'), g(30));
});

test('a mark-only Ship continuing what is held advances the position at once, with no store job', (t) => {
  const i = new Inbound(new Map([['a', g(10)]]), { queueBytes: 1 << 20, applyBytes: 1 << 20 });
  t.is(i.offer(ship(10, 20, 0)).kind, 'advanced');
  t.deepEqual(i.applied('a'), g(20));
  t.false(i.hasQueued());
  t.is(i.offer(ship(20, 30)).kind, 'queued');
  t.is(i.offer(ship(30, 40, 0)).kind, 'queued', 'behind a queued Ship it waits its turn');
});

test('bounded: past queueBytes a Ship is dropped; an apply takes about applyBytes, at least one Ship', (t) => {
  const one = ship(10, 20).delta.length;
  const i = new Inbound(new Map([['a', g(10)]]), { queueBytes: 2 * one, applyBytes: one });
  t.is(i.offer(ship(10, 20)).kind, 'queued');
  t.is(i.offer(ship(20, 30)).kind, 'queued');
  t.is(i.offer(ship(30, 40)).kind, 'full');
  t.is(i.plan().batches[0]!.deltas.length, 1);
});
