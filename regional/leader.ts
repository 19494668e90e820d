import { Gauge } from 'prom-client';
import { ElectionCandidate, watchLeader, type CandidateInfo, type ElectedLeader } from '../cluster/election.js';
import { RoleRuntime, findRole } from '../cluster/role-runtime.js';
import { Clock } from '../glts/clock.js';
import { compareGlt, formatGlt, gltDiffMs } from '../glts/glt.js';
import type { Topology } from '../topology/types.js';
import { startLeaderServer, type LeaderServerHandle } from './leader-server.js';

/** What a leader candidate announces in its region's election. */
export interface LeaderCandidateInfo extends CandidateInfo {
  readonly region: string;
  readonly grpc: string;
  readonly quantum: string;
}

/** How often the registry entry carries a fresh status for `aetherflow status`. */
const STATUS_INTERVAL_MS = 1000;
/** Repeated failures of the frontier tick are logged at most this often. */
const TICK_WARN_INTERVAL_MS = 5000;
/** Longest a new term waits for its data nodes before serving (see beginTerm). */
const TERM_CATCH_UP_MS = 1000;

/**
 * The regional leader role (`aetherflow leader --id ID`): campaigns in its region's
 * election; while elected it serves KV and Snapshots at its grpc address, as a standby
 * it answers UNAVAILABLE NOT_LEADER with the elected leader's address, and on losing
 * the lease it stops serving at once.
 */
export async function runLeader(topology: Topology, id: string): Promise<void> {
  const region = topology.regions.find((r) => r.leaders.some((l) => l.id === id));
  const spec = findRole('leader candidate', topology.regions.flatMap((r) => r.leaders), id);
  const regionName = region!.name;
  const rt = await RoleRuntime.open(topology, { role: 'leader', id, region: regionName, grpc: spec.grpc, metrics: spec.metrics });
  const stopped = rt.untilShutdown();
  try {
    const server = await startLeaderServer({ address: spec.grpc, region: regionName, datanodes: region!.datanodes });
    rt.onShutdown(() => server.close());
    const clock = new Clock({ maxOffsetMs: topology.clock.maxOffsetMs });
    const election = new ElectionCandidate<LeaderCandidateInfo>(
      rt.etcd,
      rt.paths.root,
      rt.paths.leaderElection(regionName),
      { id, region: regionName, grpc: spec.grpc, quantum: spec.quantum },
      { log: rt.log },
    );
    const ticker = new PreRoundFrontier(server, clock, rt);
    rt.onShutdown(async () => {
      // Resign first, so the standby takes over without waiting for the lease to expire.
      ticker.stop();
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
          }
        : {}),
    });
    let known: ElectedLeader<LeaderCandidateInfo> | undefined;
    const standby = (): void => server.setLeadership({ state: 'standby', leader: known && known.value.id !== id ? known.value.grpc : null });
    const stopWatch = await watchLeader<LeaderCandidateInfo>(rt.etcd, rt.paths.electionPrefix(rt.paths.leaderElection(regionName)), (l) => {
      known = l;
      if (!election.isLeader) standby();
    }, rt.log);
    rt.onShutdown(stopWatch);
    election.onChange((state) => {
      if (state === 'leader') {
        void ticker.beginTerm(() => election.isLeader);
      } else {
        ticker.stop();
        standby();
      }
      void rt.publishStatus(status());
    });

    rt.health.detail = status;
    registerLeaderMetrics(rt, election, () => gltDiffMs(clock.stamp(), server.frontier.current()));
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

/** Gauges read at scrape time, so they never disagree with /healthz. */
function registerLeaderMetrics(rt: RoleRuntime, election: ElectionCandidate<LeaderCandidateInfo>, frontierLagMs: () => number): void {
  new Gauge({
    name: 'aetherflow_leader_elected',
    help: "1 while this candidate is its region's elected leader",
    registers: [rt.registry],
    collect() {
      this.set(election.isLeader ? 1 : 0);
    },
  });
  new Gauge({
    name: 'aetherflow_leader_epoch',
    help: 'epoch (etcd create revision) of the current term, 0 when standby',
    registers: [rt.registry],
    collect() {
      this.set(Number(election.epoch ?? 0n));
    },
  });
  new Gauge({
    name: 'aetherflow_region_frontier_lag_seconds',
    help: "how far the region's frontier is behind this process's clock (elected leader only, else 0)",
    registers: [rt.registry],
    collect() {
      this.set(election.isLeader ? Math.max(0, frontierLagMs() / 1000) : 0);
    },
  });
}

/**
 * PRE-ROUND BEHAVIOUR, replaced by the snapshot round: until rounds run, the elected
 * leader closes its data nodes at its clock's now every `snapshot.intervalMs` and
 * advances the region's frontier to it, so reads at the frontier see the region's own
 * writes. One close is in flight at a time.
 */
class PreRoundFrontier {
  private running = false;
  private timer: NodeJS.Timeout | undefined;
  private lastWarnMs = 0;

  constructor(
    private readonly server: LeaderServerHandle,
    private readonly clock: Clock,
    private readonly rt: RoleRuntime,
  ) {}

  /**
   * Starts a term: closes the data nodes at now and advances the frontier there before
   * serving, so no read of this term is served below the last term's frontier (this
   * process's frontier may be far behind, or zero). A data node that does not answer
   * within TERM_CATCH_UP_MS does not hold up serving; the frontier then waits for it.
   */
  async beginTerm(stillLeader: () => boolean): Promise<void> {
    const t = this.clock.stamp();
    let timer: NodeJS.Timeout | undefined;
    const closed = Promise.all([...this.server.datanodes.values()].map((d) => d.close(t))).then(
      () => true,
      (err: unknown) => {
        this.warn(err);
        return false;
      },
    );
    const gaveUp = new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), TERM_CATCH_UP_MS)));
    const caughtUp = await Promise.race([closed, gaveUp]);
    clearTimeout(timer);
    if (caughtUp && compareGlt(t, this.server.frontier.current()) > 0) this.server.frontier.advance(t);
    if (!stillLeader()) return;
    this.server.setLeadership({ state: 'elected' });
    this.start();
  }

  private start(): void {
    if (this.running) return;
    this.running = true;
    void this.tick();
  }

  stop(): void {
    this.running = false;
    clearTimeout(this.timer);
  }

  private async tick(): Promise<void> {
    if (!this.running) return;
    try {
      await this.server.closeAndAdvance(this.clock.stamp());
    } catch (err) {
      this.warn(err);
    }
    if (this.running) this.timer = setTimeout(() => void this.tick(), this.rt.settings.current.snapshot.intervalMs);
  }

  private warn(err: unknown): void {
    if (Date.now() - this.lastWarnMs > TICK_WARN_INTERVAL_MS) {
      this.lastWarnMs = Date.now();
      this.rt.log.warn({ err }, 'closing the data nodes failed; the frontier waits');
    }
  }
}
