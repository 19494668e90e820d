import { performance } from 'node:perf_hooks';
import { AetherError } from '../common/errors.js';
import type { Logger } from '../common/log.js';
import type { AetherMetrics } from '../common/metrics.js';
import { compareGlt, formatGlt, glt, gltDiffMs, minGlt, type Glt } from '../glts/glt.js';
import type { CommitLog } from '../kernel/commit-log.js';
import type { Message } from '../kernel/messages.js';
import type { CommitRecord, MembershipRecord } from '../kernel/records.js';
import type { MessageSink } from '../kernel/round-driver.js';
import type { DataNodeConnection } from './datanode-connection.js';
import type { Frontier } from './frontier.js';
import type { RemoteJobRunner } from './remote-job-runner.js';
import { LeaderRound, type LeaderAction, type LeaderConfig, type LeaderEvent } from './round.js';

/** Retry and back-off periods of the leader's round in a deployment (ms). */
export const LEADER_ROUND_TIMING: Omit<LeaderConfig, 'region'> = { catchUpRetryMs: 1000, joinRetryMs: 250, applyRetryMs: 100 };
/** A round job slower than this is logged (debug): round time is mostly data node time. */
const SLOW_JOB_MS = 20;
/** How often the retention horizon is pushed to the data nodes. */
export const GC_INTERVAL_MS = 1000;

export interface LeaderDriverOptions {
  readonly region: string;
  readonly runner: RemoteJobRunner;
  readonly datanodes: ReadonlyMap<string, DataNodeConnection>;
  readonly sink: MessageSink;
  readonly commits: CommitLog;
  readonly frontier: Frontier;
  readonly metrics: AetherMetrics;
  readonly log: Logger;
  /** This process's clock, as a GLT (lag figures, the retention horizon). */
  readonly now: () => Glt;
  readonly retentionSec: () => number;
}

/**
 * Drives a region leader's side of the round (regional/round.ts) for one term at a time:
 * jobs on the data nodes over gRPC (RemoteJobRunner), messages over Quantum, the etcd
 * commit/membership watch as `committed`/`membership` events, `frontier` into the
 * region's Frontier (reads see it). Each term starts from the data nodes' persisted
 * frontier and watermark and etcd's last commit and membership (DESIGN.md "Leader
 * failover"). Also pushes the retention horizon to the data nodes (GC).
 */
export class LeaderDriver {
  private round: LeaderRound | undefined;
  /** Bumped at every start and stop: results of an older term are dropped. */
  private term = 0;
  private timer: NodeJS.Timeout | undefined;
  private gcTimer: NodeJS.Timeout | undefined;
  private gcHorizon: Glt | undefined;
  private gcRunning = false;

  constructor(private readonly o: LeaderDriverOptions) {}

  private nowMs(): number {
    return performance.now();
  }

  /** Starts a term; resolves once the frontier holds the persisted state (then reads may be served). */
  async start(): Promise<boolean> {
    const term = ++this.term;
    this.round = undefined;
    const [w, last, membership] = await Promise.all([this.o.runner.loadWatermarks(), this.o.commits.last(), this.o.commits.membership()]);
    if (term !== this.term) return false;
    if (compareGlt(w.frontier, this.o.frontier.current()) > 0) this.o.frontier.advance(w.frontier);
    this.round = new LeaderRound({ region: this.o.region, ...LEADER_ROUND_TIMING });
    this.feed({ type: 'started', nowMs: this.nowMs(), frontier: w.frontier, watermark: w.watermark, last, membership });
    clearInterval(this.gcTimer);
    this.gcTimer = setInterval(() => void this.gc(), GC_INTERVAL_MS);
    this.o.log.info({ frontier: formatGlt(w.frontier), watermark: formatGlt(w.watermark), last: last ? formatGlt(last.T) : null }, 'round driver started');
    return true;
  }

  stop(): void {
    this.term++;
    this.round = undefined;
    clearTimeout(this.timer);
    clearInterval(this.gcTimer);
  }

  message(msg: Message): void {
    this.feed({ type: 'message', nowMs: this.nowMs(), msg });
  }

  committed(record: CommitRecord): void {
    this.feed({ type: 'committed', nowMs: this.nowMs(), record });
  }

  membership(record: MembershipRecord): void {
    this.feed({ type: 'membership', nowMs: this.nowMs(), record });
    this.o.metrics.setMember(this.o.region, record.members.includes(this.o.region));
  }

  /** Reports how far the frontier is behind this process's clock. */
  reportLag(): void {
    if (this.round) this.o.metrics.setFrontierLag(this.o.region, gltDiffMs(this.o.now(), this.o.frontier.current()));
  }

  get currentRound(): LeaderRound | undefined {
    return this.round;
  }

  private feed(ev: LeaderEvent): void {
    const r = this.round;
    if (!r) return;
    for (const a of r.handle(ev)) this.run(a);
  }

  private run(a: LeaderAction): void {
    switch (a.type) {
      case 'send': {
        const bytes = this.o.sink.send(a.to, a.msg);
        if (a.msg.type === 'delta' && bytes > 0) this.o.metrics.deltaSent(bytes, a.msg.versions.length);
        return;
      }
      case 'job': {
        const term = this.term;
        const jobId = a.job.jobId;
        const kind = a.job.type;
        const startMs = this.nowMs();
        this.o.runner.run(a.job).then(
          (result) => {
            const tookMs = this.nowMs() - startMs;
            if (tookMs > SLOW_JOB_MS) this.o.log.debug({ job: kind, tookMs: Math.round(tookMs) }, 'slow round job');
            if (term === this.term) this.feed({ type: 'jobDone', nowMs: this.nowMs(), jobId, result });
          },
          (err: unknown) => {
            if (term !== this.term) return;
            const error = err instanceof AetherError ? err : new AetherError('INTERNAL', `round job failed: ${String(err)}`, { cause: err });
            this.feed({ type: 'jobFailed', nowMs: this.nowMs(), jobId, error });
          },
        );
        return;
      }
      case 'wakeAt': {
        clearTimeout(this.timer);
        const term = this.term;
        this.timer = setTimeout(() => {
          if (term === this.term) this.feed({ type: 'tick', nowMs: this.nowMs() });
        }, Math.max(0, a.atMs - this.nowMs()));
        return;
      }
      case 'frontier':
        if (compareGlt(a.frontier, this.o.frontier.current()) > 0) this.o.frontier.advance(a.frontier);
        this.o.metrics.setFrontierLag(this.o.region, gltDiffMs(this.o.now(), a.frontier));
        return;
      case 'log':
        this.o.log[a.level]({ ...a.fields, event: a.event }, `round ${a.event}`);
        return;
    }
  }

  /**
   * Collects versions below the retention horizon (now − retentionSec, never above the
   * frontier: reads at the frontier stay exact), so reads below it fail SNAPSHOT_COLLECTED.
   */
  private async gc(): Promise<void> {
    if (this.gcRunning || !this.round) return;
    const now = this.o.now();
    const retentionNs = BigInt(Math.round(this.o.retentionSec() * 1e9));
    const horizon = minGlt(this.o.frontier.current(), glt(now.wall > retentionNs ? now.wall - retentionNs : 0n));
    if (horizon.wall === 0n || (this.gcHorizon && compareGlt(horizon, this.gcHorizon) <= 0)) return;
    this.gcRunning = true;
    try {
      await Promise.all([...this.o.datanodes.values()].map((n) => n.gc(horizon)));
      this.gcHorizon = horizon;
    } catch (err) {
      this.o.log.debug({ err }, 'gc failed; retried at the next interval');
    } finally {
      this.gcRunning = false;
    }
  }
}
