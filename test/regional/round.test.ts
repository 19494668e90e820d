import test from 'ava';
import { AetherError } from '../../common/errors.js';
import { GLT_ZERO, type Glt } from '../../glts/glt.js';
import type { Version } from '../../datanode/version.js';
import { COORDINATOR, type Begin, type Message } from '../../kernel/messages.js';
import { LeaderRound, type JobResult, type LeaderAction, type LeaderJob } from '../../regional/round.js';

const g = (wall: bigint, logical = 0): Glt => ({ wall, logical });
const v = (key: string, wall: bigint, origin: string): Version => ({ key: Buffer.from(key), value: Buffer.from(`${key}@${wall}`), ts: g(wall), origin });
const CONFIG = { region: 'a', catchUpRetryMs: 10, joinRetryMs: 20, applyRetryMs: 5 };

const sends = (as: LeaderAction[], type?: Message['type']) => as.flatMap((x) => (x.type === 'send' && (!type || x.msg.type === type) ? [x] : []));
const jobs = (as: LeaderAction[]) => as.flatMap((x) => (x.type === 'job' ? [x.job] : []));

function started(frontier = g(100n), watermark = g(100n)) {
  const l = new LeaderRound(CONFIG);
  l.handle({ type: 'started', nowMs: 0, frontier, watermark, last: undefined, membership: { version: 1, members: ['a', 'b', 'c'], excluded: [] } });
  return l;
}

function begin(T: bigint, over: Partial<Begin> = {}): Message {
  return { type: 'begin', epoch: 5n, roundId: 1, T: g(T), members: ['a', 'b', 'c'], joining: [], prev: { T: g(100n), prevT: g(90n), members: ['a', 'b', 'c'] }, ...over };
}

function delta(from: string, T: bigint, versions: Version[], over: Partial<Extract<Message, { type: 'delta' }>> = {}): Message {
  return { type: 'delta', epoch: 5n, roundId: 1, T: g(T), from, base: g(100n), holds: GLT_ZERO, versions, ...over };
}

const msg = (l: LeaderRound, m: Message, nowMs = 1) => l.handle({ type: 'message', nowMs, msg: m });
const done = (l: LeaderRound, job: LeaderJob, result: JobResult, nowMs = 2) =>
  l.handle({ type: 'jobDone', nowMs, jobId: job.jobId, result });

test('a full round: close and collect above the watermark, exchange, stage, Ready, then apply on Commit', (t) => {
  const l = started();
  const collect = jobs(msg(l, begin(200n)))[0]!;
  t.like(collect, { type: 'collect', T: g(200n), after: g(100n) });
  const own = [v('x', 150n, 'a-d1')];
  const out = done(l, collect, { kind: 'collected', versions: own });
  const deltas = sends(out, 'delta');
  t.deepEqual(deltas.map((d) => d.to), ['b', 'c']);
  t.like(deltas[0]!.msg, { from: 'a', base: g(100n), T: g(200n) });
  t.like(sends(out, 'waiting')[0], { to: COORDINATOR, msg: { missing: ['b', 'c'], caughtUp: true } });
  t.is(sends(msg(l, delta('b', 200n, [v('y', 160n, 'b-d1')])), 'ready').length, 0);
  const ready = sends(msg(l, delta('c', 200n, [v('z', 120n, 'c-d1')])), 'ready');
  t.like(ready[0], { to: COORDINATOR, msg: { type: 'ready', T: g(200n), region: 'a', collectMs: 1, exchangeMs: 0 } }, 'Begin at 1 ms, collected at 2; an event stamped earlier counts as 0, never negative');
  t.is(l.roundPhase, 'ready');
  t.deepEqual(l.currentFrontier, g(100n), 'staged, not readable');
  const apply = jobs(msg(l, { type: 'commit', epoch: 5n, roundId: 1, T: g(200n), prevT: g(100n), members: ['a', 'b', 'c'] }))[0]!;
  t.is(apply.type, 'apply');
  if (apply.type !== 'apply') return;
  t.deepEqual(apply.frontier, g(200n));
  t.deepEqual(apply.watermark, g(200n));
  t.deepEqual(apply.versions.map((x) => x.key.toString()), ['z', 'y'], "the peers' versions in LWW order, not our own");
  const after = done(l, apply, { kind: 'applied' }, 3);
  t.deepEqual(after.find((x) => x.type === 'frontier'), { type: 'frontier', frontier: g(200n) });
  t.deepEqual(l.currentFrontier, g(200n));
});

test('messages of a lower epoch are ignored; the highest epoch seen is kept', (t) => {
  const l = started();
  msg(l, begin(200n, { epoch: 6n }));
  t.is(l.currentEpoch, 6n);
  t.is(jobs(msg(l, begin(300n, { epoch: 5n, roundId: 9 }))).length, 0);
  t.is(msg(l, { type: 'commit', epoch: 5n, roundId: 9, T: g(300n), prevT: g(100n), members: ['a'] }).length, 0);
});

test('a commit record of a higher epoch (etcd watch) makes older coordinators stale', (t) => {
  const l = started();
  l.handle({ type: 'committed', nowMs: 1, record: { T: g(100n), prevT: g(90n), epoch: 9n, roundId: 1, members: ['a', 'b', 'c'], beginToReadyMs: 1, collectMs: 0, exchangeMs: 0, coordinator: 'c2' } });
  t.is(l.currentEpoch, 9n);
  t.is(jobs(msg(l, begin(200n))).length, 0, 'a Begin of epoch 5 is ignored');
});

test('a delta that arrives before its Begin is kept and staged when the Begin comes', (t) => {
  const l = started();
  msg(l, delta('b', 200n, []));
  msg(l, delta('c', 200n, []));
  const collect = jobs(msg(l, begin(200n)))[0]!;
  const out = done(l, collect, { kind: 'collected', versions: [] });
  t.is(sends(out, 'ready').length, 1);
});

test('a delta based above prev.T (a gap) or from a non-member is not staged', (t) => {
  const l = started();
  const collect = jobs(msg(l, begin(200n)))[0]!;
  done(l, collect, { kind: 'collected', versions: [] });
  msg(l, delta('b', 200n, [], { base: g(150n) }));
  msg(l, delta('z', 200n, []));
  t.is(sends(msg(l, delta('c', 200n, [])), 'ready').length, 0);
});

test('Abort drops the staged deltas: a later Commit of that T cannot be applied from them', (t) => {
  const l = started();
  const collect = jobs(msg(l, begin(200n)))[0]!;
  done(l, collect, { kind: 'collected', versions: [] });
  msg(l, delta('b', 200n, []));
  msg(l, delta('c', 200n, []));
  msg(l, { type: 'abort', epoch: 5n, roundId: 1, T: g(200n) });
  t.is(l.roundPhase, undefined);
  const out = msg(l, { type: 'commit', epoch: 5n, roundId: 1, T: g(200n), prevT: g(100n), members: ['a', 'b', 'c'] });
  t.false(jobs(out).some((j) => j.type === 'apply'));
  t.true(sends(out, 'catchup-request').length > 0, 'it catches up instead');
});

test('a missed Commit is learnt from the next Begin (prev) and applied before the new round is Ready', (t) => {
  const l = started();
  done(l, jobs(msg(l, begin(200n)))[0]!, { kind: 'collected', versions: [] });
  msg(l, delta('b', 200n, [v('y', 160n, 'b-d1')]));
  msg(l, delta('c', 200n, []));
  const out = msg(l, begin(300n, { roundId: 2, prev: { T: g(200n), prevT: g(100n), members: ['a', 'b', 'c'] } }));
  const [collect, ...rest] = jobs(out);
  t.like(collect, { type: 'collect', T: g(300n), after: g(200n) });
  t.is(rest.length, 0, 'one store job at a time');
  const out2 = done(l, collect!, { kind: 'collected', versions: [] });
  const apply = jobs(out2)[0]!;
  t.like(apply, { type: 'apply', frontier: g(200n) });
  msg(l, delta('b', 300n, [], { roundId: 2, base: g(200n) }));
  t.is(sends(msg(l, delta('c', 300n, [], { roundId: 2, base: g(200n) })), 'ready').length, 0, 'not Ready before holding prev');
  t.is(sends(done(l, apply, { kind: 'applied' }), 'ready').length, 1);
});

test('the etcd watch also delivers a missed Commit', (t) => {
  const l = started();
  done(l, jobs(msg(l, begin(200n)))[0]!, { kind: 'collected', versions: [] });
  msg(l, delta('b', 200n, []));
  msg(l, delta('c', 200n, []));
  const out = l.handle({ type: 'committed', nowMs: 5, record: { T: g(200n), prevT: g(100n), epoch: 5n, roundId: 1, members: ['a', 'b', 'c'], beginToReadyMs: 1, collectMs: 0, exchangeMs: 0, coordinator: 'c' } });
  t.like(jobs(out)[0], { type: 'apply', frontier: g(200n) });
});

test('behind the last commit: asks one peer for everything and every member for its own versions, applies the first complete answer', (t) => {
  const l = started(g(100n), g(100n));
  const out = l.handle({ type: 'committed', nowMs: 5, record: { T: g(200n), prevT: g(100n), epoch: 5n, roundId: 1, members: ['a', 'b', 'c'], beginToReadyMs: 1, collectMs: 0, exchangeMs: 0, coordinator: 'c' } });
  const reqs = sends(out, 'catchup-request');
  t.deepEqual(reqs.map((r) => [r.to, r.msg.type === 'catchup-request' && r.msg.mode]), [['b', 'all'], ['b', 'own'], ['c', 'own']]);
  const own = (region: string, versions: Version[]): Message => ({ type: 'catchup', reqId: (reqs[1]!.msg as { reqId: number }).reqId, mode: 'own', region, from: g(100n), to: g(200n), full: false, horizon: g(0n), versions });
  t.is(jobs(msg(l, own('b', [v('y', 150n, 'b-d1')]))).length, 0);
  const apply = jobs(msg(l, own('c', [v('z', 140n, 'c-d1')])))[0]!;
  t.like(apply, { type: 'apply', frontier: g(200n) });
  if (apply.type === 'apply') t.deepEqual(apply.versions.map((x) => x.origin), ['c-d1', 'b-d1']);
});

test('a full state transfer sets the GC horizon; a refusal rotates to the next donor', (t) => {
  const l = started(g(50n), g(50n));
  const out = l.handle({ type: 'committed', nowMs: 5, record: { T: g(200n), prevT: g(150n), epoch: 5n, roundId: 1, members: ['a', 'b', 'c'], beginToReadyMs: 1, collectMs: 0, exchangeMs: 0, coordinator: 'c' } });
  const req = sends(out, 'catchup-request');
  t.is(req.length, 1, 'no replay: more than one commit behind');
  const reqId = (req[0]!.msg as { reqId: number }).reqId;
  const next = sends(msg(l, { type: 'catchup-refused', reqId, region: 'b', frontier: g(40n) }), 'catchup-request');
  t.is(next[0]!.to, 'c');
  const apply = jobs(msg(l, { type: 'catchup', reqId, mode: 'all', region: 'c', from: g(50n), to: g(200n), full: true, horizon: g(120n), versions: [] }))[0]!;
  t.like(apply, { type: 'apply', frontier: g(200n), horizon: g(120n) });
});

test('as a donor: serves up to its frontier, its own versions up to its watermark, refuses otherwise', (t) => {
  const l = started(g(200n), g(200n));
  const all = jobs(msg(l, { type: 'catchup-request', reqId: 1, mode: 'all', region: 'b', from: g(100n), to: g(300n) }))[0]!;
  t.like(all, { type: 'fetch', from: g(100n), to: g(200n), ownOnly: false });
  const reply = sends(done(l, all, { kind: 'fetched', versions: [], full: false, horizon: g(0n) }), 'catchup')[0]!;
  t.like(reply, { to: 'b', msg: { reqId: 1, mode: 'all', to: g(200n) } });
  t.like(sends(msg(l, { type: 'catchup-request', reqId: 2, mode: 'own', region: 'b', from: g(200n), to: g(300n) }))[0], { msg: { type: 'catchup-refused' } });
  t.like(sends(msg(l, { type: 'catchup-request', reqId: 3, mode: 'all', region: 'b', from: g(200n), to: g(300n) }))[0], { msg: { type: 'catchup-refused' } });
});

test('rejoin: excluded, it asks to be readmitted and fetches committed snapshots without advancing; the readmitting round re-stamps, then advances', (t) => {
  const l = new LeaderRound(CONFIG);
  const out = l.handle({ type: 'started', nowMs: 0, frontier: g(100n), watermark: g(100n), last: undefined, membership: { version: 2, members: ['b', 'c'], excluded: [{ region: 'a', watermark: g(100n) }] } });
  t.like(sends(out, 'join')[0], { to: COORDINATOR, msg: { type: 'join', region: 'a' } });
  t.is(sends(l.handle({ type: 'tick', nowMs: 5 }), 'join').length, 0, 'not before joinRetryMs');
  t.is(sends(l.handle({ type: 'tick', nowMs: 20 }), 'join').length, 1);
  const prev = { T: g(300n), prevT: g(200n), members: ['b', 'c'] };
  const began = msg(l, begin(400n, { joining: [{ region: 'a', watermark: g(100n) }], prev }), 21);
  const collect = jobs(began)[0]!;
  t.like(collect, { type: 'collect', T: g(400n), after: g(100n), restampAfter: g(100n) });
  const req = sends(began, 'catchup-request').find((x) => x.msg.type === 'catchup-request' && x.msg.mode === 'all')!;
  t.like(req.msg, { from: g(100n), to: g(300n) });
  msg(l, { type: 'catchup', reqId: (req.msg as { reqId: number }).reqId, mode: 'all', region: req.to, from: g(100n), to: g(300n), full: false, horizon: g(0n), versions: [v('y', 250n, 'b-d1')] }, 21);
  const after = done(l, collect, { kind: 'collected', versions: [] }, 22);
  t.like(sends(after, 'delta')[0], { msg: { base: g(100n), versions: [] } });
  const fetch = jobs(after)[0]!;
  t.like(fetch, { type: 'apply', frontier: g(300n) }, 'after the re-stamp, its frontier may follow what it fetched');
  msg(l, delta('b', 400n, [], { base: g(300n) }));
  msg(l, delta('c', 400n, [], { base: g(300n) }));
  t.is(sends(done(l, fetch, { kind: 'applied' }, 23), 'ready').length, 1);
});

test('while excluded, fetched snapshots never move the frontier', (t) => {
  const l = new LeaderRound(CONFIG);
  l.handle({ type: 'started', nowMs: 0, frontier: g(100n), watermark: g(100n), last: undefined, membership: { version: 2, members: ['b', 'c'], excluded: [{ region: 'a', watermark: g(100n) }] } });
  const out = l.handle({ type: 'committed', nowMs: 1, record: { T: g(300n), prevT: g(200n), epoch: 5n, roundId: 1, members: ['b', 'c'], beginToReadyMs: 1, collectMs: 0, exchangeMs: 0, coordinator: 'c' } });
  const req = sends(out, 'catchup-request')[0]!;
  const apply = jobs(msg(l, { type: 'catchup', reqId: (req.msg as { reqId: number }).reqId, mode: 'all', region: req.to, from: g(100n), to: g(300n), full: true, horizon: g(250n), versions: [] }, 2))[0]!;
  t.like(apply, { type: 'apply', frontier: g(100n) });
  t.false('horizon' in apply, 'no GC before our unshipped versions are re-stamped');
  done(l, apply, { kind: 'applied' }, 3);
  t.deepEqual(l.currentFrontier, g(100n));
});

test('a failed collect (a data node down) leaves the round and tells the coordinator; a failed apply is retried', (t) => {
  const l = started();
  const collect = jobs(msg(l, begin(200n)))[0]!;
  const out = l.handle({ type: 'jobFailed', nowMs: 2, jobId: collect.jobId, error: new AetherError('UNAVAILABLE', 'down') });
  t.is(l.roundPhase, undefined);
  t.deepEqual(
    out.flatMap((a) => (a.type === 'send' ? [a] : [])),
    [{ type: 'send', to: COORDINATOR, msg: { type: 'unable', epoch: 5n, roundId: 1, T: g(200n), region: 'a', code: 'UNAVAILABLE' } }],
  );
  const l2 = started();
  done(l2, jobs(msg(l2, begin(200n)))[0]!, { kind: 'collected', versions: [] });
  msg(l2, delta('b', 200n, []));
  msg(l2, delta('c', 200n, []));
  const apply = jobs(msg(l2, { type: 'commit', epoch: 5n, roundId: 1, T: g(200n), prevT: g(100n), members: ['a', 'b', 'c'] }, 3))[0]!;
  const failed = l2.handle({ type: 'jobFailed', nowMs: 4, jobId: apply.jobId, error: new AetherError('UNAVAILABLE', 'down') });
  t.true(failed.some((x) => x.type === 'wakeAt' && x.atMs === 9));
  t.like(jobs(l2.handle({ type: 'tick', nowMs: 9 }))[0], { type: 'apply', frontier: g(200n) });
});

test('after an abort, what a peer shipped is held: its next delta carries only what is newer, and ours to it starts where it holds', (t) => {
  const l = started();
  const c1 = jobs(msg(l, begin(200n)))[0]!;
  done(l, c1, { kind: 'collected', versions: [v('x', 150n, 'a-d1')] });
  msg(l, delta('b', 200n, [v('y', 160n, 'b-d1')], { holds: g(200n) }));
  msg(l, { type: 'abort', epoch: 5n, roundId: 1, T: g(200n) });

  const c2 = jobs(msg(l, begin(300n, { roundId: 2 })))[0]!;
  t.like(c2, { type: 'collect', after: g(100n) }, 'our watermark did not move');
  const out = done(l, c2, { kind: 'collected', versions: [v('x', 150n, 'a-d1'), v('x2', 250n, 'a-d1')] });
  const toB = sends(out, 'delta').find((d) => d.to === 'b')!.msg;
  const toC = sends(out, 'delta').find((d) => d.to === 'c')!.msg;
  t.like(toB, { base: g(200n), holds: g(200n) }, 'b holds ours up to 200; we hold b’s up to 200');
  t.deepEqual(toB.type === 'delta' ? toB.versions.map((x) => x.key.toString()) : [], ['x2']);
  t.like(toC, { base: g(100n), holds: GLT_ZERO });

  msg(l, delta('b', 300n, [v('y2', 260n, 'b-d1')], { roundId: 2, base: g(200n) }));
  const ready = sends(msg(l, delta('c', 300n, [], { roundId: 2 })), 'ready');
  t.is(ready.length, 1, 'b’s delta based at 200 is complete with what we held');
  const apply = jobs(msg(l, { type: 'commit', epoch: 5n, roundId: 2, T: g(300n), prevT: g(100n), members: ['a', 'b', 'c'] }))[0]!;
  t.deepEqual(apply.type === 'apply' ? apply.versions.map((x) => x.key.toString()) : [], ['y', 'y2']);
});
