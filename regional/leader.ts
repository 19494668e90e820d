import { ElectionCandidate, watchLeader, type CandidateInfo, type ElectedLeader } from '../cluster/election.js';
import { RoleRuntime, findRole } from '../cluster/role-runtime.js';
import { createAetherMetrics } from '../common/metrics.js';
import { Clock, systemPhysicalNs } from '../glts/clock.js';
import { formatGlt, gltDiffMs, type Glt } from '../glts/glt.js';
import { CommitLog } from '../kernel/commit-log.js';
import { PeerDirectory } from '../kernel/peer-directory.js';
import { PeerTransport } from '../kernel/peer-transport.js';
import { encodeMessage } from '../kernel/wire.js';
import type { Message } from '../kernel/messages.js';
import type { CommitRecord } from '../kernel/records.js';
import type { Topology } from '../topology/types.js';
import { AdmissionGate } from './admission.js';
import { EtcdSnapshotLog, SNAPSHOT_LOG_PRELOAD } from './etcd-snapshot-log.js';
import { Frontier } from './frontier.js';
import { startLeaderServer } from './leader-server.js';
import { RemoteRegionStores } from './remote-region-stores.js';
import { DEFAULT_LIMITS, DEFAULT_TIMING, type ReplicatorConfig } from './replicator.js';
import { ReplicatorDriver } from './replicator-driver.js';

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
/** With no commit announced for this long, the leader reads the newest from etcd. */
const COMMIT_POLL_MS = 500;
/** A feed batch is sent this soon after the node's writes land (the freshness it costs)… */
const FEED_BATCH_DELAY_MS = 2;
/** …and, while writes keep coming, at most this often (every batch costs messages in every region). */
const FEED_BATCH_GAP_MS = 10;

/** The replicator's configuration for `region` of a topology. */
export function replicatorConfig(topology: Topology, region: string): ReplicatorConfig {
  const byRegion = new Map(topology.regions.map((r) => [r.name, r.datanodes.map((d) => d.id).sort()]));
  const timing = { ...DEFAULT_TIMING, markDelayMs: idleMarkMs(topology) };
  return { region, regions: topology.regions.map((r) => r.name), originIds: (r) => byRegion.get(r) ?? [], timing, limits: DEFAULT_LIMITS };
}

/** How often an idle data node moves its closed mark while versions flow in the deployment (docs/architecture.md "The snapshot pipeline": about every intervalMs/2). */
export function idleMarkMs(topology: Topology): number {
  return Math.max(1, Math.floor(topology.snapshot.intervalMs / 2));
}

/**
 * How often it does when nothing was written anywhere for a while: the frontier then
 * trails the clock by up to this (reads see the same data — there is nothing newer), well
 * inside lagLimitMs, and the first write makes every region active again within a link
 * delay (nudges).
 */
export function quietMarkMs(topology: Topology): number {
  return Math.max(idleMarkMs(topology), Math.min(500, Math.floor(topology.snapshot.lagLimitMs / 2)));
}

/**
 * The regional leader role (`aetherflow leader --id ID`): campaigns in its region's
 * election; while elected it runs the region's side of the v2 pipeline
 * (regional/replicator.ts through regional/replicator-driver.ts): its data nodes' feeds
 * shipped to every other region, theirs applied here, progress to the coordinator, the
 * frontier advanced at each commit it can serve; and it serves KV and Snapshots at its
 * grpc address up to the region's frontier. As a standby it answers UNAVAILABLE
 * NOT_LEADER with the elected leader's address, and on losing the lease it stops at once.
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
    rt.onShutdown('metrics', async () => metrics.close());
    const commits = new CommitLog(rt.etcd, rt.paths, regions);
    const frontier = new Frontier();
    const snapshotLog = await EtcdSnapshotLog.load(commits, frontier);
    const clock = new Clock({ maxOffsetMs: topology.clock.maxOffsetMs });
    let driver: ReplicatorDriver | undefined;
    const admission = new AdmissionGate(
      topology.snapshot.admission,
      () => {
        const r = driver?.replicator;
        const closed = r?.ownClosed();
        return r && closed ? { lagMs: gltDiffMs(clock.stamp(), closed), unshippedBytes: r.unshippedBytes() } : undefined;
      },
      metrics,
    );
    const server = await startLeaderServer({ address: spec.grpc, region: regionName, datanodes: region!.datanodes, frontier, snapshotLog, metrics, admission, security: rt.transportSecurity() });
    rt.onShutdown('grpc server', () => server.close());
    const directory = await PeerDirectory.open(rt.etcd, rt.paths, regions, rt.log);
    rt.onShutdown('peer directory', () => directory.close());
    const transport = await PeerTransport.open({ topology, nodeId: id, address: spec.quantum, self: regionName, linkRegion: regionName, directory, registry: rt.registry, log: rt.log });
    rt.onShutdown('quantum transport', () => transport.close());
    transport.applyPartitions(rt.settings.current.partitions);
    rt.settings.subscribe('partitions', (p) => transport.applyPartitions(p));

    const config = replicatorConfig(topology, regionName);
    // A Ship of the own stream goes to every peer as the same bytes: encoded once per batch.
    const encoded = new WeakMap<Buffer, Buffer>();
    const sink = {
      knows: (to: string) => transport.knows(to),
      send: (to: string, m: Message, settled?: (delivered: boolean) => void): number => {
        if (m.type !== 'ship' || m.origin !== regionName) return transport.send(to, m, settled);
        let bytes = encoded.get(m.delta);
        if (!bytes) encoded.set(m.delta, (bytes = encodeMessage(m)));
        return transport.sendEncoded(to, m, bytes, settled);
      },
    };
    const stores = new RemoteRegionStores(server.datanodes, (key) => server.router.route(key));
    driver = new ReplicatorDriver({
      config,
      stores,
      openFeed: (node, from, options) => server.datanodes.get(node)!.feed(from, options),
      nudge: async () => {
        await Promise.all([...server.datanodes.values()].map((n) => n.nudge()));
      },
      feedOptions: {
        maxBatchBytes: Math.floor(config.limits.maxBatchBytes / Math.max(1, region!.datanodes.length)),
        batchDelayMs: FEED_BATCH_DELAY_MS,
        batchGapMs: FEED_BATCH_GAP_MS,
        idleMarkMs: idleMarkMs(topology),
        quietMarkMs: quietMarkMs(topology),
        activeForMs: 2 * config.timing.nudgeEveryMs,
      },
      sink,
      commits,
      frontier: server.frontier,
      metrics,
      log: rt.log,
      now: () => clock.stamp(),
      retentionSec: () => topology.snapshot.retentionSec,
    });
    const d = driver;
    let announcedAtMs = 0;
    transport.onMessage((m) => {
      if (m.type === 'commit') {
        announcedAtMs = performance.now();
        snapshotLog.record(m.record, m.persistMs);
      }
      d.message(m);
    });
    directory.onChange((name) => d.peerChanged(name));
    // Only an elected leader follows the commits (a standby would decode every one for
    // nothing): the snapshot log catches up on the newest at each term; then commits come
    // announced over Quantum, and etcd is read for the newest one only when announcements
    // stop (lost, or the coordinator cannot reach us): a watch of every record cost each
    // leader one etcd event per commit. Membership changes are rare: watched.
    let stopCommitWatch: (() => Promise<void>) | undefined;
    let commitPoll: NodeJS.Timeout | undefined;
    const learnCommit = (r: CommitRecord): void => {
      snapshotLog.record(r);
      d.committed(r);
    };
    const watchCommits = async (): Promise<void> => {
      for (const r of await commits.recent(SNAPSHOT_LOG_PRELOAD)) snapshotLog.record(r);
      stopCommitWatch = await commits.watch({ commit: learnCommit, membership: (m) => d.membership(m) }, rt.log, { commits: false });
      commitPoll = setInterval(() => {
        if (performance.now() - announcedAtMs < COMMIT_POLL_MS) return;
        commits.last().then((r) => r && learnCommit(r), (err: unknown) => rt.log.debug({ err }, 'reading the last commit failed'));
      }, COMMIT_POLL_MS);
    };
    const unwatchCommits = async (): Promise<void> => {
      clearInterval(commitPoll);
      const stop = stopCommitWatch;
      stopCommitWatch = undefined;
      await stop?.();
    };
    rt.onShutdown('commit watch', unwatchCommits);

    metrics.live.nowNs = systemPhysicalNs;
    metrics.live.frontier = () => (election.isLeader ? { region: regionName, wallNs: server.frontier.current().wall } : undefined);
    metrics.live.replicationLagMs = () => d.replicator?.lagMs(clock.stamp()) ?? new Map();

    const election = new ElectionCandidate<LeaderCandidateInfo>(
      rt.etcd,
      rt.paths.root,
      rt.paths.leaderElection(regionName),
      { id, region: regionName, grpc: spec.grpc, quantum: spec.quantum },
      { log: rt.log },
    );
    rt.onShutdown('election', async () => {
      // Resign first, so the standby takes over without waiting for the lease to expire.
      d.stop();
      admission.close();
      await election.resign();
      server.setLeadership({ state: 'standby', leader: null });
    });

    const status = (): Record<string, unknown> => {
      const r = d.replicator;
      // One clock reading for every lag, published as `at` (Unix ms) so a reader knows how old they are
      // (a standby publishes none: its constant status is not rewritten every second).
      const now = clock.stamp();
      const lagOf = (t: Glt | undefined): number | null => (t ? Math.max(0, Math.round(gltDiffMs(now, t))) : null);
      return {
        state: election.state,
        ...(election.epoch !== undefined
          ? {
              epoch: election.epoch.toString(),
              at: Number(now.wall / 1_000_000n),
              frontier: formatGlt(server.frontier.current()),
              lagMs: lagOf(server.frontier.current()),
              ...(r?.running
                ? {
                    member: !r.isExcluded,
                    closedLagMs: lagOf(r.ownClosed()),
                    appliedLagMs: Object.fromEntries([...r.applied()].map(([o, t]) => [o, lagOf(t)])),
                    ...(r.blocked ? { blocked: r.blocked } : {}),
                  }
                : {}),
            }
          : {}),
      };
    };
    let known: ElectedLeader<LeaderCandidateInfo> | undefined;
    const standby = (): void => server.setLeadership({ state: 'standby', leader: known && known.value.id !== id ? known.value.grpc : null });
    const stopWatch = await watchLeader<LeaderCandidateInfo>(rt.etcd, rt.paths.electionPrefix(rt.paths.leaderElection(regionName)), (l) => {
      known = l;
      if (!election.isLeader) standby();
    }, rt.log);
    rt.onShutdown('leader watch', stopWatch);
    const beginTerm = async (epoch: bigint): Promise<void> => {
      while (election.isLeader) {
        try {
          // Serve only once the frontier holds the data nodes' persisted one (never below the last term's).
          if (!(await d.start(epoch)) || !election.isLeader) return;
          await watchCommits();
          if (election.isLeader) server.setLeadership({ state: 'elected' });
          return;
        } catch (err) {
          rt.log.warn({ err }, 'starting the term failed (data nodes or etcd); retrying');
          d.stop();
          await unwatchCommits();
          await new Promise((resolve) => setTimeout(resolve, TERM_RETRY_MS));
        }
      }
    };
    election.onChange((state, epoch) => {
      metrics.setElected('leader', id, state === 'leader');
      if (state === 'leader' && epoch !== undefined) {
        void beginTerm(epoch);
      } else {
        d.stop();
        void unwatchCommits();
        admission.close();
        standby();
      }
      void rt.publishStatus(status());
    });

    rt.health.detail = status;
    metrics.setElected('leader', id, false);
    const publisher = setInterval(() => void rt.publishStatus(status()), STATUS_INTERVAL_MS);
    rt.onShutdown('status publisher', async () => clearInterval(publisher));

    election.start();
    await rt.ready(status());
  } catch (err) {
    await rt.shutdown('start failed');
    throw err;
  }
  await stopped;
}
