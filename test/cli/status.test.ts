import test from 'ava';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { commitRows, commitStats, formatClusterStatus, leaderFigures, readClusterStatus, type ClusterStatus } from '../../cli/cluster-status.js';
import { clusterPaths } from '../../cluster/paths.js';
import { ServiceRegistration } from '../../cluster/registry.js';
import { formatGlt, glt } from '../../glts/glt.js';
import { encodeCommitRecord, encodeMembership, excludeRegion, initialMembership, type CommitRecord } from '../../kernel/records.js';
import { loadTopology } from '../../topology/load.js';
import { startEtcd } from '../cluster/etcd-fixture.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const ns = (ms: number): bigint => BigInt(ms) * 1_000_000n;
const record = (wallMs: number, o: Partial<CommitRecord> = {}): CommitRecord => ({
  T: glt(ns(wallMs)),
  epoch: 7n,
  members: ['us-east', 'eu-west', 'ap-south'],
  membershipVersion: 1,
  coordinator: 'coord-1',
  decideMs: 1,
  lagMs: 50,
  ...o,
});

test('commit figures: decisions per second from T + lag, nearest-rank lag and decide quantiles, the last commit’s age', (t) => {
  // Newest first, as etcd returns them: decided at 2050, 1500 and 1050 ms.
  const rows = commitRows([record(2000, { lagMs: 50, decideMs: 30 }), record(1500, { lagMs: 0, decideMs: 2 }), record(1000, { lagMs: 50, decideMs: 1 })]);
  t.deepEqual(
    rows.map((r) => r.sincePreviousMs),
    [500, 500, null],
  );
  const s = commitStats(rows, { intervalMs: 50, budgetMs: 40, nowMs: 2150 });
  t.is(s.count, 3);
  t.is(s.perSecond, 2);
  t.is(s.lastAgeMs, 100);
  t.is(s.lagP50Ms, 50);
  t.is(s.lagP99Ms, 50);
  t.is(s.decideP99Ms, 30);
  t.is(s.budgetMs, 40);
  // A clock behind the coordinator's: the last commit is not in the future.
  t.is(commitStats(rows, { intervalMs: 50, budgetMs: 40, nowMs: 0 }).lastAgeMs, 0);
  const none = commitStats([], { intervalMs: 50, budgetMs: 40, nowMs: 0 });
  t.deepEqual([none.perSecond, none.lastAgeMs, none.lagP50Ms, none.decideP99Ms], [null, null, null, null]);
});

test("a region's freshness is its leader's clock − the frontier's wall time, never below 0, with the status's age", (t) => {
  const status = { state: 'leader', epoch: '3', at: 10_000, frontier: formatGlt(glt(ns(9_940), 2)), lagMs: 60, member: true, closedLagMs: 4, appliedLagMs: { 'eu-west': 31, 'ap-south': null } };
  const f = leaderFigures(status, 10_400);
  t.is(f.frontier, `${ns(9_940)}.2`);
  t.is(f.freshnessMs, 60);
  t.is(f.statusAgeMs, 400);
  t.is(f.closedLagMs, 4);
  t.deepEqual(f.appliedLagMs, { 'eu-west': 31, 'ap-south': null });
  t.is(f.blocked, null);
  t.is(f.leaderMember, true);
  // A frontier ahead of the leader's clock (skew) is fresh, not negative.
  t.is(leaderFigures({ ...status, frontier: formatGlt(glt(ns(10_020))) }, 10_400).freshnessMs, 0);
  // A leader that never served a snapshot has no frontier to age.
  t.deepEqual([leaderFigures({ ...status, frontier: '0.0' }, 10_400).frontier, leaderFigures({ ...status, frontier: '0.0' }, 10_400).freshnessMs], [null, null]);
  t.is(leaderFigures({ ...status, blocked: 'MEMBERSHIP_GAP: rules from version 3 are gone' }, 10_400).blocked, 'MEMBERSHIP_GAP: rules from version 3 are gone');
  const none = leaderFigures(undefined, 10_400);
  t.deepEqual([none.frontier, none.freshnessMs, none.statusAgeMs, none.closedLagMs, none.leaderMember], [null, null, null, null, null]);
  t.deepEqual(none.appliedLagMs, {});
});

const view = (over: Partial<ClusterStatus['regions'][number]> = {}): ClusterStatus['regions'][number] => ({
  name: 'us-east',
  leader: { id: 'us-east-l1', epoch: '5', grpc: '127.0.0.1:1' },
  membership: 'member',
  watermark: null,
  leaderMember: true,
  frontier: '1.0',
  freshnessMs: 55,
  statusAgeMs: 300,
  closedLagMs: 3,
  appliedLagMs: { 'eu-west': 40 },
  blocked: null,
  leaders: [{ id: 'us-east-l1', up: true }],
  datanodes: [{ id: 'us-east-d1', up: false }],
  ...over,
});

test('the text shows membership with its watermark, a leader still on the old membership, blocked regions and the v2 commit figures', (t) => {
  const rows = commitRows([record(2000, { decideMs: 2.25, lagMs: 111.5 }), record(1950, { lagMs: 61.5 })]);
  const s: ClusterStatus = {
    name: 'local',
    at: new Date(0).toISOString(),
    coordinator: { id: 'coord-1', epoch: '7', loop: 'leading' },
    coordinators: [{ id: 'coord-1', up: true }],
    regions: [view(), view({ name: 'ap-south', membership: 'excluded', watermark: '9.0', leaderMember: true, blocked: 'MEMBERSHIP_GAP: x' })],
    membershipVersion: 2,
    excluded: [{ region: 'ap-south', watermark: '9.0', hiddenAbove: '9.0' }],
    commits: rows,
    commitStats: commitStats(rows, { intervalMs: 50, budgetMs: 50, nowMs: 2100 }),
  };
  const text = formatClusterStatus(s, 1);
  t.regex(text, /coordinator coord-1 \(epoch 7\)/);
  t.regex(text, /excluded ≤ 9\.0 \(leader: member\)/);
  t.regex(text, /eu-west 40/);
  t.regex(text, /us-east-d1 \(down\)/);
  t.regex(text, /as its leader last published it, 0\.3 s ago/);
  t.regex(text, /ap-south is blocked: MEMBERSHIP_GAP: x/);
  t.regex(text, /excluded \(membership version 2\): ap-south \(watermark 9\.0/);
  t.regex(text, /commits \(last 2\): 10\.0\/s \(interval 50 ms\), last 0\.0 s ago; lag p50 61\.5 ms, p99 111\.5 ms; decide p99 2\.3 ms \(budget 50 ms\)/);
  t.regex(text, /decide ms {2}lag ms {2}since previous ms/);
  t.is(text.split('\n').filter((l) => l.startsWith(`${ns(2000)}.0`) || l.startsWith(`${ns(1950)}.0`)).length, 1);
  t.notRegex(text, /round|abort|begin/i);
});

test('status reads etcd alone: with the coordinator gone and a region without a leader it still shows every region, the exclusion and the commits', async (t) => {
  const fixture = await startEtcd();
  t.teardown(() => fixture.stop());
  const client = fixture.client();
  const topology = loadTopology(join(root, 'topology', 'local.yaml'));
  const paths = clusterPaths(topology.name);
  const now = Date.now();
  for (const r of [record(now - 200), record(now - 150), record(now - 100, { members: ['us-east', 'eu-west'], membershipVersion: 2 })]) {
    await client.put(paths.commit(r.T)).value(encodeCommitRecord(r));
  }
  const excludedAt = glt(ns(now - 150));
  await client.put(paths.membership).value(encodeMembership(excludeRegion(initialMembership(['us-east', 'eu-west', 'ap-south']), 'ap-south', excludedAt)));
  // us-east has an elected leader publishing its status; eu-west's is elected but its process is gone; ap-south has none.
  await client.put(`${paths.electionPrefix(paths.leaderElection('us-east'))}1`).value(JSON.stringify({ id: 'us-east-l2', region: 'us-east', grpc: '127.0.0.1:7112', quantum: '127.0.0.1:7212' }));
  await client.put(`${paths.electionPrefix(paths.leaderElection('eu-west'))}1`).value(JSON.stringify({ id: 'eu-west-l1', region: 'eu-west', grpc: '127.0.0.1:7121', quantum: '127.0.0.1:7221' }));
  const leaderStatus = { state: 'leader', epoch: '12', at: now - 20, frontier: formatGlt(glt(ns(now - 100))), lagMs: 80, member: true, closedLagMs: 2, appliedLagMs: { 'eu-west': 30, 'ap-south': 400 } };
  const registrations = await Promise.all([
    ServiceRegistration.register(client, paths, { role: 'leader', id: 'us-east-l2', region: 'us-east', pid: 1, startedAt: 'x', status: leaderStatus }),
    ServiceRegistration.register(client, paths, { role: 'datanode', id: 'us-east-d1', region: 'us-east', pid: 42, startedAt: 'x' }),
  ]);
  t.teardown(() => Promise.all(registrations.map((r) => r.close())));

  const s = await readClusterStatus(client, topology, 100);
  t.is(s.coordinator, null);
  t.deepEqual(s.coordinators.map((c) => c.up), [false, false]);
  t.deepEqual(s.regions.map((r) => [r.name, r.leader?.id ?? null, r.membership]), [
    ['us-east', 'us-east-l2', 'member'],
    ['eu-west', 'eu-west-l1', 'member'],
    ['ap-south', null, 'excluded'],
  ]);
  const [us, eu, ap] = s.regions as [ClusterStatus['regions'][number], ClusterStatus['regions'][number], ClusterStatus['regions'][number]];
  t.is(us.freshnessMs, 80);
  t.true(us.statusAgeMs! >= 20);
  t.deepEqual(us.appliedLagMs, { 'eu-west': 30, 'ap-south': 400 });
  t.deepEqual(us.datanodes, [{ id: 'us-east-d1', up: true, pid: 42 }, { id: 'us-east-d2', up: false }]);
  t.deepEqual(us.leaders, [{ id: 'us-east-l1', up: false }, { id: 'us-east-l2', up: true }]);
  t.deepEqual([eu.frontier, eu.freshnessMs, eu.statusAgeMs], [null, null, null]);
  t.is(ap.watermark, formatGlt(excludedAt));
  t.deepEqual(s.excluded, [{ region: 'ap-south', watermark: formatGlt(excludedAt), hiddenAbove: formatGlt(excludedAt) }]);
  t.is(s.membershipVersion, 2);
  t.deepEqual(s.commits.map((c) => c.members.length), [2, 3, 3]);
  t.is(s.commits[0]!.sincePreviousMs, 50);
  t.is(s.commitStats.count, 3);
  t.is(s.commitStats.perSecond, 20);
  t.is(s.commitStats.budgetMs, topology.snapshot.budgetMs);
  // Commits stopped ~50 ms ago (the newest was decided at now − 100 + its 50 ms lag), and the age keeps growing.
  t.true(s.commitStats.lastAgeMs! >= 50);
  t.regex(formatClusterStatus(s, 5), /coordinator none elected/);
});
