import test from 'ava';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connectEtcd } from '../../cluster/etcd.js';
import { LocalEtcd } from '../../topology/local-etcd.js';
import { processAlive } from '../../topology/supervisor.js';

test('a 3-member local etcd serves through the loss of one member, restarts on its recorded ports, and stops completely', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'aetherflow-etcd3-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const etcd = await LocalEtcd.start({ members: 3, dataDir: dir, token: 'test-3' });
  t.teardown(() => etcd.stop());
  t.is(etcd.members.length, 3);
  const client = connectEtcd(etcd.endpoints);
  t.teardown(() => client.close());
  await client.put('k').value('v1');

  process.kill(etcd.members[2]!.pid, 'SIGKILL');
  await client.put('k').value('v2'); // two of three are a quorum
  t.is(await client.get('k').string(), 'v2');
  await etcd.stop();
  t.deepEqual(etcd.pids.filter(processAlive), []);

  // Same data dir: the recorded ports are reused (etcd keeps its peer URLs), the data is still there.
  const again = await LocalEtcd.start({ members: 3, dataDir: dir, token: 'test-3' });
  t.teardown(() => again.stop());
  t.deepEqual(again.endpoints, etcd.endpoints);
  const client2 = connectEtcd(again.endpoints);
  t.teardown(() => client2.close());
  t.is(await client2.get('k').string(), 'v2');
  await again.stop();
  t.deepEqual(again.pids.filter(processAlive), []);
});
