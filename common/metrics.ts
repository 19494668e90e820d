import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

/**
 * The catalog of AetherFlow's own Prometheus metrics (Quantum's are in
 * transport/metrics.ts). Names are exactly those of issue 7; deploy/grafana and
 * deploy/prometheus query nothing else (test/deploy checks it). Every role registers the
 * whole catalog on its own Registry (role, id and region come from the registry's default
 * labels), so several roles in one test process never collide, and each series is set
 * only by the role that owns the fact:
 *
 * | metric | set by |
 * | --- | --- |
 * | snapshot_round_seconds{phase}, snapshot_rounds_total{result} | the elected coordinator, per round |
 * | snapshot_frontier_lag_seconds{region} | the elected leader (its region) and the elected coordinator (every member) |
 * | delta_bytes_total, delta_versions_total | the elected leader, deltas sent to peers (compressed bytes) |
 * | mvcc_versions, gc_collected_total | data nodes |
 * | writes_total, reads_total{result} | the elected leader, once per client request answered |
 * | election_state{role,id} | leader and coordinator candidates |
 * | region_member{region} | the elected coordinator (queries join on election_state) |
 * | snapshot_budget_seconds | every role, from the topology's snapshot.budgetMs |
 */

/** Phases of a round, in order; `total` is Begin to Commit sent as the coordinator sees it. */
export const ROUND_PHASES = ['begin', 'collect', 'exchange', 'ready', 'persist', 'commit', 'apply', 'total'] as const;
export type RoundPhase = (typeof ROUND_PHASES)[number];

export const ROUND_RESULTS = ['committed', 'aborted'] as const;
export type RoundResult = (typeof ROUND_RESULTS)[number];

/** How a read ended: found a value, found nothing, GLT above the frontier, below the GC horizon, or failed otherwise. */
export const READ_RESULTS = ['found', 'not_found', 'not_ready', 'collected', 'error'] as const;
export type ReadResult = (typeof READ_RESULTS)[number];

/** The roles that campaign in an etcd election. */
export type ElectedRole = 'leader' | 'coordinator';

/**
 * Round-time buckets in seconds, dense around the default 50 ms budget so p50/p99 and
 * "over budget" are exact at 50 ms; up to 5 s for rounds that stall.
 */
export const ROUND_SECONDS_BUCKETS: readonly number[] = [0.001, 0.0025, 0.005, 0.01, 0.015, 0.02, 0.025, 0.03, 0.04, 0.05, 0.075, 0.1, 0.25, 0.5, 1, 5];

/** The metric names of the catalog, for tests and tools that check queries against it. */
export const METRIC_NAMES = [
  'snapshot_round_seconds',
  'snapshot_rounds_total',
  'snapshot_frontier_lag_seconds',
  'delta_bytes_total',
  'delta_versions_total',
  'mvcc_versions',
  'gc_collected_total',
  'writes_total',
  'reads_total',
  'election_state',
  'region_member',
  'snapshot_budget_seconds',
] as const;

/** The raw prom-client handles plus typed setters that only accept the label values above. */
export class AetherMetrics {
  readonly roundSeconds: Histogram<'phase'>;
  readonly rounds: Counter<'result'>;
  readonly frontierLagSeconds: Gauge<'region'>;
  readonly deltaBytes: Counter;
  readonly deltaVersions: Counter;
  readonly mvccVersions: Gauge;
  readonly gcCollected: Counter;
  readonly writes: Counter;
  readonly reads: Counter<'result'>;
  readonly electionState: Gauge<'role' | 'id'>;
  readonly regionMember: Gauge<'region'>;
  readonly budgetSeconds: Gauge;

  constructor(registry: Registry, budgetMs: number) {
    const registers = [registry];
    this.roundSeconds = new Histogram({
      name: 'snapshot_round_seconds',
      help: 'Snapshot round time by phase (total: Begin to Commit sent)',
      labelNames: ['phase'],
      buckets: [...ROUND_SECONDS_BUCKETS],
      registers,
    });
    this.rounds = new Counter({ name: 'snapshot_rounds_total', help: 'Snapshot rounds decided, by result (committed, aborted)', labelNames: ['result'], registers });
    this.frontierLagSeconds = new Gauge({
      name: 'snapshot_frontier_lag_seconds',
      help: "How far a region's frontier (last applied GLT) is behind the reporting process's clock",
      labelNames: ['region'],
      registers,
    });
    this.deltaBytes = new Counter({ name: 'delta_bytes_total', help: 'Delta bytes (LZ4-compressed) sent to peer regions', registers });
    this.deltaVersions = new Counter({ name: 'delta_versions_total', help: 'Versions carried in deltas sent to peer regions', registers });
    this.mvccVersions = new Gauge({ name: 'mvcc_versions', help: "Versions held in this data node's MVCC store", registers });
    this.gcCollected = new Counter({ name: 'gc_collected_total', help: 'Versions dropped by garbage collection below the retention horizon', registers });
    this.writes = new Counter({ name: 'writes_total', help: 'Client writes (puts and deletes) acknowledged', registers });
    this.reads = new Counter({ name: 'reads_total', help: 'Client reads (gets and scans), by result', labelNames: ['result'], registers });
    this.electionState = new Gauge({ name: 'election_state', help: 'Election state of a candidate: 1 elected, 0 standby', labelNames: ['role', 'id'], registers });
    this.regionMember = new Gauge({ name: 'region_member', help: 'Region membership in snapshot rounds: 1 member, 0 excluded', labelNames: ['region'], registers });
    this.budgetSeconds = new Gauge({ name: 'snapshot_budget_seconds', help: 'The configured snapshot round budget (topology snapshot.budgetMs)', registers });
    this.budgetSeconds.set(budgetMs / 1000);
  }

  observeRoundPhase(phase: RoundPhase, ms: number): void {
    this.roundSeconds.observe({ phase }, ms / 1000);
  }

  roundDecided(result: RoundResult): void {
    this.rounds.inc({ result });
  }

  setFrontierLag(region: string, ms: number): void {
    this.frontierLagSeconds.set({ region }, Math.max(0, ms) / 1000);
  }

  deltaSent(bytes: number, versions: number): void {
    this.deltaBytes.inc(bytes);
    this.deltaVersions.inc(versions);
  }

  read(result: ReadResult): void {
    this.reads.inc({ result });
  }

  setElected(role: ElectedRole, id: string, elected: boolean): void {
    this.electionState.set({ role, id }, elected ? 1 : 0);
  }

  setMember(region: string, member: boolean): void {
    this.regionMember.set({ region }, member ? 1 : 0);
  }

  /** A coordinator that loses the election stops reporting membership and lag it no longer knows. */
  clearCoordinatorView(): void {
    this.regionMember.reset();
    this.frontierLagSeconds.reset();
  }
}

/** Registers the whole catalog on `registry` (one per role process) and returns its handles. */
export function createAetherMetrics(registry: Registry, options: { readonly budgetMs: number }): AetherMetrics {
  return new AetherMetrics(registry, options.budgetMs);
}
