import test from 'ava';
import { Coordinator, type CoordinatorAction } from '../../kernel/coordinator.js';
import type { Progress } from '../../kernel/messages.js';
import { initialMembership, type MembershipRecord } from '../../kernel/records.js';
import type { Glt } from '../../glts/glt.js';

const BASE = 1_763_751_000_000_000_000n;
const MS = 1_000_000n;
const at = (ms: number): Glt => ({ wall: BASE + BigInt(ms) * MS, logical: 0 });
const REGIONS = ['a', 'b', 'c'];
const LIMITS = { intervalMs: 10, silenceMs: 100, lagLimitMs: 400, maxOffsetMs: 50 };

/** A coordinator whose clock reads `nowMs` ms past BASE, elected at 0 over REGIONS. */
function elected(membership: MembershipRecord = initialMembership(REGIONS)) {
  const clock = { nowMs: 0 };
  const c = new Coordinator({ id: 'c1', regions: REGIONS, ...LIMITS }, () => at(clock.nowMs));
  const out = c.handle({ type: 'elected', nowMs: 0, epoch: 7n, last: undefined, membership });
  return { c, clock, out };
}

function progress(region: string, applied: Record<string, number>, membershipApplied = 1): Progress {
  return { type: 'progress', region, leaderEpoch: 1n, applied: Object.entries(applied).map(([origin, ms]) => ({ origin, ts: at(ms) })), membershipApplied, frontier: at(0) };
}

/** Every region reports holding every origin up to `ms` (its own with its closed mark). */
function reportAll(c: Coordinator, nowMs: number, ms: number, regions = REGIONS): void {
  for (const r of regions) c.handle({ type: 'message', nowMs, msg: progress(r, Object.fromEntries(REGIONS.map((o) => [o, ms]))) });
}

function persists(out: readonly CoordinatorAction[]) {
  return out.filter((a): a is Extract<CoordinatorAction, { type: 'persist' }> => a.type === 'persist');
}

test('commits the minimum applied mark over members, only after the persist, then announces it to every region', (t) => {
  const { c, clock } = elected();
  reportAll(c, 1, 5);
  c.handle({ type: 'message', nowMs: 1, msg: progress('b', { a: 3, b: 9, c: 9 }) });
  clock.nowMs = 10;
  const out = c.handle({ type: 'tick', nowMs: 10 });
  const [p] = persists(out);
  t.deepEqual(p?.commit?.T, at(5), 'b reported more, but a and c hold only up to 5; the greatest report wins');
  t.false(out.some((a) => a.type === 'send'), 'nothing is announced before it is durable');
  const done = c.handle({ type: 'persisted', nowMs: 12, persistId: p!.persistId, outcome: 'ok' });
  const sends = done.filter((a) => a.type === 'send');
  t.deepEqual(sends.map((s) => (s.type === 'send' ? s.to : '')), REGIONS);
  t.true(done.some((a) => a.type === 'committed'));
});

test('one persist in flight: a tick during a persist decides when it ends; nothing above the last commit, nothing new', (t) => {
  const { c, clock } = elected();
  reportAll(c, 1, 5);
  clock.nowMs = 10;
  const [p1] = persists(c.handle({ type: 'tick', nowMs: 10 }));
  reportAll(c, 15, 8);
  t.deepEqual(persists(c.handle({ type: 'tick', nowMs: 20 })), [], 'a tick during a persist waits');
  const [p2] = persists(c.handle({ type: 'persisted', nowMs: 22, persistId: p1!.persistId, outcome: 'ok' }));
  t.deepEqual(p2?.commit?.T, at(8));
  c.handle({ type: 'persisted', nowMs: 23, persistId: p2!.persistId, outcome: 'ok' });
  t.deepEqual(persists(c.handle({ type: 'tick', nowMs: 30 })), [], 'no new watermark, no commit');
});

test('a member silent for silenceMs is excluded at the last committed GLT; never the last member', (t) => {
  const { c, clock } = elected();
  reportAll(c, 1, 5);
  const [p] = persists(c.handle({ type: 'tick', nowMs: 10 }));
  c.handle({ type: 'persisted', nowMs: 11, persistId: p!.persistId, outcome: 'ok' });
  clock.nowMs = 150;
  reportAll(c, 150, 140, ['a', 'b']);
  const [m] = persists(c.handle({ type: 'tick', nowMs: 150 }));
  t.deepEqual(m?.membership?.members, ['a', 'b']);
  t.deepEqual(m?.membership?.excluded, [{ region: 'c', watermark: at(5), hiddenAbove: at(5) }]);
  c.handle({ type: 'persisted', nowMs: 151, persistId: m!.persistId, outcome: 'ok' });
  clock.nowMs = 400;
  reportAll(c, 400, 390, ['a']);
  const [m2] = persists(c.handle({ type: 'tick', nowMs: 400 }));
  t.deepEqual(m2?.membership?.members, ['a']);
  c.handle({ type: 'persisted', nowMs: 401, persistId: m2!.persistId, outcome: 'ok' });
  clock.nowMs = 700;
  const last = persists(c.handle({ type: 'tick', nowMs: 700 }));
  t.true(last.every((x) => !x.membership), 'a is silent too, but the last member stays');
});

test('lagging: the region blamed by most stale pairs is excluded — an origin whose stream stalls, not the regions waiting for it', (t) => {
  const { c, clock } = elected();
  clock.nowMs = 1000;
  for (const r of REGIONS) c.handle({ type: 'message', nowMs: 1000, msg: progress(r, { a: 990, b: 990, c: 100 }) });
  const [m] = persists(c.handle({ type: 'tick', nowMs: 1000 }));
  t.deepEqual(m?.membership?.excluded.map((e) => e.region), ['c']);
});

test('lagging: a region that cannot apply anything is the one excluded', (t) => {
  const { c, clock } = elected();
  clock.nowMs = 1000;
  c.handle({ type: 'message', nowMs: 1000, msg: progress('a', { a: 990, b: 990, c: 990 }) });
  c.handle({ type: 'message', nowMs: 1000, msg: progress('b', { a: 100, b: 990, c: 100 }) });
  c.handle({ type: 'message', nowMs: 1000, msg: progress('c', { a: 990, b: 990, c: 990 }) });
  const [m] = persists(c.handle({ type: 'tick', nowMs: 1000 }));
  t.deepEqual(m?.membership?.excluded.map((e) => e.region), ['b']);
});

test('a member whose closed mark runs ahead of the clock by more than maxOffset is excluded', (t) => {
  const { c, clock } = elected();
  clock.nowMs = 500;
  reportAll(c, 500, 495);
  c.handle({ type: 'message', nowMs: 500, msg: progress('b', { a: 495, b: 600, c: 495 }) });
  const [m] = persists(c.handle({ type: 'tick', nowMs: 500 }));
  t.deepEqual(m?.membership?.excluded.map((e) => e.region), ['b']);
});

test('readmission waits until every member holds the excluded region recently and past its hidden bound, then re-stamps above the floor', (t) => {
  const m0 = initialMembership(REGIONS);
  const excluded: MembershipRecord = { version: 2, members: ['a', 'b'], excluded: [{ region: 'c', watermark: at(100), hiddenAbove: at(100) }], restamps: [] };
  const { c, clock } = elected({ ...excluded, version: m0.version + 1 });
  clock.nowMs = 1000;
  // c caught up, but its backlog has not crossed to b yet (b holds it up to 150 only): not yet.
  c.handle({ type: 'message', nowMs: 1000, msg: progress('a', { a: 995, b: 995, c: 990 }) });
  c.handle({ type: 'message', nowMs: 1000, msg: progress('b', { a: 995, b: 995, c: 150 }) });
  c.handle({ type: 'message', nowMs: 1000, msg: progress('c', { a: 990, b: 990, c: 995 }) });
  const [first] = persists(c.handle({ type: 'tick', nowMs: 1000 }));
  t.truthy(first?.commit, 'a commit, not a readmission');
  c.handle({ type: 'persisted', nowMs: 1001, persistId: first!.persistId, outcome: 'ok' });
  c.handle({ type: 'message', nowMs: 1005, msg: progress('b', { a: 995, b: 995, c: 985 }) });
  clock.nowMs = 1010;
  const [r] = persists(c.handle({ type: 'tick', nowMs: 1010 }));
  t.deepEqual(r?.membership?.members, ['a', 'b', 'c']);
  const rule = r?.membership?.restamps[0];
  // Members hold c up to 985 only, below the floor: re-stamping reaches just past the floor.
  const floor = first!.commit!.T;
  t.deepEqual(rule && { region: rule.region, above: rule.above, floor: rule.floor, upTo: rule.upTo }, { region: 'c', above: at(100), floor, upTo: { wall: floor.wall + 1n, logical: 0 } });
});

test('a persist of unknown outcome resigns; a fenced one steps down; a deposed coordinator ignores everything', (t) => {
  const { c } = elected();
  reportAll(c, 1, 5);
  const [p] = persists(c.handle({ type: 'tick', nowMs: 10 }));
  const out = c.handle({ type: 'persisted', nowMs: 11, persistId: p!.persistId, outcome: 'failed' });
  t.true(out.some((a) => a.type === 'resign'));
  t.is(c.currentState, 'follower');
  const again = elected();
  reportAll(again.c, 1, 5);
  const [p2] = persists(again.c.handle({ type: 'tick', nowMs: 10 }));
  again.c.handle({ type: 'persisted', nowMs: 11, persistId: p2!.persistId, outcome: 'fenced' });
  t.is(again.c.currentState, 'follower');
  reportAll(again.c, 20, 15);
  t.deepEqual(again.c.handle({ type: 'tick', nowMs: 30 }), []);
});
