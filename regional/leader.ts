import { ElectionCandidate, watchLeader, type CandidateInfo, type ElectedLeader } from '../cluster/election.js';
import { RoleRuntime, findRole } from '../cluster/role-runtime.js';
import { createAetherMetrics } from '../common/metrics.js';
import { Clock } from '../glts/clock.js';
import { formatGlt, gltDiffMs } from '../glts/glt.js';
import { CommitLog } from '../kernel/commit-log.js';
import { PeerDirectory } from '../kernel/peer-directory.js';
import { RoundTransport } from '../kernel/round-transport.js';
import type { Topology } from '../topology/types.js';
import { EtcdSnapshotLog } from './etcd-snapshot-log.js';
import { Frontier } from './frontier.js';
import { startLeaderServer } from './leader-server.js';
import { RemoteJobRunner } from './remote-job-runner.js';
import { LeaderDriver } from './round-driver.js';

/** What a leader candidate announces in its region's election. */
export interface LeaderCandidateInfo extends CandidateInfo {
  readonly region: string;
  readonly grpc: string;
  readonly quantum: string;
}

/** How often the registry entry carries a fresh status for `aetherflow status`. */
const STATUS_INTERVAL_MS = 1000;
/** Pause before a new term retries reading its data nodes' state. */
const TERM_RETRY_MS = 500;

/**
 * The regional leader role (`aetherflow leader --id ID`): campaigns in its region's
 * election; while elected it takes part in the snapshot rounds (regional/round.ts through
 * regional/round-driver.ts) and serves KV and Snapshots at its grpc address up to the
 * region's frontier; as a standby it answers UNAVAILABLE NOT_LEADER with the elected
 * leader's address, and on losing the lease it stops serving at once.
 */
export async function runLeader(topology: Topology, id: string): Promise<void> {
  const region = topology.regions.find((r) => r.leaders.some((l) => l.id === id));
  const spec = findRole('leader candidate', topology.regions.flatMap((r) => r.leaders), id);
  const regionName = region!.name;
  const rt = await RoleRuntime.open(topology, { role: 'leader', id, region: regionName, grpc: spec.grpc, metrics: spec.metrics });
  const stopped = rt.untilShutdown();
  try {
    const regions = topology.regions.map((r) => r.name);
    const metrics = createAetherMetrics(rt.registry, { budgetMs: topology.snapshot.budgetMs });
    const commits = new CommitLog(rt.etcd, rt.paths, regions);
    const frontier = new Frontier();
    const snapshotLog = await EtcdSnapshotLog.load(commits, frontier);
    const server = await startLeaderServer({ address: spec.grpc, region: regionName, datanodes: region!.datanodes, frontier, snapshotLog, metrics });
    rt.onShutdown('grpc server', () => server.close());
    const clock = new Clock({ maxOffsetMs: topology.clock.maxOffsetMs });
    const directory = await PeerDirectory.open(rt.etcd, rt.paths, regions, rt.log);
    rt.onShutdown('peer directory', () => directory.close());
    const transport = await RoundTransport.open({ topology, address: spec.quantum, self: regionName, linkRegion: regionName, directory, registry: rt.registry, log: rt.log });
    rt.onShutdown('quantum transport', () => transport.close());
    transport.applyPartitions(rt.settings.current.partitions);
    rt.settings.subscribe('partitions', (p) => transport.applyPartitions(p));

    const driver = new LeaderDriver({
      region: regionName,
      runner: new RemoteJobRunner(server.datanodes, server.router),
      datanodes: server.datanodes,
      sink: transport,
      commits,
      frontier: server.frontier,
      metrics,
      log: rt.log,
      now: () => clock.stamp(),
      retentionSec: () => topology.snapshot.retentionSec,
    });
    transport.onMessage((m) => driver.message(m));
    const stopCommitWatch = await commits.watch(
      {
        commit: (r) => {
          snapshotLog.record(r);
          driver.committed(r);
        },
        membership: (m) => driver.membership(m),
      },
      rt.log,
    );
    rt.onShutdown('commit watch', stopCommitWatch);

    const election = new ElectionCandidate<LeaderCandidateInfo>(
      rt.etcd,
      rt.paths.root,
      rt.paths.leaderElection(regionName),
      { id, region: regionName, grpc: spec.grpc, quantum: spec.quantum },
      { log: rt.log },
    );
    rt.onShutdown('election', async () => {
      // Resign first, so the standby takes over without waiting for the lease to expire.
      driver.stop();
      await election.resign();
      server.setLeadership({ state: 'standby', leader: null });
    });

    const status = (): Record<string, unknown> => ({
      state: election.state,
      ...(election.epoch !== undefined
        ? {
            epoch: election.epoch.toString(),
            frontier: formatGlt(server.frontier.current()),
            lagMs: Math.max(0, Math.round(gltDiffMs(clock.stamp(), server.frontier.current()))),
            ...(driver.currentRound ? { member: !driver.currentRound.isExcluded } : {}),
          }
        : {}),
    });
    let known: ElectedLeader<LeaderCandidateInfo> | undefined;
    const standby = (): void => server.setLeadership({ state: 'standby', leader: known && known.value.id !== id ? known.value.grpc : null });
    const stopWatch = await watchLeader<LeaderCandidateInfo>(rt.etcd, rt.paths.electionPrefix(rt.paths.leaderElection(regionName)), (l) => {
      known = l;
      if (!election.isLeader) standby();
    }, rt.log);
    rt.onShutdown('leader watch', stopWatch);
    const beginTerm = async (): Promise<void> => {
      while (election.isLeader) {
        try {
          // Serve only once the frontier holds the data nodes' persisted one (never below the last term's).
          if ((await driver.start()) && election.isLeader) server.setLeadership({ state: 'elected' });
          return;
        } catch (err) {
          rt.log.warn({ err }, 'starting the round failed (data nodes or etcd); retrying');
          driver.stop();
          await new Promise((resolve) => setTimeout(resolve, TERM_RETRY_MS));
        }
      }
    };
    election.onChange((state) => {
      metrics.setElected('leader', id, state === 'leader');
      if (state === 'leader') {
        void beginTerm();
      } else {
        driver.stop();
        standby();
      }
      void rt.publishStatus(status());
    });

    rt.health.detail = status;
    metrics.setElected('leader', id, false);
    const publisher = setInterval(() => {
      driver.reportLag();
      void rt.publishStatus(status());
    }, STATUS_INTERVAL_MS);
    rt.onShutdown('status publisher', async () => clearInterval(publisher));

    election.start();
    await rt.ready(status());
  } catch (err) {
    await rt.shutdown('start failed');
    throw err;
  }
  await stopped;
}
