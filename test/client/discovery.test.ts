import test from 'ava';
import { ElectionCandidate } from '../../cluster/election.js';
import { clusterPaths } from '../../cluster/paths.js';
import { AetherError } from '../../common/errors.js';
import { connect } from '../../index.js';
import { eventually, startEtcd } from '../cluster/etcd-fixture.js';
import { startTestRegion } from './cluster.js';

test('the client asks etcd for the elected leader and goes there first', async (t) => {
  const fx = await startEtcd();
  const r = await startTestRegion();
  const paths = clusterPaths(r.topology.name);
  const candidate = new ElectionCandidate(fx.client(), paths.root, paths.leaderElection('r1'), { id: 'r1-l1', grpc: r.leaders[0]!.address });
  t.teardown(async () => {
    await candidate.resign();
    await r.close();
    await fx.stop();
  });
  candidate.start();
  await eventually(() => (candidate.isLeader ? true : undefined), 10_000, 'r1-l1 elected');

  // One attempt only: the topology lists the standby first, so only discovery can get it right.
  const once = { maxAttempts: 1 };
  const blind = connect({ topology: r.topology, region: 'r1', etcd: false, retry: once });
  const informed = connect({ topology: r.topology, region: 'r1', etcd: { endpoints: fx.etcd.endpoints }, retry: once });
  t.teardown(() => {
    blind.close();
    informed.close();
  });
  const err = await t.throwsAsync(blind.put('k', 'v'), { instanceOf: AetherError });
  t.is(err.code, 'NOT_LEADER');
  const w = await informed.put('k', 'v');
  t.true(w.origin.startsWith('r1-d'));
});
