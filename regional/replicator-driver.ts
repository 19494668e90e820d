import { performance } from 'node:perf_hooks';
import { toAetherError } from '../common/errors.js';
import type { Logger } from '../common/log.js';
import type { AetherMetrics } from '../common/metrics.js';
import type { FeedOptions } from '../datanode/feed.js';
import { compareGlt, formatGlt, glt, minGlt, type Glt } from '../glts/glt.js';
import type { CommitLog } from '../kernel/commit-log.js';
import type { MessageSink } from '../kernel/coordinator-driver.js';
import type { Message, Ship } from '../kernel/messages.js';
import type { CommitRecord, MembershipRecord } from '../kernel/records.js';
import type { FeedSubscription } from './datanode-connection.js';
import type { Frontier } from './frontier.js';
import type { RegionStores } from './region-stores.js';
import { Replicator, type ReplicatorAction, type ReplicatorConfig, type ReplicatorEvent, type StoreJob } from './replicator.js';

/** How often the retention horizon is pushed to the data nodes. */
export const GC_INTERVAL_MS = 1000;

export interface ReplicatorDriverOptions {
  readonly config: ReplicatorConfig;
  readonly stores: RegionStores;
  /** Opens a data node's feed of its own versions (DataNodeConnection.feed). */
  readonly openFeed: (node: string, from: Glt, options: FeedOptions) => FeedSubscription;
  /** Makes every data node's feeds active now (DataNodeConnection.nudge); best effort. */
  readonly nudge: () => Promise<void>;
  readonly feedOptions: FeedOptions;
  readonly sink: MessageSink;
  readonly commits: Pick<CommitLog, 'last' | 'membership'>;
  readonly frontier: Frontier;
  readonly metrics: AetherMetrics;
  readonly log: Logger;
  /** This process's clock as a GLT: the own stream's start, lag figures, the retention horizon. */
  readonly now: () => Glt;
  readonly retentionSec: () => number;
}

/**
 * Drives a region leader's Replicator (regional/replicator.ts) for one term at a time:
 * store jobs on the data nodes (RegionStores over gRPC), the nodes' feeds, messages over
 * Quantum, the etcd watches as `committed`/`membership`, `frontier` into the region's
 * Frontier (reads see it), `wakeAt` into a timer. Each term starts from what the data
 * nodes persisted and etcd's last commit and membership (docs/architecture.md "Failure rules").
 * Also pushes the retention horizon to the data nodes (GC).
 */
export class ReplicatorDriver {
  private replicatorNow: Replicator | undefined;
  /** Bumped at every start and stop: results of an older term are dropped. */
  private term = 0;
  private epoch = 0n;
  private timer: NodeJS.Timeout | undefined;
  private timerAtMs = 0;
  private gcTimer: NodeJS.Timeout | undefined;
  private gcHorizon: Glt | undefined;
  private gcRunning = false;
  private readonly feeds = new Map<string, FeedSubscription>();
  /**
   * Ships the transport delivered since the last flush, the newest per peer and origin:
   * one `delivered` event each per turn of the event loop, not one per Ship.
   */
  private readonly delivered = new Map<string, { readonly to: string; readonly ship: Ship }>();

  constructor(private readonly o: ReplicatorDriverOptions) {}

  private nowMs(): number {
    return performance.now();
  }

  get replicator(): Replicator | undefined {
    return this.replicatorNow;
  }

  /** Starts a term with the leader's election `epoch`; resolves once the frontier holds the persisted one (then reads may be served). */
  async start(epoch: bigint): Promise<boolean> {
    const term = ++this.term;
    this.replicatorNow = undefined;
    this.delivered.clear();
    const [state, last, membership] = await Promise.all([this.o.stores.loadState(), this.o.commits.last(), this.o.commits.membership()]);
    if (term !== this.term) return false;
    if (compareGlt(state.frontier, this.o.frontier.current()) > 0) this.o.frontier.advance(state.frontier);
    this.epoch = epoch;
    this.replicatorNow = new Replicator(this.o.config);
    this.feed({ type: 'started', nowMs: this.nowMs(), epoch, start: this.o.now(), state, membership, last });
    clearInterval(this.gcTimer);
    this.gcTimer = setInterval(() => void this.gc(), GC_INTERVAL_MS);
    return true;
  }

  stop(): void {
    this.term++;
    this.replicatorNow = undefined;
    this.delivered.clear();
    clearTimeout(this.timer);
    this.timer = undefined;
    clearInterval(this.gcTimer);
    for (const f of this.feeds.values()) f.cancel();
    this.feeds.clear();
  }

  message(msg: Message): void {
    this.feed({ type: 'message', nowMs: this.nowMs(), msg });
  }

  committed(record: CommitRecord): void {
    this.feed({ type: 'committed', nowMs: this.nowMs(), record });
  }

  membership(record: MembershipRecord): void {
    this.feed({ type: 'membership', nowMs: this.nowMs(), record });
  }

  /** A region's leader or the coordinator changed (the peer directory). */
  peerChanged(region: string): void {
    this.feed({ type: 'peerChanged', nowMs: this.nowMs(), region });
  }

  private feed(ev: ReplicatorEvent): void {
    const r = this.replicatorNow;
    if (!r) return;
    const refused: { to: string; ship: Ship }[] = [];
    for (const a of r.handle(ev)) this.run(a, refused);
    // After the actions, not among them; a refusal pauses the stream it hit, so this ends.
    for (const x of refused) this.feed({ type: 'refused', nowMs: this.nowMs(), ...x });
  }

  private run(a: ReplicatorAction, refused: { to: string; ship: Ship }[]): void {
    switch (a.type) {
      case 'send': {
        const ship = a.msg.type === 'ship' ? a.msg : undefined;
        const bytes = this.o.sink.send(a.to, a.msg, ship && this.settler(a.to, ship));
        if (a.msg.type !== 'ship') return;
        if (bytes > 0) this.o.metrics.shipped(a.to, a.msg.delta.length, a.msg.count);
        else refused.push({ to: a.to, ship: a.msg });
        return;
      }
      case 'job':
        this.runJob(a.job);
        return;
      case 'openFeed':
        this.openFeed(a.node, a.from);
        return;
      case 'nudge':
        this.o.nudge().catch((err: unknown) => this.o.log.debug({ err }, 'nudging the data nodes failed'));
        return;
      case 'frontier':
        if (compareGlt(a.frontier, this.o.frontier.current()) > 0) this.o.frontier.advance(a.frontier);
        return;
      case 'wakeAt': {
        // Every event asks for its wake-up again, mostly the same one: keep a timer that is already right.
        if (this.timer !== undefined && this.timerAtMs === a.atMs) return;
        clearTimeout(this.timer);
        const term = this.term;
        this.timerAtMs = a.atMs;
        this.timer = setTimeout(() => {
          this.timer = undefined;
          if (term === this.term) this.feed({ type: 'tick', nowMs: this.nowMs() });
        }, Math.max(0, a.atMs - this.nowMs()));
        return;
      }
      case 'log':
        this.o.log[a.level]({ ...a.fields, event: a.event }, `replicator ${a.event}`);
        return;
    }
  }

  /** What to do once the transport settled a Ship sent in this term: `refused` when undelivered, `delivered` (coalesced) when it arrived. */
  private settler(to: string, ship: Ship): (delivered: boolean) => void {
    const term = this.term;
    return (delivered) => {
      if (term !== this.term) return;
      if (!delivered) {
        this.feed({ type: 'refused', nowMs: this.nowMs(), to, ship });
        return;
      }
      if (this.delivered.size === 0) setImmediate(() => this.flushDelivered());
      this.delivered.set(`${to}|${ship.origin}`, { to, ship });
    };
  }

  private flushDelivered(): void {
    const ships = [...this.delivered.values()];
    this.delivered.clear();
    for (const d of ships) this.feed({ type: 'delivered', nowMs: this.nowMs(), ...d });
  }

  private runJob(job: StoreJob): void {
    const term = this.term;
    const s = this.o.stores;
    const e = this.epoch;
    const done = (extra: { read?: Awaited<ReturnType<RegionStores['read']>>; done?: boolean } = {}) => {
      if (term === this.term) this.feed({ type: 'jobDone', nowMs: this.nowMs(), jobId: job.jobId, ...extra });
    };
    const failed = (err: unknown) => {
      if (term === this.term) this.feed({ type: 'jobFailed', nowMs: this.nowMs(), jobId: job.jobId, code: toAetherError(err).code });
    };
    let p: Promise<void>;
    switch (job.type) {
      case 'apply':
        p = s.apply(e, job.batches, job.frontier).then(() => done());
        break;
      case 'read':
        p = s.read(job.originIds, job.from, job.to, job.maxBytes).then((read) => done({ read }));
        break;
      case 'hide':
        p = s.hide(e, job.originIds, job.above, job.limit).then((d) => done({ done: d }));
        break;
      case 'restamp':
        p = s.restamp(e, job.rule, job.limit).then((d) => done({ done: d }));
        break;
      case 'membershipApplied':
        p = s.setMembershipApplied(e, job.version).then(() => done());
        break;
    }
    p.catch(failed);
  }

  /** (Re)opens a node's feed; its batches become `feed` events until it ends (then `feedEnded`, and the replicator reopens it). */
  private openFeed(node: string, from: Glt): void {
    this.feeds.get(node)?.cancel();
    const term = this.term;
    const sub = this.o.openFeed(node, from, this.o.feedOptions);
    this.feeds.set(node, sub);
    void (async () => {
      try {
        for await (const b of sub) {
          if (term !== this.term || this.feeds.get(node) !== sub) return;
          this.feed({ type: 'feed', nowMs: this.nowMs(), node, from: b.from, to: b.to, batch: b.batch });
        }
      } catch (err) {
        if (term === this.term) this.o.log.debug({ err, node }, 'feed failed');
      }
      if (term === this.term && this.feeds.get(node) === sub) {
        this.feeds.delete(node);
        this.feed({ type: 'feedEnded', nowMs: this.nowMs(), node });
      }
    })();
  }

  /**
   * Collects versions below the retention horizon (now − retentionSec, never above the
   * frontier: reads at the frontier stay exact), so reads below it fail SNAPSHOT_COLLECTED.
   */
  private async gc(): Promise<void> {
    if (this.gcRunning || !this.replicatorNow) return;
    const now = this.o.now();
    const retentionNs = BigInt(Math.round(this.o.retentionSec() * 1e9));
    const horizon = minGlt(this.o.frontier.current(), glt(now.wall > retentionNs ? now.wall - retentionNs : 0n));
    if (horizon.wall === 0n || (this.gcHorizon && compareGlt(horizon, this.gcHorizon) <= 0)) return;
    this.gcRunning = true;
    try {
      await this.o.stores.gc(horizon);
      this.gcHorizon = horizon;
    } catch (err) {
      this.o.log.debug({ err, horizon: formatGlt(horizon) }, 'gc failed; retried at the next interval');
    } finally {
      this.gcRunning = false;
    }
  }
}
