import { ElectionCandidate, type CandidateInfo } from '../cluster/election.js';
import { RoleRuntime, findRole } from '../cluster/role-runtime.js';
import { createAetherMetrics } from '../common/metrics.js';
import { Clock } from '../glts/clock.js';
import { formatGlt } from '../glts/glt.js';
import type { Topology } from '../topology/types.js';
import { CommitLog } from './commit-log.js';
import { Coordinator } from './coordinator.js';
import { CoordinatorDriver } from './coordinator-driver.js';
import { PeerDirectory } from './peer-directory.js';
import { COORDINATOR_SIDE, PeerTransport } from './peer-transport.js';

/** What a coordinator candidate announces in the coordinator election. */
export interface CoordinatorCandidateInfo extends CandidateInfo {
  readonly region: string;
  readonly quantum: string;
}

const STATUS_INTERVAL_MS = 1000;

/**
 * The global coordinator role (`aetherflow coordinator --id ID`): campaigns in the
 * deployment's coordinator election; while elected (epoch = its campaign key's
 * revision) it runs the commit loop (kernel/coordinator.ts through
 * kernel/coordinator-driver.ts): leaders' Progress in over Quantum, a commit of the
 * watermark every interval persisted in etcd fenced on its term, then announced.
 */
export async function runCoordinator(topology: Topology, id: string): Promise<void> {
  const spec = findRole('coordinator candidate', topology.coordinators, id);
  const rt = await RoleRuntime.open(topology, { role: 'coordinator', id, region: spec.region, metrics: spec.metrics });
  const stopped = rt.untilShutdown();
  try {
    const regions = topology.regions.map((r) => r.name);
    const metrics = createAetherMetrics(rt.registry, { budgetMs: topology.snapshot.budgetMs });
    rt.onShutdown('metrics', async () => metrics.close());
    const directory = await PeerDirectory.open(rt.etcd, rt.paths, regions, rt.log);
    rt.onShutdown('peer directory', () => directory.close());
    const transport = await PeerTransport.open({
      topology,
      nodeId: id,
      address: spec.quantum,
      self: COORDINATOR_SIDE,
      linkRegion: spec.region,
      directory,
      registry: rt.registry,
      log: rt.log,
    });
    rt.onShutdown('quantum transport', () => transport.close());
    transport.applyPartitions(rt.settings.current.partitions);
    rt.settings.subscribe('partitions', (p) => transport.applyPartitions(p));

    const { intervalMs } = rt.settings.current.snapshot;
    const clock = new Clock({ maxOffsetMs: topology.clock.maxOffsetMs });
    const { silenceMs, lagLimitMs } = topology.snapshot;
    const coordinator = new Coordinator({ id, regions, intervalMs, silenceMs, lagLimitMs, maxOffsetMs: topology.clock.maxOffsetMs }, () => clock.stamp());
    const commits = new CommitLog(rt.etcd, rt.paths, regions);

    // A candidacy per term of campaigning: the Coordinator's `resign` (a persist whose
    // outcome is unknown) ends this one and starts a fresh one, so the process stays a candidate.
    let election: ElectionCandidate<CoordinatorCandidateInfo>;
    let shuttingDown = false;
    const driver = new CoordinatorDriver(
      coordinator,
      transport,
      commits,
      {
        fence: () => election.fence(),
        resign: async () => {
          const old = election;
          await old.resign();
          if (!shuttingDown) campaign();
        },
      },
      metrics,
      rt.log,
      regions,
    );
    transport.onMessage((m) => driver.message(m));
    transport.onHeard((region) => driver.heard(region));
    const status = (): Record<string, unknown> => ({
      state: election.state,
      ...(election.epoch !== undefined ? { epoch: election.epoch.toString(), loop: coordinator.currentState } : {}),
      ...(coordinator.lastCommit ? { lastCommitted: formatGlt(coordinator.lastCommit.T) } : {}),
    });
    const campaign = (): void => {
      const e = new ElectionCandidate<CoordinatorCandidateInfo>(rt.etcd, rt.paths.root, rt.paths.coordinatorElection, { id, region: spec.region, quantum: spec.quantum }, { log: rt.log });
      election = e;
      e.onChange((state, epoch) => {
        if (e !== election) return;
        metrics.setElected('coordinator', id, state === 'leader');
        // Every other state ends the term, also one whose etcd reads are still in flight.
        if (state === 'leader' && epoch !== undefined) void driver.elected(epoch);
        else driver.deposed();
        void rt.publishStatus(status());
      });
      e.start();
    };
    rt.onShutdown('election', async () => {
      shuttingDown = true;
      driver.stop();
      await election.resign();
    });
    rt.health.detail = status;
    metrics.setElected('coordinator', id, false);
    const publisher = setInterval(() => void rt.publishStatus(status()), STATUS_INTERVAL_MS);
    rt.onShutdown('status publisher', async () => clearInterval(publisher));
    campaign();
    await rt.ready(status());
  } catch (err) {
    await rt.shutdown('start failed');
    throw err;
  }
  await stopped;
}
