import { assert } from '../common/errors.js';
import { frameDelta, type VersionBatch } from '../datanode/delta.js';
import type { RestampRule } from '../datanode/store.js';
import { GLT_ZERO, compareGlt, formatGlt, gltDiffMs, minGlt, type Glt } from '../glts/glt.js';
import { COORDINATOR, type Message, type Ship } from '../kernel/messages.js';
import { excludedEntry, newerMembership, type CommitRecord, type MembershipRecord } from '../kernel/records.js';
import { Inbound, type ApplyPlan, type InboundLimits } from './inbound.js';
import { MembershipRules, type MembershipStep } from './membership-rules.js';
import { OwnStream, type OwnStreamLimits } from './own-stream.js';
import { PeerCursor } from './peer-cursor.js';
import type { RegionApply, RegionRead, RegionState } from './region-stores.js';

/**
 * A region leader's side of the v2 pipeline (docs/architecture.md "The snapshot pipeline",
 * "Failure rules"), sans-IO: `handle(event)` returns actions. The adapter
 * (regional/replicator-driver.ts; the simulator in tests) opens the data nodes' feeds,
 * runs store jobs on the region's data nodes (regional/region-stores.ts) and answers each
 * with `jobDone`/`jobFailed`, sends messages over Quantum, feeds the etcd watches on
 * commits and membership, and turns `wakeAt` into a timer feeding `tick`.
 *
 * What it does, continuously and independently of commits:
 *  - ships the region's own versions (the nodes' feeds, cut into once-encoded batches) to
 *    every other region, each peer from where it says it stands; a peer behind the ring
 *    is served from the change index (outbound: OwnStream, PeerCursor);
 *  - applies what other regions ship, in bounded jobs, and acknowledges positions once
 *    durable (Inbound); relays an excluded region's versions to a member that lacks them;
 *  - reports what it holds to the coordinator (Progress);
 *  - carries out each membership version's rules (hide, re-stamp) on its data nodes
 *    (MembershipRules), and advances the frontier to a commit only once it holds
 *    everything the commit covers and has carried out its membership version's rules.
 */
export interface ReplicatorTiming {
  /** Shortest gap between two cuts of the own stream (a full batch is cut at once). */
  readonly shipDelayMs: number;
  /**
   * Shortest gap between two cuts that carry only the closed mark (no versions): an idle
   * region's mark reaches its peers this often (about the data nodes' idle mark period).
   */
  readonly markDelayMs: number;
  /** How often every origin's leader is told where this region stands, even unchanged. */
  readonly ackEveryMs: number;
  /** Shortest gap between two Progress reports, and the longest. */
  readonly progressMinGapMs: number;
  readonly progressEveryMs: number;
  /** A peer that acknowledges nothing of what was sent for this long is sent it again. */
  readonly resendAfterMs: number;
  /** Pause before retrying a failed store job, reopening a feed, or resending a Ship the transport refused. */
  readonly retryMs: number;
  /**
   * The shortest gap between two apply jobs (a full queue or a frontier to persist goes at
   * once): Ships of every origin that arrive meanwhile share one job, one call per data node.
   */
  readonly applyGapMs: number;
  /** The shortest gap between two acknowledgements to one sender of one origin (the window holds far more than this lets through). */
  readonly ackGapMs: number;
  /** How often a relay of an excluded region's versions is asked for (the next member each time nothing came). */
  readonly relayRetryMs: number;
  /**
   * While versions flow (own or another region's), the data nodes are nudged this often,
   * so their feeds mark at the idle period, not the quiet one (datanode/feed.ts): a quiet
   * deployment wakes within a round trip of the first write.
   */
  readonly nudgeEveryMs: number;
}

export interface ReplicatorLimits extends OwnStreamLimits, InboundLimits {
  /** Framed bytes sent to one peer and not yet acknowledged, per stream. */
  readonly windowBytes: number;
  /** Versions one hide or re-stamp call moves at most. */
  readonly chunkVersions: number;
}

export interface ReplicatorConfig {
  readonly region: string;
  /** Every region of the topology. */
  readonly regions: readonly string[];
  /** A region's data node ids: the origins of its versions. */
  readonly originIds: (region: string) => readonly string[];
  readonly timing: ReplicatorTiming;
  readonly limits: ReplicatorLimits;
}

/**
 * Batching: a cut, an apply and an acknowledgement each cost messages in every region
 * whatever they carry (on this 2-core machine a message costs about 0.3 ms of CPU), so
 * they go at most every 10–20 ms under load; a lone write goes at once.
 */
export const DEFAULT_TIMING: ReplicatorTiming = {
  shipDelayMs: 10,
  markDelayMs: 25,
  ackEveryMs: 500,
  progressMinGapMs: 10,
  progressEveryMs: 100,
  resendAfterMs: 1000,
  retryMs: 100,
  applyGapMs: 10,
  ackGapMs: 20,
  relayRetryMs: 1000,
  nudgeEveryMs: 500,
};

export const DEFAULT_LIMITS: ReplicatorLimits = {
  maxBatchBytes: 256 << 10,
  ringBytes: 32 << 20,
  maxQueuedBytes: 16 << 20,
  queueBytes: 8 << 20,
  applyBytes: 4 << 20,
  windowBytes: 4 << 20,
  chunkVersions: 10_000,
};

export type ReplicatorEvent =
  /** The term starts: `start` is where the own stream begins (a clock reading), `state` what the data nodes hold. */
  | {
      readonly type: 'started';
      readonly nowMs: number;
      /** This leader's election epoch (its data nodes refuse jobs of older ones). */
      readonly epoch: bigint;
      readonly start: Glt;
      readonly state: RegionState;
      readonly membership: MembershipRecord;
      readonly last: CommitRecord | undefined;
    }
  | { readonly type: 'feed'; readonly nowMs: number; readonly node: string; readonly from: Glt; readonly to: Glt; readonly batch: VersionBatch }
  | { readonly type: 'feedEnded'; readonly nowMs: number; readonly node: string }
  | { readonly type: 'message'; readonly nowMs: number; readonly msg: Message }
  /** The etcd watches: a commit or membership missed on Quantum is learnt here. */
  | { readonly type: 'committed'; readonly nowMs: number; readonly record: CommitRecord }
  | { readonly type: 'membership'; readonly nowMs: number; readonly record: MembershipRecord }
  /** A region's leader (or COORDINATOR) changed: tell it where we stand now. */
  | { readonly type: 'peerChanged'; readonly nowMs: number; readonly region: string }
  | { readonly type: 'jobDone'; readonly nowMs: number; readonly jobId: number; readonly read?: RegionRead; readonly done?: boolean }
  | { readonly type: 'jobFailed'; readonly nowMs: number; readonly jobId: number; readonly code: string }
  /** A `send` of a Ship the transport did not take (too much in flight to `to`) or could not deliver (the connection ended): it is not in flight. */
  | { readonly type: 'refused'; readonly nowMs: number; readonly to: string; readonly ship: Ship }
  /** The transport delivered a Ship to `to` (its transport acknowledged it): the stream moves, though `to`'s Ack may trail it. */
  | { readonly type: 'delivered'; readonly nowMs: number; readonly to: string; readonly ship: Ship }
  | { readonly type: 'tick'; readonly nowMs: number };

export type StoreJob =
  | { readonly type: 'apply'; readonly jobId: number; readonly batches: readonly RegionApply[]; readonly frontier?: Glt }
  | { readonly type: 'read'; readonly jobId: number; readonly originIds: readonly string[]; readonly from: Glt; readonly to: Glt; readonly maxBytes: number }
  | { readonly type: 'hide'; readonly jobId: number; readonly originIds: readonly string[]; readonly above: Glt; readonly limit: number }
  | { readonly type: 'restamp'; readonly jobId: number; readonly rule: RestampRule; readonly limit: number }
  | { readonly type: 'membershipApplied'; readonly jobId: number; readonly version: number };

export type ReplicatorAction =
  | { readonly type: 'send'; readonly to: string; readonly msg: Message }
  /** Run on the region's data nodes; answer `jobDone` (with `read` for a read, `done` for hide/restamp) or `jobFailed`. */
  | { readonly type: 'job'; readonly job: StoreJob }
  /** (Re)open `node`'s feed of its own versions from `from`. */
  | { readonly type: 'openFeed'; readonly node: string; readonly from: Glt }
  /** Make every data node's feed active now (marks at the idle period). */
  | { readonly type: 'nudge' }
  /** The frontier advanced (persisted on every data node): reads may be served up to it. */
  | { readonly type: 'frontier'; readonly frontier: Glt }
  | { readonly type: 'wakeAt'; readonly atMs: number }
  | { readonly type: 'log'; readonly level: 'info' | 'warn'; readonly event: string; readonly fields: Readonly<Record<string, unknown>> };

interface Relay {
  readonly origin: string;
  readonly peer: string;
  readonly cursor: PeerCursor;
  cap: Glt;
  lastRequestMs: number;
  readRetryAtMs: number;
}

type ReadOwner = { readonly kind: 'peer'; readonly peer: string; readonly from: Glt } | { readonly kind: 'relay'; readonly key: string; readonly from: Glt };

export class Replicator {
  private phase: 'starting' | 'running' = 'starting';
  private own!: OwnStream;
  private inbound!: Inbound;
  /** The own stream towards each other region. */
  private readonly peers = new Map<string, PeerCursor>();
  private readonly peerReadRetryAtMs = new Map<string, number>();
  /** Relays this region serves, by `${peer}|${origin}`. Bounded by regions². */
  private readonly relays = new Map<string, Relay>();
  private readonly reads = new Map<number, ReadOwner>();
  /** The newest membership known (may be ahead of what the data nodes carried out). */
  private membership!: MembershipRecord;
  /** The membership version whose rules the data nodes carried out (persisted on them). */
  private membershipApplied = 0;
  private rules: MembershipRules;
  private membershipJob: { readonly jobId: number; readonly step: MembershipStep; readonly version: number } | undefined;
  private membershipRetryAtMs = 0;
  private membershipBlocked: string | undefined;
  /** The newest commit known. */
  private lastCommit: CommitRecord | undefined;
  /** The highest coordinator epoch seen; Commit and Membership messages of lower epochs are ignored. */
  private coordinatorEpoch = 0n;
  /** Invariant (M): never decreases; every member origin is held up to it. */
  private frontierAt: Glt = GLT_ZERO;
  private applyJob: { readonly jobId: number; readonly plan: ApplyPlan; readonly frontier?: Glt } | undefined;
  private applyRetryAtMs = 0;
  private lastApplyMs = -Infinity;
  /** `${source}|${origin}` owed an acknowledgement of what was applied; sent at most every ackGapMs. Bounded by regions². */
  private readonly acksOwed = new Set<string>();
  private readonly lastAckMs = new Map<string, number>();
  private lastCutMs = -Infinity;
  private lastAckRefreshMs = -Infinity;
  private lastProgressMs = -Infinity;
  /** Bumped whenever what Progress reports changes (besides the closed mark). */
  private progressSeq = 0;
  private reportedSeq = -1;
  private reportedClosed: Glt | undefined;
  /** A change not reported yet (held back by progressMinGapMs). */
  private progressPending = true;
  private epoch = 0n;
  /** Per excluded origin: the last relay request, and how many times in a row nothing came of it. */
  private readonly relayAsks = new Map<string, { atMs: number; held: Glt; misses: number }>();
  private readonly feedReopenAtMs = new Map<string, number>();
  /** When the data nodes may be nudged again (versions flowing keep them active). */
  private nextNudgeMs = -Infinity;
  /** The last answer to a Ship that was not queued, per `${source}|${origin}`. Bounded by regions². */
  private readonly answered = new Map<string, { readonly position: Glt; readonly gap: boolean; readonly atMs: number }>();
  private nextJobId = 1;

  constructor(readonly config: ReplicatorConfig) {
    this.rules = new MembershipRules(config.originIds);
  }

  get frontier(): Glt {
    return this.frontierAt;
  }

  get running(): boolean {
    return this.phase === 'running';
  }

  /** The region's own closed mark, once every data node's feed reported. */
  ownClosed(): Glt | undefined {
    return this.phase === 'running' ? this.own.closed() : undefined;
  }

  /** Raw bytes of own versions arrived from the feeds and not yet cut into batches. */
  unshippedBytes(): number {
    return this.phase === 'running' ? this.own.queuedBytes() : 0;
  }

  /** What this region holds of each other region. */
  applied(): ReadonlyMap<string, Glt> {
    return this.phase === 'running' ? this.inbound.appliedAll() : new Map();
  }

  get isExcluded(): boolean {
    return this.phase === 'running' && !this.membership.members.includes(this.config.region);
  }

  /** Why membership rules are stuck, if they are (MEMBERSHIP_GAP). */
  get blocked(): string | undefined {
    return this.membershipBlocked;
  }

  handle(ev: ReplicatorEvent): ReplicatorAction[] {
    const out: ReplicatorAction[] = [];
    if (this.phase === 'starting') {
      if (ev.type !== 'started') return out;
      this.start(ev, out);
    } else {
      this.onEvent(ev, out);
    }
    this.step(ev.nowMs, out);
    return out;
  }

  private start(ev: Extract<ReplicatorEvent, { type: 'started' }>, out: ReplicatorAction[]): void {
    const me = this.config.region;
    this.phase = 'running';
    this.epoch = ev.epoch;
    this.own = new OwnStream(this.config.originIds(me), ev.start, this.config.limits);
    const applied = new Map<string, Glt>();
    for (const r of this.config.regions) {
      if (r === me) continue;
      const held = ev.state.applied.get(r) ?? GLT_ZERO;
      applied.set(r, compareGlt(held, ev.state.appliedFloor) > 0 ? held : ev.state.appliedFloor);
      this.peers.set(r, new PeerCursor(this.config.limits.windowBytes, this.config.timing.resendAfterMs));
    }
    this.inbound = new Inbound(applied, this.config.limits);
    this.frontierAt = ev.state.frontier;
    this.membershipApplied = ev.state.membershipApplied;
    this.membership = ev.membership;
    this.lastCommit = ev.last;
    if (ev.last) this.coordinatorEpoch = ev.last.epoch;
    for (const node of this.config.originIds(me)) out.push({ type: 'openFeed', node, from: ev.start });
    out.push({ type: 'log', level: 'info', event: 'started', fields: { start: formatGlt(ev.start), frontier: formatGlt(this.frontierAt), membershipApplied: this.membershipApplied } });
  }

  private onEvent(ev: ReplicatorEvent, out: ReplicatorAction[]): void {
    switch (ev.type) {
      case 'started':
        return;
      case 'feed':
        if (!this.own.onFeed(ev.node, ev.from, ev.to, ev.batch)) this.feedEnded(ev.node, ev.nowMs, out, 'feed-discontinuous');
        else if (ev.batch.count > 0) this.versionsFlow(ev.nowMs, out);
        return;
      case 'feedEnded':
        this.feedEnded(ev.node, ev.nowMs, out, 'feed-ended');
        return;
      case 'message':
        this.onMessage(ev.msg, ev.nowMs, out);
        return;
      case 'committed':
        this.learnCommit(ev.record);
        return;
      case 'membership':
        this.learnMembership(ev.record);
        return;
      case 'peerChanged':
        if (ev.region === COORDINATOR) {
          this.lastProgressMs = -Infinity;
          this.progressSeq++;
        } else if (this.peers.has(ev.region)) {
          this.sendAck(ev.region, ev.region, false, out);
        }
        return;
      case 'jobDone':
        this.onJobDone(ev, out);
        return;
      case 'jobFailed':
        this.onJobFailed(ev.jobId, ev.code, ev.nowMs, out);
        return;
      case 'refused':
        this.shipCursor(ev.to, ev.ship)?.onRefused(ev.ship.from, ev.nowMs + this.config.timing.retryMs);
        return;
      case 'delivered':
        this.shipCursor(ev.to, ev.ship)?.onDelivered(ev.ship.to, ev.nowMs);
        return;
      case 'tick':
        return;
    }
  }

  /** The cursor a Ship to `to` was sent by: the own stream's to that peer, or a relay's. */
  private shipCursor(to: string, s: Ship): PeerCursor | undefined {
    return s.origin === this.config.region ? this.peers.get(to) : this.relays.get(`${to}|${s.origin}`)?.cursor;
  }

  private feedEnded(node: string, nowMs: number, out: ReplicatorAction[], event: string): void {
    this.own.onFeedEnded(node);
    if (!this.feedReopenAtMs.has(node)) {
      this.feedReopenAtMs.set(node, nowMs + this.config.timing.retryMs);
      out.push({ type: 'log', level: 'warn', event, fields: { node } });
    }
  }

  private onMessage(msg: Message, nowMs: number, out: ReplicatorAction[]): void {
    const me = this.config.region;
    switch (msg.type) {
      case 'ship':
        this.onShip(msg, nowMs, out);
        return;
      case 'ack':
        if (msg.origin === me) this.peers.get(msg.region)?.onAck(msg.applied, msg.gap, nowMs);
        else this.relays.get(`${msg.region}|${msg.origin}`)?.cursor.onAck(msg.applied, msg.gap, nowMs);
        return;
      case 'relay':
        this.onRelayRequest(msg.region, msg.origin, msg.from, msg.upTo, nowMs);
        return;
      case 'commit':
        if (msg.epoch < this.coordinatorEpoch) return;
        this.coordinatorEpoch = msg.epoch;
        this.learnMembership(msg.membership);
        this.learnCommit(msg.record);
        return;
      case 'membership':
        if (msg.epoch < this.coordinatorEpoch) return;
        this.coordinatorEpoch = msg.epoch;
        this.learnMembership(msg.record);
        return;
      case 'progress':
        return;
    }
  }

  /** Versions arrived (own or another region's): the data nodes must mark often, or they hold the commits back. */
  private versionsFlow(nowMs: number, out: ReplicatorAction[]): void {
    if (nowMs < this.nextNudgeMs) return;
    this.nextNudgeMs = nowMs + this.config.timing.nudgeEveryMs;
    out.push({ type: 'nudge' });
  }

  private onShip(s: Ship, nowMs: number, out: ReplicatorAction[]): void {
    if (s.origin === this.config.region || !this.peers.has(s.origin)) return;
    if (s.count > 0) this.versionsFlow(nowMs, out);
    const v = this.inbound.offer(s);
    if (v.kind === 'advanced') {
      this.progressSeq++;
      // The origin learns of it from the periodic Ack; a relay, which gets none, at once.
      if (s.region !== s.origin) this.sendAck(s.region, s.origin, false, out);
      return;
    }
    if (v.kind === 'queued' || v.kind === 'full') return;
    // A lost batch makes every later one a gap, and a resend repeats the window: one
    // answer per (source, origin, position) per quarter resend timeout, or each answer
    // would rewind the sender again.
    const position = v.kind === 'gap' ? v.expected : v.applied;
    const key = `${s.region}|${s.origin}`;
    const last = this.answered.get(key);
    if (last && compareGlt(last.position, position) === 0 && last.gap === (v.kind === 'gap') && nowMs - last.atMs < this.config.timing.resendAfterMs / 4) return;
    this.answered.set(key, { position, gap: v.kind === 'gap', atMs: nowMs });
    out.push({ type: 'send', to: s.region, msg: { type: 'ack', origin: s.origin, region: this.config.region, applied: position, gap: v.kind === 'gap' } });
  }

  /** A member lacking `origin` (excluded) asks us to relay it; our own stream is asked the same way by a peer that lost its place. */
  private onRelayRequest(peer: string, origin: string, from: Glt, upTo: Glt, nowMs: number): void {
    if (origin === this.config.region) {
      this.peers.get(peer)?.onAck(from, true, nowMs);
      return;
    }
    if (!this.peers.has(peer) || !this.peers.has(origin)) return;
    const cap = minGlt(upTo, this.inbound.applied(origin));
    if (compareGlt(cap, from) <= 0) return;
    const key = `${peer}|${origin}`;
    let r = this.relays.get(key);
    if (!r) {
      r = { origin, peer, cursor: new PeerCursor(this.config.limits.windowBytes, this.config.timing.resendAfterMs), cap, lastRequestMs: nowMs, readRetryAtMs: 0 };
      this.relays.set(key, r);
    }
    r.cap = cap;
    r.lastRequestMs = nowMs;
    r.cursor.onAck(from, true, nowMs);
  }

  private learnCommit(record: CommitRecord): void {
    if (!this.lastCommit || compareGlt(record.T, this.lastCommit.T) > 0) this.lastCommit = record;
  }

  private learnMembership(record: MembershipRecord): void {
    if (newerMembership(this.membership, record)) this.membership = record;
  }

  private onJobDone(ev: Extract<ReplicatorEvent, { type: 'jobDone' }>, out: ReplicatorAction[]): void {
    const a = this.applyJob;
    if (a && a.jobId === ev.jobId) {
      this.applyJob = undefined;
      this.inbound.onApplied(a.plan);
      this.progressSeq++;
      for (const [origin, t] of a.plan.taken) for (const source of t.sources) this.acksOwed.add(`${source}|${origin}`);
      this.sendOwedAcks(ev.nowMs, out);
      if (a.frontier && compareGlt(a.frontier, this.frontierAt) > 0) {
        this.frontierAt = a.frontier;
        out.push({ type: 'frontier', frontier: a.frontier });
      }
      return;
    }
    const m = this.membershipJob;
    if (m && m.jobId === ev.jobId) {
      this.membershipJob = undefined;
      if (m.step.kind === 'applied') {
        this.membershipApplied = Math.max(this.membershipApplied, m.version);
        this.progressSeq++;
        this.rules.finished(m.step, m.version);
      } else if (ev.done) {
        this.rules.finished(m.step, m.version);
      }
      return;
    }
    const owner = this.reads.get(ev.jobId);
    if (owner) {
      this.reads.delete(ev.jobId);
      assert(ev.read, 'a read job answers with its read');
      this.onRead(owner, ev.read, ev.nowMs, out);
    }
  }

  private onJobFailed(jobId: number, code: string, nowMs: number, out: ReplicatorAction[]): void {
    const retryAt = nowMs + this.config.timing.retryMs;
    if (this.applyJob?.jobId === jobId) {
      this.applyJob = undefined;
      this.applyRetryAtMs = retryAt;
      out.push({ type: 'log', level: 'warn', event: 'apply-failed', fields: { code } });
      return;
    }
    if (this.membershipJob?.jobId === jobId) {
      out.push({ type: 'log', level: 'warn', event: `${this.membershipJob.step.kind}-failed`, fields: { code } });
      this.membershipJob = undefined;
      this.membershipRetryAtMs = retryAt;
      return;
    }
    const owner = this.reads.get(jobId);
    if (!owner) return;
    this.reads.delete(jobId);
    if (owner.kind === 'peer') {
      const c = this.peers.get(owner.peer);
      if (c) c.reading = false;
      this.peerReadRetryAtMs.set(owner.peer, retryAt);
    } else {
      const r = this.relays.get(owner.key);
      if (r) {
        r.cursor.reading = false;
        r.readRetryAtMs = retryAt;
      }
    }
  }

  /** A change-index read came back: ship it to the peer it was for, if it still stands there. */
  private onRead(owner: ReadOwner, read: RegionRead, nowMs: number, out: ReplicatorAction[]): void {
    const cursor = owner.kind === 'peer' ? this.peers.get(owner.peer) : this.relays.get(owner.key)?.cursor;
    if (!cursor) return;
    cursor.reading = false;
    if (!cursor.sent || compareGlt(cursor.sent, owner.from) !== 0 || compareGlt(read.end, owner.from) <= 0) return;
    const origin = owner.kind === 'peer' ? this.config.region : this.relays.get(owner.key)!.origin;
    const to = owner.kind === 'peer' ? owner.peer : this.relays.get(owner.key)!.peer;
    const delta = frameDelta(read.batch);
    const horizon = compareGlt(owner.from, read.horizon) < 0 ? read.horizon : GLT_ZERO;
    out.push({ type: 'send', to, msg: { type: 'ship', origin, region: this.config.region, from: owner.from, to: read.end, horizon, delta, count: read.batch.count } });
    cursor.onSent(read.end, delta.length, nowMs);
  }

  /** Starts whatever can start now, then schedules the next wake-up. */
  private step(nowMs: number, out: ReplicatorAction[]): void {
    if (this.phase !== 'running') return;
    const t = this.config.timing;
    for (const [node, atMs] of this.feedReopenAtMs) {
      if (atMs > nowMs) continue;
      this.feedReopenAtMs.delete(node);
      out.push({ type: 'openFeed', node, from: this.own.feedPosition(node) });
    }
    // Cut the own stream: every shipDelayMs when versions wait (at once when a full batch
    // does), every markDelayMs when only the mark moved.
    for (let cuts = 0; cuts < 8 && this.own.canCut() && (nowMs - this.lastCutMs >= this.cutDelayMs() || this.own.full()); cuts++) {
      this.own.cut();
      this.lastCutMs = nowMs;
    }
    for (const [peer, cursor] of this.peers) this.pumpPeer(peer, cursor, nowMs, out);
    for (const [key, r] of this.relays) this.pumpRelay(key, r, nowMs, out);
    this.planMembership(nowMs, out);
    this.planApply(nowMs, out);
    this.sendOwedAcks(nowMs, out);
    this.askRelays(nowMs, out);
    if (nowMs - this.lastAckRefreshMs >= t.ackEveryMs) {
      this.lastAckRefreshMs = nowMs;
      for (const origin of this.peers.keys()) this.sendAck(origin, origin, false, out);
    }
    this.report(nowMs, out);
    this.scheduleWake(nowMs, out);
  }

  private cutDelayMs(): number {
    return this.own.queuedBytes() > 0 ? this.config.timing.shipDelayMs : this.config.timing.markDelayMs;
  }

  private sendOwedAcks(nowMs: number, out: ReplicatorAction[]): void {
    for (const key of this.acksOwed) {
      if (nowMs - (this.lastAckMs.get(key) ?? -Infinity) < this.config.timing.ackGapMs) continue;
      this.acksOwed.delete(key);
      this.lastAckMs.set(key, nowMs);
      const [to, origin] = key.split('|') as [string, string];
      this.sendAck(to, origin, false, out);
    }
  }

  private sendAck(to: string, origin: string, gap: boolean, out: ReplicatorAction[]): void {
    out.push({ type: 'send', to, msg: { type: 'ack', origin, region: this.config.region, applied: this.inbound.applied(origin), gap } });
  }

  private pumpPeer(peer: string, cursor: PeerCursor, nowMs: number, out: ReplicatorAction[]): void {
    const me = this.config.region;
    cursor.checkStalled(nowMs);
    while (cursor.canSend(nowMs) && !cursor.reading) {
      const at = cursor.sent!;
      const b = this.own.batchAt(at);
      if (b) {
        out.push({ type: 'send', to: peer, msg: { type: 'ship', origin: me, region: me, from: b.from, to: b.to, horizon: GLT_ZERO, delta: b.delta, count: b.count } });
        cursor.onSent(b.to, b.delta.length, nowMs);
        continue;
      }
      // Below the ring: read the change index up to where the ring begins (every node's
      // mark is past it once every feed reported).
      const ringStart = this.own.ringStart();
      if (compareGlt(at, ringStart) >= 0 || this.own.closed() === undefined || nowMs < (this.peerReadRetryAtMs.get(peer) ?? 0)) return;
      const jobId = this.nextJobId++;
      cursor.reading = true;
      this.reads.set(jobId, { kind: 'peer', peer, from: at });
      out.push({ type: 'job', job: { type: 'read', jobId, originIds: this.config.originIds(me), from: at, to: ringStart, maxBytes: this.config.limits.maxBatchBytes } });
      return;
    }
  }

  private pumpRelay(key: string, r: Relay, nowMs: number, out: ReplicatorAction[]): void {
    r.cursor.checkStalled(nowMs);
    if (r.cursor.acked && compareGlt(r.cursor.acked, r.cap) >= 0) {
      this.relays.delete(key);
      return;
    }
    if (nowMs - r.lastRequestMs > 4 * this.config.timing.relayRetryMs) {
      this.relays.delete(key);
      return;
    }
    if (!r.cursor.canSend(nowMs) || r.cursor.reading || nowMs < r.readRetryAtMs || compareGlt(r.cursor.sent!, r.cap) >= 0) return;
    const jobId = this.nextJobId++;
    r.cursor.reading = true;
    this.reads.set(jobId, { kind: 'relay', key, from: r.cursor.sent! });
    out.push({ type: 'job', job: { type: 'read', jobId, originIds: this.config.originIds(r.origin), from: r.cursor.sent!, to: r.cap, maxBytes: this.config.limits.maxBatchBytes } });
  }

  /** Asks a member to relay each excluded origin we hold less of than the snapshots need. */
  private askRelays(nowMs: number, out: ReplicatorAction[]): void {
    const me = this.config.region;
    for (const e of this.membership.excluded) {
      if (e.region === me) continue;
      const held = this.inbound.expected(e.region);
      if (compareGlt(held, e.hiddenAbove) >= 0) {
        this.relayAsks.delete(e.region);
        continue;
      }
      const ask = this.relayAsks.get(e.region);
      if (ask && nowMs - ask.atMs < this.config.timing.relayRetryMs) continue;
      const donors = this.membership.members.filter((m) => m !== me && m !== e.region);
      if (donors.length === 0) continue;
      const misses = ask && compareGlt(held, ask.held) <= 0 ? ask.misses + 1 : 0;
      this.relayAsks.set(e.region, { atMs: nowMs, held, misses });
      out.push({ type: 'send', to: donors[misses % donors.length]!, msg: { type: 'relay', origin: e.region, region: me, from: held, upTo: e.hiddenAbove } });
    }
  }

  private planMembership(nowMs: number, out: ReplicatorAction[]): void {
    if (this.membershipJob || nowMs < this.membershipRetryAtMs) return;
    const me = this.config.region;
    const held = (region: string): Glt => (region === me ? (this.own.closed() ?? GLT_ZERO) : this.inbound.applied(region));
    const next = this.rules.next(this.membership, this.membershipApplied, held);
    if (next.kind === 'gap') {
      const why = `membership rules from version ${next.appliedVersion + 1} are no longer kept (oldest ${next.oldestRule})`;
      if (this.membershipBlocked !== why) {
        this.membershipBlocked = why;
        out.push({ type: 'log', level: 'warn', event: 'membership-gap', fields: { code: 'MEMBERSHIP_GAP', appliedVersion: next.appliedVersion, oldestRule: next.oldestRule } });
      }
      return;
    }
    this.membershipBlocked = undefined;
    if (next.kind === 'idle' || next.kind === 'waiting') return;
    const jobId = this.nextJobId++;
    this.membershipJob = { jobId, step: next, version: this.membership.version };
    const limit = this.config.limits.chunkVersions;
    const job: StoreJob =
      next.kind === 'hide'
        ? { type: 'hide', jobId, originIds: next.originIds, above: next.above, limit }
        : next.kind === 'restamp'
          ? { type: 'restamp', jobId, rule: next.rule, limit }
          : { type: 'membershipApplied', jobId, version: next.version };
    out.push({ type: 'job', job });
  }

  /** The apply job: queued ships, and the frontier when a commit can be served. */
  private planApply(nowMs: number, out: ReplicatorAction[]): void {
    if (this.applyJob || nowMs < this.applyRetryAtMs) return;
    const frontier = this.frontierTarget();
    if (!this.inbound.hasQueued() && !frontier) return;
    if (!frontier && nowMs < this.applyDueMs()) return;
    this.lastApplyMs = nowMs;
    const plan = this.inbound.plan();
    const jobId = this.nextJobId++;
    this.applyJob = { jobId, plan, ...(frontier ? { frontier } : {}) };
    out.push({ type: 'job', job: { type: 'apply', jobId, batches: plan.batches, ...(frontier ? { frontier } : {}) } });
  }

  /** When queued Ships may be applied: applyGapMs after the last job, at once when half an apply's worth waits. */
  private applyDueMs(): number {
    return this.inbound.queuedTotal() >= this.config.limits.applyBytes / 2 ? -Infinity : this.lastApplyMs + this.config.timing.applyGapMs;
  }

  /**
   * The committed GLT the frontier may move to now, if above it: the newest commit, once
   * its membership version's rules are carried out and every origin it covers is held up
   * to it — or, while this region is excluded, the watermark it was excluded at.
   */
  private frontierTarget(): Glt | undefined {
    const c = this.lastCommit;
    const me = this.config.region;
    if (!c || c.membershipVersion > this.membershipApplied) return undefined;
    let target = c.T;
    if (!c.members.includes(me)) {
      const e = excludedEntry(this.membership, me);
      if (!e || compareGlt(c.T, e.watermark) < 0) return undefined;
      target = e.watermark;
    }
    if (compareGlt(target, this.frontierAt) <= 0) return undefined;
    const closed = this.own.closed();
    if (!closed || compareGlt(closed, target) < 0) return undefined;
    for (const origin of this.peers.keys()) {
      const e = excludedEntry(this.membership, origin);
      const need = e && !c.members.includes(origin) ? minGlt(target, e.hiddenAbove) : target;
      if (compareGlt(this.inbound.applied(origin), need) < 0) return undefined;
    }
    return target;
  }

  private report(nowMs: number, out: ReplicatorAction[]): void {
    const me = this.config.region;
    const closed = this.own.closed();
    const t = this.config.timing;
    // What Progress carries moves only with these: applies, the closed mark, rules, the frontier.
    const changed = this.progressSeq !== this.reportedSeq || (closed !== undefined && (this.reportedClosed === undefined || compareGlt(closed, this.reportedClosed) !== 0));
    this.progressPending = changed;
    if (nowMs - this.lastProgressMs < (changed ? t.progressMinGapMs : t.progressEveryMs)) return;
    this.lastProgressMs = nowMs;
    this.reportedSeq = this.progressSeq;
    this.reportedClosed = closed;
    this.progressPending = false;
    const applied: { origin: string; ts: Glt }[] = [];
    if (closed) applied.push({ origin: me, ts: closed });
    for (const origin of this.peers.keys()) applied.push({ origin, ts: this.inbound.applied(origin) });
    out.push({ type: 'send', to: COORDINATOR, msg: { type: 'progress', region: me, leaderEpoch: this.epoch, applied, membershipApplied: this.membershipApplied, frontier: this.frontierAt } });
  }

  private scheduleWake(nowMs: number, out: ReplicatorAction[]): void {
    const t = this.config.timing;
    const wakes: number[] = [this.lastAckRefreshMs + t.ackEveryMs, this.lastProgressMs + (this.progressPending ? t.progressMinGapMs : t.progressEveryMs)];
    if (this.own.canCut()) wakes.push(this.lastCutMs + this.cutDelayMs());
    if (!this.applyJob && this.frontierTarget()) wakes.push(this.applyRetryAtMs);
    if (!this.applyJob && this.inbound.hasQueued()) wakes.push(Math.max(this.applyRetryAtMs, this.applyDueMs()));
    for (const key of this.acksOwed) wakes.push((this.lastAckMs.get(key) ?? -Infinity) + t.ackGapMs);
    if (!this.membershipJob && this.membership.version > this.membershipApplied) wakes.push(this.membershipRetryAtMs);
    for (const c of this.peers.values()) {
      const s = c.stallCheckAtMs();
      if (s !== undefined) wakes.push(s);
      wakes.push(c.resumeAtMs);
    }
    for (const at of this.peerReadRetryAtMs.values()) if (at > nowMs) wakes.push(at);
    for (const r of this.relays.values()) {
      wakes.push(r.lastRequestMs + 4 * t.relayRetryMs + 1);
      const s = r.cursor.stallCheckAtMs();
      if (s !== undefined) wakes.push(s);
      wakes.push(r.cursor.resumeAtMs);
      if (r.readRetryAtMs > nowMs) wakes.push(r.readRetryAtMs);
    }
    for (const a of this.relayAsks.values()) wakes.push(a.atMs + t.relayRetryMs);
    for (const at of this.feedReopenAtMs.values()) wakes.push(at);
    const next = Math.min(...wakes.filter((w) => w > nowMs));
    if (Number.isFinite(next)) out.push({ type: 'wakeAt', atMs: next });
  }

  /** How far behind `now` each origin is held here (replication lag), own closed mark included. */
  lagMs(now: Glt): Map<string, number> {
    const out = new Map<string, number>();
    if (this.phase !== 'running') return out;
    const closed = this.own.closed();
    if (closed) out.set(this.config.region, Math.max(0, gltDiffMs(now, closed)));
    for (const [origin, ts] of this.inbound.appliedAll()) out.set(origin, Math.max(0, gltDiffMs(now, ts)));
    return out;
  }
}
