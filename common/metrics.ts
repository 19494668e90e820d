import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

/**
 * The catalog of AetherFlow's own Prometheus metrics (Quantum's are in
 * transport/metrics.ts, the stream transport's in kernel/peer-transport.ts).
 * deploy/grafana and deploy/prometheus query nothing else (test/deploy checks it). Every
 * role registers the whole catalog on its own Registry (role, id and region come from
 * the registry's default labels), so several roles in one test process never collide,
 * and each series is set only by the role that owns the fact:
 *
 * | metric | set by |
 * | --- | --- |
 * | snapshot_commit_seconds{phase}, snapshot_commits_total | the elected coordinator, per commit (decide → persisted → announced) |
 * | snapshot_frontier_timestamp_seconds{region}, snapshot_frontier_lag_seconds{region} | the elected leader (its region); lag computed when scraped, so it keeps growing when commits stop |
 * | replication_lag_seconds{origin} | the elected leader: now − how far it holds each origin region (its own: its closed mark); computed when scraped |
 * | replication_shipped_bytes_total{peer}, replication_shipped_versions_total{peer} | the elected leader, Ships sent (framed delta bytes, versions) |
 * | restamp_pending_versions | data nodes: hidden versions waiting to be re-stamped |
 * | writes_backpressured_total{outcome} | the elected leader: writes that waited for the own stream (admitted, refused) |
 * | eventloop_longest_task_seconds | every role: the longest the event loop was blocked in the last scrape interval |
 * | mvcc_versions, gc_collected_total | data nodes |
 * | writes_total, reads_total{result} | the elected leader, once per client request answered |
 * | election_state{role,id} | leader and coordinator candidates |
 * | region_member{region} | the elected coordinator (queries join on election_state) |
 * | snapshot_budget_seconds | every role, from the topology's snapshot.budgetMs |
 */

/** Phases of a commit, in order; `total` is decide + persist + announce. */
export const COMMIT_PHASES = ['decide', 'persist', 'announce', 'total'] as const;
export type CommitPhase = (typeof COMMIT_PHASES)[number];

/** How a read ended: found a value, found nothing, GLT above the frontier, below the GC horizon, or failed otherwise. */
export const READ_RESULTS = ['found', 'not_found', 'not_ready', 'collected', 'error'] as const;
export type ReadResult = (typeof READ_RESULTS)[number];

/** The roles that campaign in an etcd election. */
export type ElectedRole = 'leader' | 'coordinator';

/**
 * The event-loop probe's period: a task shows as the probe's lateness, at most this much
 * short of its length (a task over 50 ms reads over 30). Each process pays for the timer
 * even when idle, so not finer.
 */
const LOOP_PROBE_MS = 20;

/** Commit-time buckets in seconds: dense below the 20 ms goal and the 50 ms default budget. */
export const COMMIT_SECONDS_BUCKETS: readonly number[] = [0.0005, 0.001, 0.002, 0.005, 0.0075, 0.01, 0.015, 0.02, 0.03, 0.05, 0.075, 0.1, 0.25, 0.5, 1, 5];

/** The metric names of the catalog, for tests and tools that check queries against it. */
export const METRIC_NAMES = [
  'snapshot_commit_seconds',
  'snapshot_commits_total',
  'snapshot_frontier_timestamp_seconds',
  'snapshot_frontier_lag_seconds',
  'replication_lag_seconds',
  'replication_shipped_bytes_total',
  'replication_shipped_versions_total',
  'restamp_pending_versions',
  'writes_backpressured_total',
  'eventloop_longest_task_seconds',
  'mvcc_versions',
  'gc_collected_total',
  'store_sync_batches_total',
  'store_synced_writes_total',
  'writes_total',
  'reads_total',
  'election_state',
  'region_member',
  'snapshot_budget_seconds',
] as const;

/** Where scrape-time gauges read their facts: set by the role that owns them, unset otherwise. */
export interface LiveSources {
  /** The elected leader's region and its frontier's wall time (ns), or undefined. */
  frontier?: () => { readonly region: string; readonly wallNs: bigint } | undefined;
  /** The elected leader's lag per origin region (ms). */
  replicationLagMs?: () => ReadonlyMap<string, number>;
  /** A data node's hidden versions. */
  hiddenVersions?: () => number;
  /** The physical clock (ns) lags are measured against. */
  nowNs?: () => bigint;
}

/** The raw prom-client handles plus typed setters that only accept the label values above. */
export class AetherMetrics {
  readonly commitSeconds: Histogram<'phase'>;
  readonly commits: Counter;
  readonly frontierTimestamp: Gauge<'region'>;
  readonly frontierLagSeconds: Gauge<'region'>;
  readonly replicationLag: Gauge<'origin'>;
  readonly shippedBytes: Counter<'peer'>;
  readonly shippedVersions: Counter<'peer'>;
  readonly restampPending: Gauge;
  readonly backpressured: Counter<'outcome'>;
  readonly longestTask: Gauge;
  readonly mvccVersions: Gauge;
  readonly gcCollected: Counter;
  readonly syncBatches: Counter;
  readonly syncedWrites: Counter;
  readonly writes: Counter;
  readonly reads: Counter<'result'>;
  readonly electionState: Gauge<'role' | 'id'>;
  readonly regionMember: Gauge<'region'>;
  readonly budgetSeconds: Gauge;
  /** Set by roles as they learn the facts; read at scrape time. */
  readonly live: LiveSources = {};
  private readonly loopProbe: NodeJS.Timeout;

  constructor(registry: Registry, budgetMs: number) {
    const registers = [registry];
    const live = this.live;
    const nowNs = () => (live.nowNs ? live.nowNs() : BigInt(Date.now()) * 1_000_000n);
    this.commitSeconds = new Histogram({
      name: 'snapshot_commit_seconds',
      help: 'Commit time by phase: decide (interval tick to decision), persist (etcd), announce (Commit sent to every region), total',
      labelNames: ['phase'],
      buckets: [...COMMIT_SECONDS_BUCKETS],
      registers,
    });
    this.commits = new Counter({ name: 'snapshot_commits_total', help: 'Snapshots committed (GLTs made durable and announced)', registers });
    this.frontierTimestamp = new Gauge({
      name: 'snapshot_frontier_timestamp_seconds',
      help: "The wall time a region's frontier covers (Unix seconds), to compare regions; snapshot_frontier_lag_seconds is the staleness of reads",
      labelNames: ['region'],
      registers,
      collect() {
        this.reset();
        const f = live.frontier?.();
        if (f && f.wallNs > 0n) this.set({ region: f.region }, Number(f.wallNs) / 1e9);
      },
    });
    this.frontierLagSeconds = new Gauge({
      name: 'snapshot_frontier_lag_seconds',
      help: "How far a region's frontier is behind the reporting process's clock, computed when scraped (it keeps growing when commits stop)",
      labelNames: ['region'],
      registers,
      collect() {
        this.reset();
        const f = live.frontier?.();
        if (f && f.wallNs > 0n) this.set({ region: f.region }, Math.max(0, Number(nowNs() - f.wallNs) / 1e9));
      },
    });
    this.replicationLag = new Gauge({
      name: 'replication_lag_seconds',
      help: 'How far behind the clock this region holds each origin region durably (its own origin: its closed mark)',
      labelNames: ['origin'],
      registers,
      collect() {
        this.reset();
        for (const [origin, ms] of live.replicationLagMs?.() ?? []) this.set({ origin }, ms / 1000);
      },
    });
    this.shippedBytes = new Counter({ name: 'replication_shipped_bytes_total', help: 'Framed delta bytes of the Ships sent to each peer region', labelNames: ['peer'], registers });
    this.shippedVersions = new Counter({ name: 'replication_shipped_versions_total', help: 'Versions carried by the Ships sent to each peer region', labelNames: ['peer'], registers });
    this.restampPending = new Gauge({
      name: 'restamp_pending_versions',
      help: "Versions hidden on this data node because their region is excluded: they are re-stamped when it is readmitted",
      registers,
      collect() {
        if (live.hiddenVersions) this.set(live.hiddenVersions());
      },
    });
    this.backpressured = new Counter({
      name: 'writes_backpressured_total',
      help: "Writes that waited because the region's own stream lagged: admitted after waiting, or refused (RESOURCE_EXHAUSTED)",
      labelNames: ['outcome'],
      registers,
    });
    // A timer due every LOOP_PROBE_MS fires late by as long as a task held the loop. Not
    // monitorEventLoopDelay: its max counts the timer's own period (an idle loop read 11 ms),
    // and its reset drops the interval under way, so a stall starting right after a scrape went unseen.
    const loop = { last: performance.now(), longestMs: 0 };
    this.loopProbe = setInterval(() => {
      const now = performance.now();
      loop.longestMs = Math.max(loop.longestMs, now - loop.last - LOOP_PROBE_MS);
      loop.last = now;
    }, LOOP_PROBE_MS).unref();
    this.longestTask = new Gauge({
      name: 'eventloop_longest_task_seconds',
      help: `The longest the event loop was blocked since the last scrape (a ${LOOP_PROBE_MS} ms timer's lateness)`,
      registers,
      collect() {
        // A probe overdue now (held up by this scrape's task, or one the probe has not fired
        // after yet) counts here, and from here on only: the next scrape does not count it again.
        const now = performance.now();
        const overdueMs = now - loop.last - LOOP_PROBE_MS;
        this.set(Math.max(0, loop.longestMs, overdueMs) / 1000);
        loop.longestMs = 0;
        if (overdueMs > 0) loop.last = now;
      },
    });
    this.mvccVersions = new Gauge({ name: 'mvcc_versions', help: "Versions held in this data node's MVCC store", registers });
    this.gcCollected = new Counter({ name: 'gc_collected_total', help: 'Versions dropped by garbage collection below the retention horizon', registers });
    this.syncBatches = new Counter({ name: 'store_sync_batches_total', help: "LevelDB batches this data node synced to disk (storage.sync): group commits of client writes, and the leader's applies", registers });
    this.syncedWrites = new Counter({ name: 'store_synced_writes_total', help: 'Client writes acknowledged through synced batches; ÷ store_sync_batches_total = writes per fsync', registers });
    this.writes = new Counter({ name: 'writes_total', help: 'Client writes (puts and deletes) acknowledged', registers });
    this.reads = new Counter({ name: 'reads_total', help: 'Client reads (gets and scans), by result', labelNames: ['result'], registers });
    this.electionState = new Gauge({ name: 'election_state', help: 'Election state of a candidate: 1 elected, 0 standby', labelNames: ['role', 'id'], registers });
    this.regionMember = new Gauge({ name: 'region_member', help: 'Region membership in the snapshots: 1 member, 0 excluded', labelNames: ['region'], registers });
    this.budgetSeconds = new Gauge({ name: 'snapshot_budget_seconds', help: 'The configured commit budget (topology snapshot.budgetMs): what one commit cycle should take', registers });
    this.budgetSeconds.set(budgetMs / 1000);
  }

  observeCommit(phase: CommitPhase, ms: number): void {
    this.commitSeconds.observe({ phase }, ms / 1000);
  }

  shipped(peer: string, bytes: number, versions: number): void {
    this.shippedBytes.inc({ peer }, bytes);
    this.shippedVersions.inc({ peer }, versions);
  }

  /** A batch the store wrote (LevelStoreOptions.onBatchWritten): counted when it was synced. */
  batchWritten(batch: { readonly writes: number; readonly synced: boolean }): void {
    if (!batch.synced) return;
    this.syncBatches.inc();
    if (batch.writes > 0) this.syncedWrites.inc(batch.writes);
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

  /** A coordinator that loses the election stops reporting membership it no longer knows. */
  clearCoordinatorView(): void {
    this.regionMember.reset();
  }

  /** Stops the event-loop probe (a role shutting down). */
  close(): void {
    clearInterval(this.loopProbe);
  }
}

/** Registers the whole catalog on `registry` (one per role process) and returns its handles. */
export function createAetherMetrics(registry: Registry, options: { readonly budgetMs: number }): AetherMetrics {
  return new AetherMetrics(registry, options.budgetMs);
}
