import test from 'ava';
import { Registry } from 'prom-client';
import { ElectionCandidate, type Fence } from '../../cluster/election.js';
import { clusterPaths } from '../../cluster/paths.js';
import type { AetherError } from '../../common/errors.js';
import { silentLogger } from '../../common/log.js';
import { createAetherMetrics } from '../../common/metrics.js';
import { compareGlt, glt, type Glt } from '../../glts/glt.js';
import { CommitLog } from '../../kernel/commit-log.js';
import { Coordinator } from '../../kernel/coordinator.js';
import type { Message } from '../../kernel/messages.js';
import type { CommitRecord, MembershipRecord } from '../../kernel/records.js';
import { CoordinatorDriver } from '../../kernel/round-driver.js';
import { LeaderRound } from '../../regional/round.js';
import { eventually, startEtcd, type EtcdFixture } from '../cluster/etcd-fixture.js';

// The coordinator's adapter on a real etcd: commit records fenced on the election term,
// bounded history, the watch; an old coordinator that lost its election cannot commit.

let fx: EtcdFixture;
test.before(async () => {
  fx = await startEtcd();
});
test.after.always(async () => {
  await fx?.stop();
});

const REGIONS = ['r1', 'r2'];

function record(T: Glt, prevT: Glt, epoch: bigint): CommitRecord {
  return { T, prevT, epoch, roundId: 1, members: REGIONS, beginToReadyMs: 1, collectMs: 0, exchangeMs: 0, coordinator: 'c' };
}

async function elect(paths: ReturnType<typeof clusterPaths>, id: string): Promise<ElectionCandidate> {
  const c = new ElectionCandidate(fx.client(), paths.root, paths.coordinatorElection, { id, quantum: '127.0.0.1:1' });
  c.start();
  await eventually(() => (c.isLeader || c.state === 'campaigning' ? true : undefined), 10_000, `${id} campaigning`);
  return c;
}

test.serial('commit log: the newest record, default membership, bounded history, the watch', async (t) => {
  const paths = clusterPaths('test-commit-log');
  const log = new CommitLog(fx.client(), paths, REGIONS, 3);
  t.is(await log.last(), undefined);
  t.deepEqual((await log.membership()).members, REGIONS);
  const e = await elect(paths, 'a');
  await eventually(() => (e.isLeader ? true : undefined), 10_000, 'a elected');
  const fence = e.fence()!;
  const seen: CommitRecord[] = [];
  const memberships: MembershipRecord[] = [];
  const stop = await log.watch({ commit: (r) => seen.push(r), membership: (m) => memberships.push(m) });
  await log.loadHistory();
  let prev = glt(0n);
  for (let i = 1n; i <= 5n; i++) {
    const T = glt(i * 1000n);
    await log.persist(fence, { commit: record(T, prev, fence.epoch), ...(i === 5n ? { membership: { version: 2, members: ['r1'], excluded: [{ region: 'r2', watermark: prev }] } } : {}) });
    prev = T;
  }
  t.deepEqual((await log.last())?.T, glt(5000n));
  const kept = await log.recent(10);
  t.deepEqual(
    kept.map((r) => r.T.wall),
    [3000n, 4000n, 5000n],
    'only the newest 3 records are kept',
  );
  t.deepEqual((await log.membership()).members, ['r1']);
  await eventually(() => (seen.at(-1)?.T.wall === 5000n ? true : undefined), 5000, 'watch sees the newest commit');
  for (let i = 1; i < seen.length; i++) t.true(compareGlt(seen[i]!.T, seen[i - 1]!.T) > 0, 'watched commits strictly increase');
  await eventually(() => (memberships.at(-1)?.version === 2 ? true : undefined), 5000, 'watch sees the membership');
  await stop();
  await e.resign();
});

test.serial('an old coordinator that lost its election cannot get a round committed; leaders ignore its epoch', async (t) => {
  const paths = clusterPaths('test-fenced-round');
  const log = new CommitLog(fx.client(), paths, REGIONS);
  const old = await elect(paths, 'old');
  await eventually(() => (old.isLeader ? true : undefined), 10_000, 'old elected');
  const oldFence: Fence = old.fence()!;
  const fresh = await elect(paths, 'new');

  // The old coordinator keeps believing it leads (a partitioned process would), with its term's fence.
  const sent: { to: string; msg: Message }[] = [];
  const metrics = createAetherMetrics(new Registry(), { budgetMs: 10_000 });
  let now = glt(BigInt(Date.now()) * 1_000_000n);
  const clock = { now: () => ({ earliest: now, latest: now }) };
  const coordinator = new Coordinator({ id: 'old', intervalMs: 10_000, budgetMs: 10_000, missThreshold: 2, silenceMs: 20_000 }, clock);
  const driver = new CoordinatorDriver(coordinator, { send: (to, msg) => (sent.push({ to, msg }), 1), knows: () => true }, log, { fence: () => oldFence, resign: async () => {} }, metrics, silentLogger(), REGIONS);
  await driver.elected(oldFence.epoch);
  const begin = sent.find((s) => s.msg.type === 'begin')?.msg;
  t.truthy(begin, 'the old coordinator began a round');
  if (begin?.type !== 'begin') return;

  // Its term ends; the new coordinator is elected before the members are Ready.
  await old.resign();
  await eventually(() => (fresh.isLeader ? true : undefined), 10_000, 'new elected');
  for (const region of REGIONS) driver.message({ type: 'ready', epoch: begin.epoch, roundId: begin.roundId, T: begin.T, region, frontier: glt(0n), collectMs: 0, exchangeMs: 0 });
  await eventually(() => (coordinator.currentState === 'follower' ? true : undefined), 10_000, 'old coordinator stepped down');
  t.false(sent.some((s) => s.msg.type === 'commit'), 'no Commit announced');
  t.is(await log.last(), undefined, 'no commit record written');
  const refused = await t.throwsAsync(log.persist(oldFence, { commit: record(begin.T, glt(0n), oldFence.epoch) }));
  t.is((refused as AetherError).code, 'FENCED');

  // The new coordinator commits; a leader that learnt of it ignores the old epoch's Begin.
  const newFence = fresh.fence()!;
  t.true(newFence.epoch > oldFence.epoch);
  now = glt(now.wall + 1_000_000n);
  const committed = record(now, glt(0n), newFence.epoch);
  await log.persist(newFence, { commit: committed });
  t.deepEqual((await log.last())?.epoch, newFence.epoch);
  const leader = new LeaderRound({ region: 'r1', catchUpRetryMs: 100, joinRetryMs: 100, applyRetryMs: 100 });
  leader.handle({ type: 'started', nowMs: 0, frontier: glt(0n), watermark: glt(0n), last: undefined, membership: undefined });
  leader.handle({ type: 'committed', nowMs: 1, record: committed });
  t.is(leader.currentEpoch, newFence.epoch);
  const stale = leader.handle({ type: 'message', nowMs: 2, msg: { ...begin, T: glt(now.wall + 1_000_000n), prev: { T: committed.T, prevT: glt(0n), members: REGIONS } } });
  t.false(stale.some((a) => a.type === 'job' && a.job.type === 'collect'), 'no collect for a lower epoch');
  t.is(leader.roundPhase, undefined);
  driver.stop();
  await fresh.resign();
});
