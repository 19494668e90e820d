import test from 'ava';
import { COMMITS_TO_HALVE, Coordinator, HEARD_MISS_FACTOR, MAX_SLOW_DOUBLINGS, READMITTED_GRACE_ROUNDS, type CoordinatorAction } from '../../kernel/coordinator.js';
import type { Begin, Message } from '../../kernel/messages.js';
import { initialMembership, type CommitRecord, type MembershipRecord } from '../../kernel/records.js';
import { compareGlt, type Glt } from '../../glts/glt.js';

const g = (wall: bigint, logical = 0): Glt => ({ wall, logical });
const CONFIG = { id: 'c1', intervalMs: 50, budgetMs: 40, missThreshold: 2, silenceMs: 80 };

/** A GLTS whose reading the test sets. */
function glts(start: bigint) {
  let now = start;
  return { set: (w: bigint) => (now = w), source: { now: () => ({ earliest: g(now - 10n), latest: g(now + 10n) }) } };
}

const sends = (as: CoordinatorAction[], type?: Message['type']) =>
  as.flatMap((a) => (a.type === 'send' && (!type || a.msg.type === type) ? [a] : []));
const persists = (as: CoordinatorAction[]) => as.flatMap((a) => (a.type === 'persist' ? [a] : []));
/** When the coordinator asks to be woken next (a round's deadline while one runs): budgets stretch when rounds run out of them. */
const wakeAt = (as: CoordinatorAction[]) => as.flatMap((a) => (a.type === 'wakeAt' ? [a.atMs] : [])).at(-1)!;

/** Ends the running round at its deadline and begins the next (at once when its interval has passed): the actions that began it, and when. */
function nextRound(c: Coordinator, deadlineMs: number): { as: CoordinatorAction[]; atMs: number } {
  const ended = c.handle({ type: 'tick', nowMs: deadlineMs });
  if (sends(ended, 'begin').length > 0) return { as: ended, atMs: deadlineMs };
  const atMs = wakeAt(ended);
  return { as: c.handle({ type: 'tick', nowMs: atMs }), atMs };
}

function elected(c: Coordinator, membership: MembershipRecord = initialMembership(['a', 'b']), last?: CommitRecord, epoch = 5n) {
  return c.handle({ type: 'elected', nowMs: 0, epoch, last, membership });
}

function ready(c: Coordinator, b: Begin, region: string, nowMs: number) {
  return c.handle({ type: 'message', nowMs, msg: { type: 'ready', epoch: b.epoch, roundId: b.roundId, T: b.T, region, frontier: b.prev.T, collectMs: 2, exchangeMs: 3 } });
}

test('a follower does nothing; once elected it begins a round at the latest bound of GLTS.now()', (t) => {
  const clock = glts(1000n);
  const c = new Coordinator(CONFIG, clock.source);
  t.deepEqual(c.handle({ type: 'tick', nowMs: 0 }), []);
  const as = elected(c);
  const begins = sends(as, 'begin');
  t.deepEqual(begins.map((s) => s.to), ['a', 'b']);
  const b = begins[0]!.msg as Begin;
  t.deepEqual(b.T, g(1010n));
  t.is(b.epoch, 5n);
  t.deepEqual(b.prev.T, g(0n));
  t.is(c.currentState, 'collecting');
  t.true(as.some((a) => a.type === 'wakeAt' && a.atMs === 40));
});

test('persist before announce: Commit goes out only after the commit record is durable', (t) => {
  const c = new Coordinator(CONFIG, glts(1000n).source);
  const b = sends(elected(c), 'begin')[0]!.msg as Begin;
  t.is(persists(ready(c, b, 'a', 3)).length, 0);
  const as = ready(c, b, 'b', 7);
  t.is(sends(as).length, 0, 'nothing announced yet');
  const p = persists(as)[0]!;
  t.is(p.epoch, 5n);
  t.deepEqual(p.commit?.T, b.T);
  t.deepEqual(p.commit?.members, ['a', 'b']);
  t.like(p.commit, { beginToReadyMs: 7, collectMs: 2, exchangeMs: 3 }, 'the phases of the region whose Ready came last');
  t.is(c.currentState, 'committing');
  const done = c.handle({ type: 'persisted', nowMs: 9, persistId: p.persistId, outcome: 'ok' });
  t.deepEqual(sends(done, 'commit').map((s) => s.to), ['a', 'b']);
  const round = done.find((a) => a.type === 'round');
  t.like(round, { outcome: 'committed', timings: { beginToReadyMs: 7, persistMs: 2, totalMs: 9 } });
  t.deepEqual(c.lastCommitted?.T, b.T);
  t.is(c.currentState, 'idle');
});

test('Ready of another epoch or round is ignored', (t) => {
  const c = new Coordinator(CONFIG, glts(1000n).source);
  const b = sends(elected(c), 'begin')[0]!.msg as Begin;
  c.handle({ type: 'message', nowMs: 1, msg: { type: 'ready', epoch: 4n, roundId: b.roundId, T: b.T, region: 'a', frontier: g(0n), collectMs: 0, exchangeMs: 0 } });
  c.handle({ type: 'message', nowMs: 1, msg: { type: 'ready', epoch: 5n, roundId: b.roundId + 1, T: b.T, region: 'a', frontier: g(0n), collectMs: 0, exchangeMs: 0 } });
  const as = ready(c, b, 'b', 2);
  t.is(persists(as).length, 0);
  t.is(c.currentState, 'collecting');
});

test('a fenced persist makes it step down without announcing; an unknown outcome makes it resign', (t) => {
  for (const outcome of ['fenced', 'failed'] as const) {
    const c = new Coordinator(CONFIG, glts(1000n).source);
    const b = sends(elected(c), 'begin')[0]!.msg as Begin;
    ready(c, b, 'a', 1);
    const p = persists(ready(c, b, 'b', 2))[0]!;
    const as = c.handle({ type: 'persisted', nowMs: 3, persistId: p.persistId, outcome });
    t.is(sends(as).length, 0);
    t.is(c.currentState, 'follower');
    t.is(as.some((a) => a.type === 'resign'), outcome === 'failed');
    t.deepEqual(c.handle({ type: 'tick', nowMs: 100 }), []);
  }
});

test('out of budget: Abort; a member blamed missThreshold rounds in a row is excluded (persisted first) and rounds go on without it', (t) => {
  const clock = glts(1000n);
  const c = new Coordinator(CONFIG, clock.source);
  let b = sends(elected(c, initialMembership(['a', 'b', 'c'])), 'begin')[0]!.msg as Begin;
  // a and b report; both miss c's delta; c is silent.
  const waiting = (r: string) => c.handle({ type: 'message', nowMs: 5, msg: { type: 'waiting', epoch: b.epoch, roundId: b.roundId, T: b.T, region: r, missing: ['c'], caughtUp: true } });
  waiting('a');
  waiting('b');
  let as = c.handle({ type: 'tick', nowMs: 40 });
  t.deepEqual(sends(as, 'abort').map((s) => s.to), ['a', 'b', 'c']);
  t.like(as.find((a) => a.type === 'round'), { outcome: 'aborted', blamed: ['c'] });
  t.is(persists(as).length, 0, 'one miss is below the threshold');
  clock.set(2000n);
  as = c.handle({ type: 'tick', nowMs: 50 });
  b = sends(as, 'begin')[0]!.msg as Begin;
  t.true(compareGlt(b.T, g(1010n)) > 0);
  waiting('a');
  as = c.handle({ type: 'tick', nowMs: 90 });
  const p = persists(as)[0]!;
  t.deepEqual(p.membership?.members, ['a', 'b']);
  t.deepEqual(p.membership?.excluded, [{ region: 'c', watermark: g(0n) }]);
  t.is(p.commit, undefined);
  t.is(c.currentState, 'excluding');
  t.is(sends(c.handle({ type: 'tick', nowMs: 100 }), 'begin').length, 0, 'no round until the membership is durable');
  as = c.handle({ type: 'persisted', nowMs: 101, persistId: p.persistId, outcome: 'ok' });
  t.deepEqual(sends(as, 'begin').map((s) => s.to), ['a', 'b']);
});

test('a blamed member heard from within silenceMs is slow, not gone: excluded only after HEARD_MISS_FACTOR × missThreshold misses', (t) => {
  const c = new Coordinator(CONFIG, glts(1000n).source);
  let b = sends(elected(c, initialMembership(['a', 'b'])), 'begin')[0]!.msg as Begin;
  let nowMs = 0;
  const excludedAfter: number[] = [];
  for (let round = 1; round <= HEARD_MISS_FACTOR * CONFIG.missThreshold; round++) {
    ready(c, b, 'a', nowMs + 1);
    const late = b;
    nowMs += 40;
    const as = c.handle({ type: 'tick', nowMs });
    if (persists(as).length > 0) {
      excludedAfter.push(round);
      break;
    }
    // b's Ready of the aborted round arrives late: b is alive.
    ready(c, late, 'b', nowMs + 5);
    nowMs += 10;
    b = sends(c.handle({ type: 'tick', nowMs }), 'begin')[0]!.msg as Begin;
  }
  t.deepEqual(excludedAfter, [HEARD_MISS_FACTOR * CONFIG.missThreshold]);
  t.deepEqual(c.currentState, 'excluding');
});

test('when blame moves from member to member (a saturated machine), one blamed HEARD_MISS_FACTOR × missThreshold times since the last commit is excluded', (t) => {
  const c = new Coordinator(CONFIG, glts(1000n).source);
  let began = elected(c, initialMembership(['a', 'b', 'c']));
  let b = sends(began, 'begin')[0]!.msg as Begin;
  let nowMs = 0;
  const waiting = (region: string, missing: string[]) => c.handle({ type: 'message', nowMs: nowMs + 1, msg: { type: 'waiting', epoch: b.epoch, roundId: b.roundId, T: b.T, region, missing, caughtUp: true } });
  for (let round = 1; round <= 4 * HEARD_MISS_FACTOR * CONFIG.missThreshold; round++) {
    const target = round % 2 === 1 ? 'b' : 'c';
    for (const x of ['a', 'b', 'c']) waiting(x, x === target ? [] : [target]);
    // Everyone reported: slow, so the rounds' budgets stretch; run each to its deadline.
    nowMs = wakeAt(began);
    const as = c.handle({ type: 'tick', nowMs });
    t.like(as.find((a) => a.type === 'round'), { blamed: [target] });
    const p = persists(as)[0];
    if (p) {
      t.is(round, 2 * HEARD_MISS_FACTOR * CONFIG.missThreshold - 1, 'b, blamed every other round, at its tenth blame');
      t.deepEqual(p.membership?.members, ['a', 'c']);
      return;
    }
    nowMs += 10;
    began = c.handle({ type: 'tick', nowMs: Math.max(nowMs, wakeAt(as)) });
    b = sends(began, 'begin')[0]!.msg as Begin;
  }
  t.fail('no one was excluded');
});

/**
 * Runs `rounds` rounds that run out of their budget, from the actions that began the first
 * at `atMs`: a is Ready in each, b is never, and `heard(round)` says whether b's packets
 * arrive during it. Returns each round's budget and where the next round begins.
 */
function abortingRounds(c: Coordinator, start: { as: CoordinatorAction[]; atMs: number }, rounds: number, heard: (round: number) => boolean) {
  let { as, atMs } = start;
  const budgets: number[] = [];
  for (let round = 0; round < rounds; round++) {
    const b = sends(as, 'begin')[0]!.msg as Begin;
    budgets.push(wakeAt(as) - atMs);
    ready(c, b, 'a', atMs + 1);
    if (heard(round)) c.handle({ type: 'heard', nowMs: atMs + 2, region: 'b' });
    ({ as, atMs } = nextRound(c, wakeAt(as)));
  }
  return { budgets, as, atMs };
}

const B = CONFIG.budgetMs;

test('rounds that run out of budget with every member heard during them get twice the budget, up to MAX_SLOW_DOUBLINGS; COMMITS_TO_HALVE commits halve it', (t) => {
  const c = new Coordinator({ ...CONFIG, missThreshold: 1000, silenceMs: 100 * B }, glts(1000n).source);
  const slow = abortingRounds(c, { as: elected(c, initialMembership(['a', 'b'])), atMs: 0 }, MAX_SLOW_DOUBLINGS + 2, () => true);
  t.deepEqual(slow.budgets, [B, 2 * B, 4 * B, 8 * B, 16 * B, 16 * B]);
  // Commits: every COMMITS_TO_HALVE of them in a row halve the budget.
  let { as, atMs: nowMs } = slow;
  const after: number[] = [];
  for (let round = 0; round < 2 * COMMITS_TO_HALVE; round++) {
    const b = sends(as, 'begin')[0]!.msg as Begin;
    after.push(wakeAt(as) - nowMs);
    ready(c, b, 'a', nowMs + 1);
    const p = persists(ready(c, b, 'b', nowMs + 2))[0]!;
    c.handle({ type: 'persisted', nowMs: nowMs + 3, persistId: p.persistId, outcome: 'ok' });
    nowMs += CONFIG.intervalMs;
    as = c.handle({ type: 'tick', nowMs });
  }
  t.deepEqual(after, [...Array<number>(COMMITS_TO_HALVE).fill(16 * B), ...Array<number>(COMMITS_TO_HALVE).fill(8 * B)]);
});

test('a stretched budget never passes silenceMs', (t) => {
  const c = new Coordinator({ ...CONFIG, missThreshold: 1000, silenceMs: 5 * B }, glts(1000n).source);
  t.deepEqual(abortingRounds(c, { as: elected(c, initialMembership(['a', 'b'])), atMs: 0 }, 5, () => true).budgets, [B, 2 * B, 4 * B, 4 * B, 4 * B]);
});

test('a round that ends with a member not heard during it (crashed, cut off) brings the budget back to budgetMs', (t) => {
  const c = new Coordinator({ ...CONFIG, missThreshold: 1000, silenceMs: 100 * B }, glts(1000n).source);
  const { budgets } = abortingRounds(c, { as: elected(c, initialMembership(['a', 'b'])), atMs: 0 }, 6, (round) => round !== 2);
  t.deepEqual(budgets, [B, 2 * B, 4 * B, B, 2 * B, 4 * B]);
  // A 'heard' event changes nothing else: no action, no round.
  t.deepEqual(c.handle({ type: 'heard', nowMs: 10_000, region: 'b' }), []);
});

test('a blamed member silent for silenceMs is excluded after missThreshold misses, counted from the election', (t) => {
  const c = new Coordinator(CONFIG, glts(1000n).source);
  let b = sends(elected(c, initialMembership(['a', 'b'])), 'begin')[0]!.msg as Begin;
  ready(c, b, 'a', 1);
  t.is(persists(c.handle({ type: 'tick', nowMs: 40 })).length, 0);
  b = sends(c.handle({ type: 'tick', nowMs: 50 }), 'begin')[0]!.msg as Begin;
  ready(c, b, 'a', 51);
  // Two misses, but b was "heard" at the election 90 ms ago; silenceMs is 80.
  t.like(persists(c.handle({ type: 'tick', nowMs: 90 }))[0], { membership: { members: ['a'], excluded: [{ region: 'b' }] } });
});

test('when nobody reports, nobody is blamed (the coordinator is the one cut off)', (t) => {
  const c = new Coordinator({ ...CONFIG, missThreshold: 1 }, glts(1000n).source);
  elected(c);
  const as = c.handle({ type: 'tick', nowMs: 40 });
  t.like(as.find((a) => a.type === 'round'), { outcome: 'aborted', blamed: [] });
  t.is(persists(as).length, 0);
});

test('an excluded region that asks to rejoin takes part in the next round with its watermark; its commit readmits it atomically', (t) => {
  const c = new Coordinator(CONFIG, glts(1000n).source);
  const membership: MembershipRecord = { version: 3, members: ['a'], excluded: [{ region: 'b', watermark: g(500n) }] };
  const last: CommitRecord = { T: g(900n), prevT: g(800n), epoch: 4n, roundId: 9, members: ['a'], beginToReadyMs: 1, collectMs: 0, exchangeMs: 0, coordinator: 'c0' };
  let b = sends(elected(c, membership, last), 'begin')[0]!.msg as Begin;
  t.deepEqual(b.members, ['a']);
  c.handle({ type: 'message', nowMs: 1, msg: { type: 'join', region: 'b', frontier: g(400n) } });
  const p0 = persists(ready(c, b, 'a', 2))[0]!;
  c.handle({ type: 'persisted', nowMs: 3, persistId: p0.persistId, outcome: 'ok' });
  b = sends(c.handle({ type: 'tick', nowMs: 50 }), 'begin')[0]!.msg as Begin;
  t.deepEqual(b.members, ['a', 'b']);
  t.deepEqual(b.joining, [{ region: 'b', watermark: g(500n) }]);
  ready(c, b, 'a', 51);
  const p = persists(ready(c, b, 'b', 52))[0]!;
  t.deepEqual(p.commit?.members, ['a', 'b']);
  t.deepEqual(p.membership, { version: 4, members: ['a', 'b'], excluded: [] });
  const as = c.handle({ type: 'persisted', nowMs: 53, persistId: p.persistId, outcome: 'ok' });
  t.like(as.find((a) => a.type === 'membership'), { readmitted: ['b'] });
});

test('a member that is unable (its collect failed) ends the round at once; a joiner unable does not double its budget; a member unable missThreshold times is excluded', (t) => {
  const c = new Coordinator({ ...CONFIG, joinBudgetMs: 1000 }, glts(1000n).source);
  const membership: MembershipRecord = { version: 3, members: ['a', 'b'], excluded: [{ region: 'j', watermark: g(500n) }] };
  let b = sends(elected(c, membership), 'begin')[0]!.msg as Begin;
  c.handle({ type: 'message', nowMs: 1, msg: { type: 'join', region: 'j', frontier: g(400n) } });
  ready(c, b, 'a', 2);
  c.handle({ type: 'persisted', nowMs: 4, persistId: persists(ready(c, b, 'b', 3))[0]!.persistId, outcome: 'ok' });
  const unable = (region: string, nowMs: number) => c.handle({ type: 'message', nowMs, msg: { type: 'unable', epoch: b.epoch, roundId: b.roundId, T: b.T, region, code: 'UNAVAILABLE' } });
  const joinRound = () => {
    b = sends(c.handle({ type: 'tick', nowMs }), 'begin')[0]!.msg as Begin;
    t.deepEqual(b.joining.map((x) => x.region), ['j']);
    const as = unable('j', nowMs + 5);
    t.like(as.find((a) => a.type === 'round'), { outcome: 'aborted', blamed: ['j'], timings: { totalMs: 5 } });
    t.is(persists(as).length, 0);
    c.handle({ type: 'message', nowMs: nowMs + 6, msg: { type: 'join', region: 'j', frontier: g(400n) } });
    nowMs += 50;
  };
  let nowMs = 50;
  joinRound();
  joinRound();
  const third = c.handle({ type: 'tick', nowMs });
  b = sends(third, 'begin')[0]!.msg as Begin;
  t.is(third.flatMap((a) => (a.type === 'wakeAt' ? [a.atMs] : []))[0], nowMs + 1000, 'the join budget did not double');
  // a is heard from (its Ready) yet unable twice: excluded.
  c.handle({ type: 'message', nowMs: nowMs + 1, msg: { type: 'waiting', epoch: b.epoch, roundId: b.roundId, T: b.T, region: 'b', missing: ['a'], caughtUp: true } });
  t.is(persists(unable('a', nowMs + 2)).length, 0);
  nowMs += 50;
  b = sends(c.handle({ type: 'tick', nowMs }), 'begin')[0]!.msg as Begin;
  ready(c, b, 'a', nowMs + 1);
  t.like(persists(unable('a', nowMs + 2))[0], { membership: { members: ['b'], excluded: [{ region: 'j' }, { region: 'a' }] } });
});

test('M across failover: a new coordinator picks T strictly above the last commit it reads, even with a clock behind', (t) => {
  const c = new Coordinator(CONFIG, glts(100n).source);
  const last: CommitRecord = { T: g(5000n, 3), prevT: g(4000n), epoch: 4n, roundId: 9, members: ['a', 'b'], beginToReadyMs: 1, collectMs: 0, exchangeMs: 0, coordinator: 'c0' };
  const b = sends(elected(c, initialMembership(['a', 'b']), last, 6n), 'begin')[0]!.msg as Begin;
  t.deepEqual(b.T, g(5000n, 4));
  t.deepEqual(b.prev, { T: g(5000n, 3), prevT: g(4000n), members: ['a', 'b'] });
  t.is(b.epoch, 6n);
});

test('a readmitting round that runs out of its budget gets twice the budget at the next attempt, up to a bound', (t) => {
  const c = new Coordinator({ ...CONFIG, joinBudgetMs: 100 }, glts(1000n).source);
  const membership: MembershipRecord = { version: 3, members: ['a'], excluded: [{ region: 'b', watermark: g(500n) }] };
  const last: CommitRecord = { T: g(900n), prevT: g(800n), epoch: 4n, roundId: 9, members: ['a'], beginToReadyMs: 1, collectMs: 0, exchangeMs: 0, coordinator: 'c0' };
  let b = sends(elected(c, membership, last), 'begin')[0]!.msg as Begin;
  let nowMs = 0;
  const budgets: number[] = [];
  for (let attempt = 0; attempt < 10; attempt++) {
    c.handle({ type: 'message', nowMs, msg: { type: 'join', region: 'b', frontier: g(400n) } });
    // The round without b commits; the next one readmits b, which never gets Ready.
    const p = persists(ready(c, b, 'a', nowMs + 1))[0]!;
    c.handle({ type: 'persisted', nowMs: nowMs + 2, persistId: p.persistId, outcome: 'ok' });
    nowMs += 50;
    const as = c.handle({ type: 'tick', nowMs });
    b = sends(as, 'begin')[0]!.msg as Begin;
    t.deepEqual(b.joining.map((j) => j.region), ['b']);
    // Once every member but the joiner reported, the round waits for the join budget.
    const wake = ready(c, b, 'a', nowMs + 1).find((a) => a.type === 'wakeAt');
    budgets.push(wake && wake.type === 'wakeAt' ? wake.atMs - nowMs : Number.NaN);
    nowMs += budgets[budgets.length - 1]!;
    const next = c.handle({ type: 'tick', nowMs });
    t.truthy(next.find((a) => a.type === 'round' && a.outcome === 'aborted'));
    nowMs += 50;
    b = sends(c.handle({ type: 'tick', nowMs }), 'begin')[0]!.msg as Begin;
  }
  t.deepEqual(budgets, [100, 200, 400, 800, 1600, 3200, 6400, 12800, 16000, 16000]);
});

test('a readmitting round that runs out of its budget for another member\'s sake does not double the joiner\'s budget', (t) => {
  const c = new Coordinator({ ...CONFIG, joinBudgetMs: 100 }, glts(1000n).source);
  const membership: MembershipRecord = { version: 3, members: ['a', 'c'], excluded: [{ region: 'b', watermark: g(500n) }] };
  let b = sends(elected(c, membership), 'begin')[0]!.msg as Begin;
  let nowMs = 0;
  const budgets: number[] = [];
  const waiting = (region: string, missing: string[], at: number) => c.handle({ type: 'message', nowMs: at, msg: { type: 'waiting', epoch: b.epoch, roundId: b.roundId, T: b.T, region, missing, caughtUp: true } });
  for (let attempt = 0; attempt < 3; attempt++) {
    c.handle({ type: 'message', nowMs, msg: { type: 'join', region: 'b', frontier: g(400n) } });
    ready(c, b, 'a', nowMs + 1);
    c.handle({ type: 'persisted', nowMs: nowMs + 3, persistId: persists(ready(c, b, 'c', nowMs + 2))[0]!.persistId, outcome: 'ok' });
    nowMs += 50;
    b = sends(c.handle({ type: 'tick', nowMs }), 'begin')[0]!.msg as Begin;
    // a and the joiner b both lack c's delta: c is blamed, not b.
    waiting('a', ['c'], nowMs + 1);
    waiting('c', [], nowMs + 1);
    const wake = waiting('b', ['c'], nowMs + 1).find((a) => a.type === 'wakeAt');
    budgets.push(wake && wake.type === 'wakeAt' ? wake.atMs - nowMs : Number.NaN);
    nowMs += budgets[budgets.length - 1]!;
    t.like(c.handle({ type: 'tick', nowMs }).find((a) => a.type === 'round'), { outcome: 'aborted', blamed: ['c'] });
    nowMs += 50;
    b = sends(c.handle({ type: 'tick', nowMs }), 'begin')[0]!.msg as Begin;
  }
  t.deepEqual(budgets, [100, 100, 100]);
});

test('a member silent in a readmitting round whose join budget doubled aborts it after the first join budget, and the budget does not double for it', (t) => {
  const c = new Coordinator({ ...CONFIG, joinBudgetMs: 100 }, glts(1000n).source);
  const membership: MembershipRecord = { version: 3, members: ['a', 'b'], excluded: [{ region: 'j', watermark: g(500n) }] };
  const last: CommitRecord = { T: g(900n), prevT: g(800n), epoch: 4n, roundId: 9, members: ['a', 'b'], beginToReadyMs: 1, collectMs: 0, exchangeMs: 0, coordinator: 'c0' };
  const join = (nowMs: number) => c.handle({ type: 'message', nowMs, msg: { type: 'join', region: 'j', frontier: g(400n) } });
  const commitPlain = (b: Begin, nowMs: number) => {
    ready(c, b, 'a', nowMs);
    const p = persists(ready(c, b, 'b', nowMs + 1))[0]!;
    c.handle({ type: 'persisted', nowMs: nowMs + 2, persistId: p.persistId, outcome: 'ok' });
  };
  commitPlain(sends(elected(c, membership, last), 'begin')[0]!.msg as Begin, 1);
  join(4);
  // First attempt: j never gets Ready; the round runs out of its 100 ms join budget.
  const b1 = sends(c.handle({ type: 'tick', nowMs: 50 }), 'begin')[0]!.msg as Begin;
  t.deepEqual(b1.joining.map((x) => x.region), ['j']);
  ready(c, b1, 'a', 51);
  ready(c, b1, 'b', 52);
  join(149);
  const out = c.handle({ type: 'tick', nowMs: 150 });
  t.like(out.find((a) => a.type === 'round'), { outcome: 'aborted', roundId: b1.roundId });
  const b2 = sends(out, 'begin')[0]!.msg as Begin;
  t.deepEqual(b2.joining.map((x) => x.region), ['j']);
  t.true(out.some((a) => a.type === 'wakeAt' && a.atMs === 150 + 100), 'members must report within the first join budget, not the doubled one');
  // a reports; b is silent (it failed): the round ends at 100 ms, not after 200.
  c.handle({ type: 'message', nowMs: 160, msg: { type: 'waiting', epoch: b2.epoch, roundId: b2.roundId, T: b2.T, region: 'a', missing: ['j'], caughtUp: true } });
  t.false(c.handle({ type: 'tick', nowMs: 249 }).some((a) => a.type === 'round'));
  const ended = c.handle({ type: 'tick', nowMs: 250 });
  t.like(ended.find((a) => a.type === 'round'), { outcome: 'aborted', blamed: ['b', 'j'] });
  commitPlain(sends(ended, 'begin')[0]!.msg as Begin, 251);
  join(254);
  // j's next readmitting round has the doubled budget of before, not twice it.
  const b4 = sends(c.handle({ type: 'tick', nowMs: 300 }), 'begin')[0]!.msg as Begin;
  t.deepEqual(b4.joining.map((x) => x.region), ['j']);
  ready(c, b4, 'a', 301);
  t.like(ready(c, b4, 'b', 302).find((a) => a.type === 'wakeAt'), { atMs: 300 + 200 });
});

test('a region just readmitted may miss rounds while it ships its backlog: its misses count only after READMITTED_GRACE_ROUNDS or a commit', (t) => {
  const c = new Coordinator({ ...CONFIG, joinBudgetMs: 100 }, glts(1000n).source);
  const membership: MembershipRecord = { version: 3, members: ['a'], excluded: [{ region: 'j', watermark: g(500n) }] };
  let b = sends(elected(c, membership), 'begin')[0]!.msg as Begin;
  c.handle({ type: 'message', nowMs: 1, msg: { type: 'join', region: 'j', frontier: g(400n) } });
  let nowMs = 2;
  const commit = (members: string[]) => {
    let p;
    for (const m of members) p = persists(ready(c, b, m, nowMs++))[0];
    c.handle({ type: 'persisted', nowMs: nowMs++, persistId: p!.persistId, outcome: 'ok' });
  };
  const next = () => {
    nowMs += 50;
    b = sends(c.handle({ type: 'tick', nowMs }), 'begin')[0]!.msg as Begin;
  };
  commit(['a']);
  next();
  t.deepEqual(b.joining.map((x) => x.region), ['j']);
  commit(['a', 'j']);
  t.deepEqual(c.currentMembership?.members, ['a', 'j']);
  // j is readmitted; it is late in every round after (a is Ready, j silent).
  const lateRound = () => {
    next();
    ready(c, b, 'a', nowMs + 1);
    nowMs += 40;
    return c.handle({ type: 'tick', nowMs });
  };
  for (let i = 0; i < READMITTED_GRACE_ROUNDS; i++) t.false(lateRound().some((a) => a.type === 'persist'), `no exclusion in grace round ${i + 1}`);
  t.false(lateRound().some((a) => a.type === 'persist'), 'the first miss that counts');
  t.like(persists(lateRound())[0], { membership: { members: ['a'], excluded: [{ region: 'j' }] } });
});
