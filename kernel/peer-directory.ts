import type { Etcd3 } from 'etcd3';
import { silentLogger, type Logger } from '../common/log.js';
import { watchLeader, type CandidateInfo } from '../cluster/election.js';
import type { ClusterPaths } from '../cluster/paths.js';
import { COORDINATOR } from './messages.js';

/** What the round needs of an elected candidate's election value: where to reach it over Quantum. */
interface QuantumCandidate extends CandidateInfo {
  readonly quantum: string;
}

/**
 * Round messages are addressed by region name, or COORDINATOR; this resolves them to the
 * Quantum address of that region's elected leader (or of the elected coordinator), kept
 * current by watching the elections in etcd. Unknown while nobody is elected.
 */
export class PeerDirectory {
  private readonly addresses = new Map<string, string>();
  private readonly stops: (() => Promise<void>)[] = [];

  private constructor() {}

  static async open(etcd: Etcd3, paths: ClusterPaths, regions: readonly string[], log: Logger = silentLogger()): Promise<PeerDirectory> {
    const dir = new PeerDirectory();
    const elections: [string, string][] = [[COORDINATOR, paths.coordinatorElection], ...regions.map((r): [string, string] => [r, paths.leaderElection(r)])];
    try {
      for (const [name, election] of elections) {
        dir.stops.push(
          await watchLeader<QuantumCandidate>(
            etcd,
            paths.electionPrefix(election),
            (l) => {
              if (l && typeof l.value.quantum === 'string') dir.addresses.set(name, l.value.quantum);
              else dir.addresses.delete(name);
            },
            log,
          ),
        );
      }
    } catch (err) {
      await dir.close();
      throw err;
    }
    return dir;
  }

  /** The Quantum address of `name` (a region or COORDINATOR), or undefined while nobody is elected. */
  resolve(name: string): string | undefined {
    return this.addresses.get(name);
  }

  async close(): Promise<void> {
    for (const stop of this.stops.splice(0)) await stop();
  }
}
