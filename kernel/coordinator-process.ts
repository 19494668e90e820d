import { Gauge } from 'prom-client';
import { ElectionCandidate, type CandidateInfo } from '../cluster/election.js';
import { RoleRuntime, findRole } from '../cluster/role-runtime.js';
import type { Topology } from '../topology/types.js';

/** What a coordinator candidate announces in the coordinator election. */
export interface CoordinatorCandidateInfo extends CandidateInfo {
  readonly region: string;
  readonly quantum: string;
}

const STATUS_INTERVAL_MS = 1000;

/**
 * The global coordinator role (`aetherflow coordinator --id ID`): campaigns in the
 * deployment's coordinator election and reports (registry status, /healthz, metrics)
 * whether it is elected and its epoch. The elected coordinator will drive the snapshot
 * rounds (kernel/coordinator.ts) with that epoch.
 */
export async function runCoordinator(topology: Topology, id: string): Promise<void> {
  const spec = findRole('coordinator candidate', topology.coordinators, id);
  const rt = await RoleRuntime.open(topology, { role: 'coordinator', id, region: spec.region, metrics: spec.metrics });
  const stopped = rt.untilShutdown();
  try {
    const election = new ElectionCandidate<CoordinatorCandidateInfo>(
      rt.etcd,
      rt.paths.root,
      rt.paths.coordinatorElection,
      { id, region: spec.region, quantum: spec.quantum },
      { log: rt.log },
    );
    rt.onShutdown(() => election.resign());
    const status = (): Record<string, unknown> => ({ state: election.state, ...(election.epoch !== undefined ? { epoch: election.epoch.toString() } : {}) });
    rt.health.detail = status;
    new Gauge({
      name: 'aetherflow_coordinator_elected',
      help: '1 while this candidate is the elected coordinator',
      registers: [rt.registry],
      collect() {
        this.set(election.isLeader ? 1 : 0);
      },
    });
    new Gauge({
      name: 'aetherflow_coordinator_epoch',
      help: 'epoch (etcd create revision) of the current term, 0 when not elected',
      registers: [rt.registry],
      collect() {
        this.set(Number(election.epoch ?? 0n));
      },
    });
    election.onChange(() => void rt.publishStatus(status()));
    const publisher = setInterval(() => void rt.publishStatus(status()), STATUS_INTERVAL_MS);
    rt.onShutdown(async () => clearInterval(publisher));
    election.start();
    await rt.ready(status());
  } catch (err) {
    await rt.shutdown('start failed');
    throw err;
  }
  await stopped;
}
