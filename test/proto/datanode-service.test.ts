import test from 'ava';
import fc from 'fast-check';
import { Clock } from '../../glts/clock.js';
import { GLT_ZERO, WALL_MAX, LOGICAL_MAX, maxGlt, nextGlt } from '../../glts/glt.js';
import { MemoryStore } from '../../datanode/memory-store.js';
import { startDatanodeServer } from '../../datanode/service.js';
import { fromTimestamp, toTimestamp } from '../../proto/timestamp.js';
import { DataNodeConnection } from '../../regional/datanode-connection.js';

test('GLTs cross the wire exactly, up to 2^64-1 ns', (t) => {
  fc.assert(
    fc.property(fc.bigInt({ min: 0n, max: WALL_MAX }), fc.integer({ min: 0, max: LOGICAL_MAX }), (wall, logical) => {
      const g = fromTimestamp({ wall: String(toTimestamp({ wall, logical }).wall), logical })!;
      return g.wall === wall && g.logical === logical;
    }),
    { seed: 7 },
  );
  t.is(fromTimestamp(null), undefined);
  t.throws(() => fromTimestamp({ wall: (WALL_MAX + 1n).toString(), logical: 0 }), { any: true, message: /wall/ });
});

async function node(origin: string) {
  const store = new MemoryStore({ origin, clock: new Clock({ maxOffsetMs: 250 }) });
  const server = await startDatanodeServer({ address: '127.0.0.1:0', store });
  const conn = new DataNodeConnection(origin, server.address);
  return {
    store,
    conn,
    async close() {
      conn.shutdown();
      await server.close(100);
      await store.shutdown();
    },
  };
}

test('close returns the own versions of (from, to] as a delta another node applies', async (t) => {
  const a = await node('a');
  const b = await node('b');
  t.teardown(async () => {
    await a.close();
    await b.close();
  });
  t.is((await a.conn.info()).origin, 'a');
  const v1 = await a.conn.put(Buffer.from('k1'), Buffer.from('one'));
  const v2 = await a.conn.delete(Buffer.from('k0'));
  const to = nextGlt(maxGlt(v1.ts, v2.ts));
  const closed = await a.conn.close(to, GLT_ZERO);
  t.is(closed.versions, 2);
  t.is(await b.conn.applyDelta(closed.delta), 2);
  const got = await b.conn.get(Buffer.from('k1'), to);
  t.is(got?.value.toString(), 'one');
  t.is(got?.origin, 'a');
  // Without `from`, close only closes.
  t.is((await a.conn.close(nextGlt(to))).versions, 0);

  const rows = [];
  for await (const r of b.conn.scan({ prefix: Buffer.from('k') }, to, 0)) rows.push(r.key.toString());
  t.deepEqual(rows, ['k1']);

  await a.conn.setMeta('frontier', to);
  t.deepEqual(await a.conn.getMeta('frontier'), to);
  t.is(await a.conn.getMeta('nothing'), undefined);
  // ApplyDelta with no versions only raises metadata, never lowers it.
  t.is(await a.conn.applyDelta(Buffer.alloc(0), { raiseMeta: [{ name: 'frontier', value: GLT_ZERO }, { name: 'watermark', value: to }] }), 0);
  t.deepEqual(await a.conn.getMeta('frontier'), to);
  t.deepEqual(await a.conn.getMeta('watermark'), to);

  await a.conn.put(Buffer.from('k2'), Buffer.from('two'));
  const restamped = await a.conn.restamp(to);
  t.is(restamped.versions, 1);
  t.true(restamped.delta.length > 0);

  t.true((await a.conn.gc(to)) >= 0);
  const err = await t.throwsAsync(a.conn.get(Buffer.from('k1'), GLT_ZERO));
  t.is((err as any).code, 'SNAPSHOT_COLLECTED');
  const scanErr = await t.throwsAsync(async () => {
    for await (const _ of a.conn.scan({ start: Buffer.alloc(0) }, GLT_ZERO, 0));
  });
  t.is((scanErr as any).code, 'SNAPSHOT_COLLECTED');
});

test('a store error reaches the leader with its code', async (t) => {
  const a = await node('a');
  t.teardown(() => a.close());
  const err = await t.throwsAsync(a.conn.put(Buffer.alloc(5000), Buffer.alloc(1)));
  t.is((err as any).code, 'KEY_TOO_LARGE');
  const bad = await t.throwsAsync(a.conn.applyDelta(Buffer.from('not a delta')));
  t.is((bad as any).code, 'DELTA_CORRUPT');
});
