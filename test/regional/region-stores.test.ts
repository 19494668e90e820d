import test from 'ava';
import { AetherError } from '../../common/errors.js';
import { decodeVersions, encodeVersions, frameDelta } from '../../datanode/delta.js';
import { MemoryStore } from '../../datanode/memory-store.js';
import { startDatanodeServer } from '../../datanode/service.js';
import type { Store } from '../../datanode/store.js';
import type { Version } from '../../datanode/version.js';
import { GLT_ZERO, compareGlt, glt, type Glt } from '../../glts/glt.js';
import type { ServerHandle } from '../../proto/server.js';
import { DataNodeConnection } from '../../regional/datanode-connection.js';
import { testNodeSecurity } from '../security/fixture.js';
import { LocalRegionStores } from '../../regional/local-region-stores.js';
import type { RegionStores } from '../../regional/region-stores.js';
import { RemoteRegionStores } from '../../regional/remote-region-stores.js';

/** n4 is in the region but the router never picks it: it still gets every position. */
const NODES = ['n3', 'n1', 'n4', 'n2'];
const route = (key: Buffer) => `n${1 + (key[key.length - 1]! % 3)}`;

/** A region of MemoryStores behind LocalRegionStores or, over gRPC, RemoteRegionStores; `log` lists the stores' calls in order. */
async function region(kind: 'local' | 'remote') {
  const stores = new Map(NODES.map((id) => [id, new MemoryStore({ origin: id, clock: { maxOffsetMs: 250 } })] as const));
  const log: string[] = [];
  const logged = (id: string, s: Store): Store =>
    new Proxy(s, {
      get(target, prop) {
        const v = Reflect.get(target, prop, target) as unknown;
        if (typeof v !== 'function') return v;
        return (...args: unknown[]) => {
          log.push(`${id}.${String(prop)}`);
          return (v as (...a: unknown[]) => unknown).apply(target, args);
        };
      },
    });
  const servers: ServerHandle[] = [];
  const conns: DataNodeConnection[] = [];
  let rs: RegionStores;
  if (kind === 'local') {
    rs = new LocalRegionStores(new Map(NODES.map((id) => [id, logged(id, stores.get(id)!)])), route);
  } else {
    for (const id of NODES) {
      const server = await startDatanodeServer({ address: '127.0.0.1:0', store: logged(id, stores.get(id)!), security: await testNodeSecurity(id), leaders: ['leader'] });
      servers.push(server);
      conns.push(new DataNodeConnection(id, server.address, await testNodeSecurity('leader')));
    }
    rs = new RemoteRegionStores(new Map(conns.map((c) => [c.id, c])), route);
  }
  return {
    rs,
    stores,
    log,
    async close() {
      for (const c of conns) c.shutdown();
      await Promise.all(servers.map((s) => s.close(100)));
      await Promise.all([...stores.values()].map((s) => s.shutdown()));
    },
  };
}

/** Versions of region r2's data nodes x1 and x2: 40 keys, some written by both, stamped above `base`. */
function remoteVersions(base: Glt): Version[] {
  const out: Version[] = [];
  for (let i = 0; i < 40; i++) {
    const key = Buffer.from(`key-${i}`);
    out.push({ key, value: Buffer.from(`x1:${i}`), ts: glt(base.wall + BigInt(i * 1000)), origin: 'x1' });
    if (i % 4 === 0) out.push({ key, value: i % 8 === 0 ? null : Buffer.from(`x2:${i}`), ts: glt(base.wall + BigInt(i * 1000 + 500)), origin: 'x2' });
  }
  return out;
}

const id = (v: Version) => `${v.origin}/${v.key.toString()}@${v.ts.wall}.${v.ts.logical}`;

async function setup(t: import('ava').ExecutionContext, kind: 'local' | 'remote') {
  const r = await region(kind);
  t.teardown(() => r.close());
  const base = await r.stores.get('n1')!.closedMark();
  const versions = remoteVersions(base);
  const to = glt(base.wall + 50_000n);
  // Two deltas, as two Ship batches of one stream.
  const deltas = [frameDelta(encodeVersions(versions.slice(0, 25))), frameDelta(encodeVersions(versions.slice(25)))];
  return { ...r, versions, to, deltas };
}

for (const kind of ['local', 'remote'] as const) {
  test(`${kind}: apply routes every version to its key's node and raises every node's position`, async (t) => {
    const { rs, stores, versions, to, deltas } = await setup(t, kind);
    t.deepEqual(rs.nodes, ['n1', 'n2', 'n3', 'n4']);
    const frontier = glt(to.wall - 1n);
    await rs.apply(1n, [{ region: 'r2', to, deltas }], frontier);
    const held: string[] = [];
    for (const [nid, s] of stores) {
      for (const origin of ['x1', 'x2']) {
        const mine = decodeVersions((await s.changes(origin, GLT_ZERO, to, 1 << 20)).versions);
        t.true(mine.every((v) => route(v.key) === nid), `${nid} holds only its keys`);
        held.push(...mine.map(id));
      }
      const state = await s.streamState();
      t.deepEqual(state.applied.get('r2'), to, `${nid}'s position`);
      t.deepEqual(state.frontier, frontier);
    }
    t.deepEqual(held.sort(), versions.map(id).sort(), 'each version on exactly one node');
    const state = await rs.loadState();
    t.deepEqual(state.applied.get('r2'), to);
    t.deepEqual(state.frontier, frontier);
    t.is(state.membershipApplied, 0);
    // A node that reads a key sees the LWW winner among the region's versions.
    const n1 = stores.get(route(Buffer.from('key-4')))!;
    t.is((await n1.get(Buffer.from('key-4'), to))?.value.toString(), 'x2:4');
    t.is(await n1.get(Buffer.from('key-8'), to).then((r) => r ?? 'deleted'), 'deleted');
  });

  test(`${kind}: read joins the nodes' change indexes, and byte-limited reads cover every version once`, async (t) => {
    const { rs, versions, to, deltas } = await setup(t, kind);
    await rs.apply(1n, [{ region: 'r2', to, deltas }]);
    const whole = await rs.read(['x1', 'x2'], GLT_ZERO, to, 1 << 20);
    t.deepEqual(whole.end, to);
    t.deepEqual(decodeVersions(whole.batch).map(id).sort(), versions.map(id).sort());
    t.deepEqual(whole.horizon, GLT_ZERO);
    t.is((await rs.read(['x2'], GLT_ZERO, to, 1 << 20)).batch.count, versions.filter((v) => v.origin === 'x2').length);

    const seen: string[] = [];
    let from = GLT_ZERO;
    let reads = 0;
    while (compareGlt(from, to) < 0) {
      const r = await rs.read(['x1', 'x2'], from, to, 400);
      t.true(compareGlt(r.end, from) > 0, 'every read makes progress');
      const got = decodeVersions(r.batch);
      t.true(got.every((v) => compareGlt(v.ts, from) > 0 && compareGlt(v.ts, r.end) <= 0), 'a read holds (from, end] only');
      seen.push(...got.map(id));
      from = r.end;
      reads++;
    }
    t.true(reads > 3, `${reads} reads`);
    t.deepEqual(seen.sort(), versions.map(id).sort());
  });

  test(`${kind}: hide and restamp report done once every node is; gc raises the region's horizon`, async (t) => {
    const { rs, stores, versions, to, deltas } = await setup(t, kind);
    await rs.apply(1n, [{ region: 'r2', to, deltas }]);
    const above = versions[20]!.ts;
    let calls = 0;
    while (!(await rs.hide(2n, ['x1', 'x2'], above, 2))) calls++;
    t.true(calls >= 2, 'one chunk of 2 per node per call');
    const hiddenNow = await rs.read(['x1', 'x2'], GLT_ZERO, to, 1 << 20);
    t.is(hiddenNow.batch.count, versions.length, 'the change index keeps hidden versions');
    const floor = glt(to.wall + 1n);
    for (let i = 0; !(await rs.restamp(2n, { origins: ['x1', 'x2'], above, upTo: to, floor }, 5)); i++) t.true(i < 50);
    await rs.setMembershipApplied(2n, 4);
    t.is((await rs.loadState()).membershipApplied, 4);
    // A node collects only below what its clock has passed (the region's commits are).
    for (const s of stores.values()) await s.closedMark();
    await rs.gc(versions[3]!.ts);
    t.deepEqual((await rs.loadState()).horizon, versions[3]!.ts);
    t.deepEqual((await rs.read(['x1'], versions[10]!.ts, to, 1 << 20)).horizon, versions[3]!.ts);
  });

  test(`${kind}: a node's refusal fails the call with its code`, async (t) => {
    const { rs, to, deltas } = await setup(t, kind);
    // A leader of epoch 3 reaches every node (an apply with nothing to write would reach none).
    await rs.setMembershipApplied(3n, 0);
    const err = await t.throwsAsync(rs.apply(2n, [{ region: 'r2', to, deltas }]), { instanceOf: AetherError });
    t.is(err.code, 'FENCED');
    const stray = new LocalRegionStores(new Map([['n1', new MemoryStore({ origin: 'n1', clock: { maxOffsetMs: 250 } })]]), () => 'n9');
    const unknown = await t.throwsAsync(stray.apply(1n, [{ region: 'r2', to, deltas }]), { instanceOf: AetherError });
    t.is(unknown.code, 'UNKNOWN_ID');
  });
}

test('LocalRegionStores calls the nodes one at a time, in id order', async (t) => {
  const { rs, log, to, deltas } = await setup(t, 'local');
  await rs.apply(1n, [{ region: 'r2', to, deltas }]);
  t.deepEqual(log, ['n1.apply', 'n2.apply', 'n3.apply', 'n4.apply']);
  log.length = 0;
  await rs.read(['x2', 'x1'], GLT_ZERO, to, 1 << 20);
  t.deepEqual(log, ['n1.changes', 'n1.changes', 'n2.changes', 'n2.changes', 'n3.changes', 'n3.changes', 'n4.changes', 'n4.changes', 'n1.horizon', 'n2.horizon', 'n3.horizon', 'n4.horizon']);
});
