import { setTimeout as sleep } from 'node:timers/promises';
import { compareGlt, nextGlt, type Glt } from '../../glts/glt.js';
import { MemoryStore } from '../../datanode/memory-store.js';
import { startDatanodeServer } from '../../datanode/service.js';
import type { ServerHandle } from '../../proto/server.js';
import { startLeaderServer, type LeaderServerHandle } from '../../regional/leader-server.js';
import type { ApiLimits } from '../../regional/api-limits.js';
import type { SecuritySpec, Topology } from '../../topology/types.js';
import { testNodeSecurity, testSecuritySpec } from '../security/fixture.js';

/**
 * One region in this process on loopback ephemeral ports: data node servers over
 * MemoryStores, two leader candidates (l1 elected, l2 standby pointing at l1), and the
 * topology a client needs to find them — secure, as a deployment is by default, with the
 * test file's certificates (test/security/fixture.ts).
 */
export interface TestRegion {
  readonly topology: Topology;
  readonly stores: MemoryStore[];
  readonly datanodes: ServerHandle[];
  readonly leaders: LeaderServerHandle[];
  close(): Promise<void>;
}

/** A one-region topology naming these leader candidates and data nodes (in this order), with the defaults of a topology file. */
export function testTopology(
  region: string,
  leaders: readonly { readonly id: string; readonly grpc: string }[],
  datanodes: readonly { readonly id: string; readonly grpc: string }[],
  security: SecuritySpec,
): Topology {
  return {
    version: 1,
    name: 'test',
    file: '/dev/null',
    etcd: { endpoints: [], members: 1, dataDir: '.aetherflow/etcd' },
    clock: { maxOffsetMs: 250 },
    snapshot: { intervalMs: 50, budgetMs: 50, retentionSec: 600, silenceMs: 300, lagLimitMs: 1000, admission: { maxLagMs: 500, maxUnshippedBytes: 16 << 20, waitMs: 2000 } },
    regions: [
      {
        name: region,
        leaders: leaders.map((l, i) => ({ ...l, quantum: `127.0.0.1:${20000 + i}`, metrics: `127.0.0.1:${21000 + i}` })),
        datanodes: datanodes.map((d, i) => ({ ...d, dataDir: `unused/${i}`, metrics: `127.0.0.1:${22000 + i}` })),
      },
    ],
    coordinators: [{ id: 'c1', region, quantum: '127.0.0.1:23000', metrics: '127.0.0.1:23001' }],
    links: { default: { delayMs: 0, jitterMs: 0, loss: 0 }, overrides: [] },
    storage: { sync: true },
    security,
    warnings: [],
  };
}

export async function startTestRegion(options: { readonly datanodes?: number; readonly limits?: ApiLimits; readonly region?: string } = {}): Promise<TestRegion> {
  const region = options.region ?? 'r1';
  const stores = Array.from({ length: options.datanodes ?? 2 }, (_, i) => new MemoryStore({ origin: `${region}-d${i + 1}`, clock: { maxOffsetMs: 250 } }));
  const leaderIds = [`${region}-l1`, `${region}-l2`];
  const datanodes = await Promise.all(
    stores.map(async (store) => startDatanodeServer({ address: '127.0.0.1:0', store, security: await testNodeSecurity(store.origin), leaders: leaderIds })),
  );
  const nodeSpecs = stores.map((s, i) => ({ id: s.origin, grpc: datanodes[i]!.address }));
  const leaders: LeaderServerHandle[] = [];
  for (const id of leaderIds) {
    leaders.push(
      await startLeaderServer({ address: '127.0.0.1:0', region, datanodes: nodeSpecs, security: await testNodeSecurity(id), ...(options.limits ? { limits: options.limits } : {}) }),
    );
  }
  leaders[0]!.setLeadership({ state: 'elected' });
  leaders[1]!.setLeadership({ state: 'standby', leader: leaders[0]!.address });
  // The standby first, so a client starts at the wrong candidate and must follow the hint.
  const topology = testTopology(
    region,
    [1, 0].map((i) => ({ id: leaderIds[i]!, grpc: leaders[i]!.address })),
    nodeSpecs,
    await testSecuritySpec([...leaderIds, ...stores.map((s) => s.origin)]),
  );
  return {
    topology,
    stores,
    datanodes,
    leaders,
    async close() {
      await Promise.all(leaders.map((l) => l.close(100)));
      await Promise.all(datanodes.map((d) => d.close(100)));
      await Promise.all(stores.map((s) => s.shutdown()));
    },
  };
}

/**
 * What a commit does for a region served without a coordinator: once every data node's
 * closed mark has reached `t` (marks are clock readings, so they pass any stamp already
 * taken), the elected leader's frontier moves to `t`.
 */
export async function advanceFrontier(r: TestRegion, t: Glt): Promise<void> {
  const elected = r.leaders.find((l) => l.leadership().state === 'elected');
  if (!elected) throw new Error('no elected leader to advance');
  while (!(await Promise.all(r.stores.map((s) => s.closedMark()))).every((mark) => compareGlt(mark, t) >= 0)) await sleep(1);
  elected.frontier.advance(t);
}

/** Advances the elected leader's frontier to `past`, or just above it when it is already there; returns the new frontier. */
export async function advanceFrontierPast(r: TestRegion, past: Glt): Promise<Glt> {
  const elected = r.leaders.find((l) => l.leadership().state === 'elected');
  if (!elected) throw new Error('no elected leader to advance');
  const cur = elected.frontier.current();
  const t = compareGlt(past, cur) > 0 ? past : nextGlt(cur);
  await advanceFrontier(r, t);
  return t;
}
