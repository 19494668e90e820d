import test from 'ava';
import { clusterPaths } from '../../cluster/paths.js';
import { ServiceRegistration, listServices, watchServices, type ServiceRecord } from '../../cluster/registry.js';
import { eventually, startEtcd, type EtcdFixture } from './etcd-fixture.js';
import { spawnMember } from './member.js';

let fx: EtcdFixture;
test.before(async () => {
  fx = await startEtcd();
});
test.after.always(async () => {
  await fx?.stop();
});

test('an entry vanishes when its process dies and its lease expires; watchers see both', async (t) => {
  const deployment = 'test-registry';
  const paths = clusterPaths(deployment);
  const client = fx.client();
  const lists: ServiceRecord[][] = [];
  const stop = await watchServices(client, paths, (s) => lists.push(s));
  const { child, output } = spawnMember(t, fx.etcd.endpoints, deployment, 'leader/r1', 'p1');
  await eventually(() => (output().includes('registered') ? true : undefined), 20_000, 'registered');
  const listed = await listServices(client, paths, 'leader');
  t.deepEqual(listed.map((s) => [s.id, s.pid]), [['p1', child.pid]]);
  await eventually(() => (lists.at(-1)?.some((s) => s.id === 'p1') ? true : undefined), 5000, 'watcher sees p1');

  child.kill('SIGKILL');
  await eventually(async () => ((await listServices(client, paths)).length === 0 ? true : undefined), 10_000, 'entry expired');
  await eventually(() => (lists.at(-1)?.length === 0 ? true : undefined), 5000, 'watcher sees it gone');
  await stop();
});

test('update changes the status; close removes the entry at once', async (t) => {
  const paths = clusterPaths('test-registry-2');
  const client = fx.client();
  const reg = await ServiceRegistration.register(client, paths, { role: 'datanode', id: 'd1', region: 'r', pid: process.pid, startedAt: new Date().toISOString() });
  await reg.update({ frontier: '1.0' });
  t.deepEqual((await listServices(client, paths, 'datanode'))[0]?.status, { frontier: '1.0' });
  await reg.close();
  t.deepEqual(await listServices(client, paths), []);
});

test('an entry whose lease etcd revoked is registered again on a new lease', async (t) => {
  const paths = clusterPaths('test-registry-3');
  const client = fx.client();
  const reg = await ServiceRegistration.register(client, paths, { role: 'leader', id: 'l1', region: 'r', pid: process.pid, startedAt: new Date().toISOString() }, { ttlSec: 1 });
  t.teardown(() => reg.close());
  const first = (await client.get(paths.service('leader', 'l1')).exec()).kvs[0]!.lease;
  await fx.client().leaseClient.leaseRevoke({ ID: first });
  const second = await eventually(async () => {
    const kv = (await client.get(paths.service('leader', 'l1')).exec()).kvs[0];
    return kv && kv.lease !== first ? kv.lease : undefined;
  }, 10_000, 're-registered');
  t.not(second, first);
});
