import { resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { RoleRuntime, findRole } from '../cluster/role-runtime.js';
import { createAetherMetrics } from '../common/metrics.js';
import type { Topology } from '../topology/types.js';
import { CountedStore } from './counted-store.js';
import { LevelStore } from './level-store.js';
import { startDatanodeServer } from './service.js';

/** At most one progress line per this long while a data dir of the older layout is migrated. */
const MIGRATE_LOG_MS = 1_000;

/**
 * The data node role (`aetherflow datanode --id ID`): opens its LevelStore at its
 * dataDir, serves the DataNode gRPC service to its region's leader, registers in etcd,
 * and serves /metrics and /healthz. Resolves once SIGTERM (or the loss of its
 * supervisor) has closed everything.
 */
export async function runDatanode(topology: Topology, id: string): Promise<void> {
  const region = topology.regions.find((r) => r.datanodes.some((d) => d.id === id));
  const spec = findRole('data node', topology.regions.flatMap((r) => r.datanodes), id);
  const rt = await RoleRuntime.open(topology, { role: 'datanode', id, region: region!.name, grpc: spec.grpc, metrics: spec.metrics });
  const stopped = rt.untilShutdown();
  try {
    const dataDir = resolve(spec.dataDir);
    // A v1 data dir is converted before the node serves (entries in bounded batches); say how far it got.
    let loggedAt = -Infinity;
    const onMigrateProgress = (entriesDone: number) => {
      if (performance.now() - loggedAt < MIGRATE_LOG_MS) return;
      loggedAt = performance.now();
      rt.log.info({ dataDir, entriesDone }, 'migrating the data dir to the current layout');
    };
    const metrics = createAetherMetrics(rt.registry, { budgetMs: topology.snapshot.budgetMs });
    const level = await LevelStore.open({
      path: dataDir,
      origin: id,
      clock: { maxOffsetMs: topology.clock.maxOffsetMs },
      sync: topology.storage.sync,
      onBatchWritten: (b) => metrics.batchWritten(b),
      onMigrateProgress,
    });
    rt.onShutdown('store', () => level.shutdown());
    const store = await CountedStore.open(level, metrics);
    const server = await startDatanodeServer({ address: spec.grpc, store, security: rt.transportSecurity(), leaders: region!.leaders.map((l) => l.id) });
    rt.onShutdown('grpc server', () => server.close());
    rt.health.detail = () => ({ dataDir });
    await rt.ready();
  } catch (err) {
    await rt.shutdown('start failed');
    throw err;
  }
  await stopped;
}
