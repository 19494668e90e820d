import test from 'ava';
import { Clock } from '../../glts/clock.js';
import { GLT_ZERO, type Glt } from '../../glts/glt.js';
import { MemoryStore } from '../../datanode/memory-store.js';
import { startDatanodeServer } from '../../datanode/service.js';
import { DataNodeConnection } from '../../regional/datanode-connection.js';
import { RemoteJobRunner } from '../../regional/remote-job-runner.js';
import { Router } from '../../regional/router.js';
import type { JobResult } from '../../regional/round.js';

/** Two data nodes over gRPC on MemoryStores, and a runner over them. */
async function region(t: import('ava').ExecutionContext) {
  const ids = ['d1', 'd2'];
  const clock = new Clock({ maxOffsetMs: 250 });
  const stores = ids.map((id) => new MemoryStore({ origin: id, clock: new Clock({ maxOffsetMs: 250 }) }));
  const servers = await Promise.all(stores.map((store) => startDatanodeServer({ address: '127.0.0.1:0', store })));
  const conns = new Map(ids.map((id, i) => [id, new DataNodeConnection(id, servers[i]!.address)]));
  t.teardown(async () => {
    for (const c of conns.values()) c.shutdown();
    await Promise.all(servers.map((s) => s.close(100)));
    await Promise.all(stores.map((s) => s.shutdown()));
  });
  const router = new Router(ids);
  const write = (n: number, tag: string) => Promise.all(Array.from({ length: n }, (_, i) => conns.get(router.route(Buffer.from(`k${i}`)))!.put(Buffer.from(`k${i}`), Buffer.from(`${tag}${i}`))));
  // Each node's clock runs on the same physical clock: a stamp taken after the writes is above them.
  const now = (): Glt => clock.stamp();
  return { conns, router, write, now };
}

const keysOf = (r: JobResult) => (r.kind === 'collected' ? r.versions.map((v) => `${v.key.toString()}@${v.ts.wall}.${v.ts.logical}/${v.origin}`) : []);

test('a collect from an unchanged watermark builds on the last one and returns what a fresh collect would', async (t) => {
  const { conns, router, write, now } = await region(t);
  const runner = new RemoteJobRunner(conns, router);
  await runner.loadWatermarks();
  await write(50, 'a');
  const first = await runner.run({ type: 'collect', jobId: 1, T: now(), after: GLT_ZERO });
  await write(50, 'b');
  const T2 = now();
  const second = await runner.run({ type: 'collect', jobId: 2, T: T2, after: GLT_ZERO });
  const fresh = await new RemoteJobRunner(conns, router).run({ type: 'collect', jobId: 3, T: T2, after: GLT_ZERO });
  t.is(keysOf(first).length, 50);
  t.is(keysOf(second).length, 100);
  t.deepEqual(keysOf(second), keysOf(fresh));
});
