import type { Etcd3 } from 'etcd3';
import { currentLeader } from '../cluster/election.js';
import { connectEtcd } from '../cluster/etcd.js';
import type { EtcdCredentials } from '../topology/etcd-credentials.js';
import { clusterPaths, type ClusterPaths } from '../cluster/paths.js';

/** How long a client waits for etcd before falling back to trying the candidates. */
export const DISCOVERY_TIMEOUT_MS = 1_000;

/**
 * Reads a region's elected leader from etcd (its election key carries the leader's grpc
 * address), so a client goes to the right candidate first. Advisory only: any failure
 * answers undefined and the client tries the topology's candidates as without it.
 */
export class LeaderDiscovery {
  private readonly etcd: Etcd3;
  private readonly paths: ClusterPaths;

  constructor(deploymentName: string, endpoints: readonly string[], credentials?: EtcdCredentials) {
    this.etcd = connectEtcd(endpoints, { dialTimeoutMs: DISCOVERY_TIMEOUT_MS, ...(credentials ? { credentials } : {}) });
    this.paths = clusterPaths(deploymentName);
  }

  async leaderOf(region: string): Promise<string | undefined> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<undefined>((resolve) => (timer = setTimeout(() => resolve(undefined), DISCOVERY_TIMEOUT_MS)));
    const read = currentLeader(this.etcd, this.paths.electionPrefix(this.paths.leaderElection(region))).then(
      (l) => (typeof l?.value['grpc'] === 'string' ? l.value['grpc'] : undefined),
      () => undefined,
    );
    try {
      return await Promise.race([read, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  close(): void {
    this.etcd.close();
  }
}
