import test from 'ava';
import { ElectionCandidate, currentLeader, fencedPut, watchLeader, type ElectedLeader, type ElectionState } from '../../cluster/election.js';
import { clusterPaths } from '../../cluster/paths.js';
import type { AetherError } from '../../common/errors.js';
import { eventually, startEtcd, type EtcdFixture } from './etcd-fixture.js';
import { spawnMember } from './member.js';

let fx: EtcdFixture;
test.before(async () => {
  fx = await startEtcd();
});
test.after.always(async () => {
  await fx?.stop();
});

const deployment = 'test-election';
const paths = clusterPaths(deployment);

test.serial('the standby takes over when the leader dies; epochs strictly increase; observers follow', async (t) => {
  const name = paths.leaderElection('r1');
  const prefix = paths.electionPrefix(name);
  const { child: a, output } = spawnMember(t, fx.etcd.endpoints, deployment, name, 'a');
  const epochA = await eventually(() => /leader (\d+)/.exec(output())?.[1], 20_000, 'a elected').then(BigInt);

  const b = new ElectionCandidate(fx.client(), paths.root, name, { id: 'b', grpc: '127.0.0.1:2' });
  const bStates: ElectionState[] = [];
  b.onChange((s) => bStates.push(s));
  b.start();
  const seen: (ElectedLeader | undefined)[] = [];
  const stopWatch = await watchLeader(fx.client(), prefix, (l) => seen.push(l));
  t.is(seen.at(-1)?.value.id, 'a');
  t.is(seen.at(-1)?.epoch, epochA);
  t.is(b.state, 'campaigning');

  // The leader's process dies without resigning: the lease expires after its TTL.
  a.kill('SIGKILL');
  await eventually(() => (b.isLeader ? true : undefined), 10_000, 'b elected');
  t.true(b.epoch! > epochA);
  await eventually(() => (seen.at(-1)?.value.id === 'b' ? true : undefined), 5000, 'observer sees b');
  t.is(seen.at(-1)?.epoch, b.epoch);
  t.deepEqual(bStates, ['campaigning', 'leader']);

  await b.resign();
  t.is(b.state, 'resigned');
  t.is(b.epoch, undefined);
  await eventually(async () => ((await currentLeader(fx.client(), prefix)) === undefined ? true : undefined), 5000, 'no leader');
  await stopWatch();
});

test.serial('a candidate that loses its lease re-campaigns and wins a new, higher epoch', async (t) => {
  const name = paths.coordinatorElection;
  const client = fx.client();
  const c = new ElectionCandidate(client, paths.root, name, { id: 'c' }, { recampaignDelayMs: 50 });
  const states: ElectionState[] = [];
  c.onChange((s) => states.push(s));
  c.start();
  await eventually(() => (c.isLeader ? true : undefined), 10_000, 'c elected');
  const first = c.epoch!;
  // etcd revokes the lease under it (as when it expired during a long pause).
  const leader = await currentLeader(client, paths.electionPrefix(name));
  const leaseId = (await client.get(leader!.key).exec()).kvs[0]!.lease;
  await fx.client().leaseClient.leaseRevoke({ ID: leaseId });
  await eventually(() => (c.isLeader && c.epoch! > first ? true : undefined), 10_000, 're-elected');
  t.deepEqual(states.slice(0, 5), ['campaigning', 'leader', 'lost', 'campaigning', 'leader']);
  await c.resign();
});

test.serial('resigning hands leadership over at once; writes fenced on the old term are refused', async (t) => {
  const name = paths.leaderElection('r2');
  const x = new ElectionCandidate(fx.client(), paths.root, name, { id: 'x' });
  x.start();
  await eventually(() => (x.isLeader ? true : undefined), 10_000, 'x elected');
  const y = new ElectionCandidate(fx.client(), paths.root, name, { id: 'y' });
  y.start();
  await eventually(() => (y.state === 'campaigning' ? true : undefined));
  const fence = x.fence()!;
  const client = fx.client();
  await fencedPut(client, fence, [{ key: paths.commit({ wall: 1n, logical: 0 }), value: 'x' }]);
  await x.resign();
  t.is(x.fence(), undefined);
  const refused = await t.throwsAsync(fencedPut(client, fence, [{ key: paths.commit({ wall: 2n, logical: 0 }), value: 'x' }]));
  t.is((refused as AetherError).code, 'FENCED');
  t.deepEqual((await client.getAll().prefix(paths.commitsPrefix).keys()).map((k) => k.slice(paths.commitsPrefix.length)), ['00000000000000000001.0000000000']);
  await eventually(() => (y.isLeader ? true : undefined), 5000, 'y elected');
  t.true(y.epoch! > 0n);
  await y.resign();
});
