import type { AetherError } from '../common/errors.js';
import { assert } from '../common/errors.js';
import { GLT_ZERO, compareGlt, gltEquals, maxGlt, minGlt, type Glt } from '../glts/glt.js';
import type { Version } from '../datanode/version.js';
import { COORDINATOR, type Begin, type CatchUp, type CatchUpMode, type Delta, type Message } from '../kernel/messages.js';
import { MAX_REGIONS, type CommitRecord, type MembershipRecord } from '../kernel/records.js';
import { mergeDeltas } from './merge.js';

/**
 * A region leader's side of the snapshot round (DESIGN.md steps 2–6, "Failure rules"),
 * sans-IO: `handle(event)` returns actions. The adapter runs `collect`/`apply`/`fetch`
 * jobs on the region's data nodes (gRPC; in the simulator, MemoryStores — see
 * regional/round-jobs.ts) and answers each with `jobDone` or `jobFailed`; it turns
 * `send` into Quantum messages, `wakeAt` into a timer feeding `tick`, and feeds the
 * etcd watches on commit records and membership as `committed` / `membership`.
 *
 * Phases: `starting` until `started` (frontier and watermark read from the data nodes,
 * last commit and membership from etcd), then `running`. Within `running`, at most one
 * round is open; its own delta goes through collecting → exchanging → ready:
 *   collecting — a collect job (close(T), own versions in (watermark, T]) is in flight;
 *   exchanging — own delta sent to every other member; peers' deltas are staged;
 *   ready      — Ready sent; waiting for Commit (apply) or Abort (drop).
 * At most one store job (collect or apply) runs at a time; committed rounds wait in
 * `applyQueue` in GLT order.
 *
 * What each peer lacks: every member holds every committed version up to prev.T (it may
 * not be Ready otherwise), so a delta carries the sender's own versions above its
 * watermark, the same for every member. A region that lacks more — it missed commits,
 * restarted, or was excluded — says so itself: its catch-up requests carry what it holds
 * (`fetched`), its per-peer watermark, and peers answer from there: everything from one
 * peer at or past the target, or each member's own versions for the one commit it lacks
 * (which works even when no region applied that commit yet). An excluded region keeps
 * fetching committed snapshots without moving its frontier, so the round that readmits
 * it has nothing to catch up; there it re-stamps (close, restamp, collect) and only
 * then may its frontier follow.
 */
export type LeaderPhase = 'starting' | 'running';
export type RoundPhase = 'collecting' | 'exchanging' | 'ready';

export interface LeaderConfig {
  readonly region: string;
  /** Resend a catch-up request (to the next peer) when unanswered this long. */
  readonly catchUpRetryMs: number;
  /** While excluded, ask to be readmitted this often. */
  readonly joinRetryMs: number;
  /** Retry a failed apply after this long (a data node was down). */
  readonly applyRetryMs: number;
}

/** Concurrent catch-up reads this leader serves for peers; more are refused. */
export const MAX_DONOR_JOBS = 4;

export type JobResult =
  | { readonly kind: 'collected'; readonly versions: readonly Version[] }
  | { readonly kind: 'applied' }
  | { readonly kind: 'fetched'; readonly versions: readonly Version[]; readonly full: boolean; readonly horizon: Glt };

export type LeaderEvent =
  | {
      readonly type: 'started';
      readonly nowMs: number;
      readonly frontier: Glt;
      readonly watermark: Glt;
      readonly last: CommitRecord | undefined;
      readonly membership: MembershipRecord | undefined;
    }
  | { readonly type: 'tick'; readonly nowMs: number }
  | { readonly type: 'message'; readonly nowMs: number; readonly msg: Message }
  /** The etcd watch on commit records (a missed Commit is learnt here). */
  | { readonly type: 'committed'; readonly nowMs: number; readonly record: CommitRecord }
  | { readonly type: 'membership'; readonly nowMs: number; readonly record: MembershipRecord }
  | { readonly type: 'jobDone'; readonly nowMs: number; readonly jobId: number; readonly result: JobResult }
  | { readonly type: 'jobFailed'; readonly nowMs: number; readonly jobId: number; readonly error: AetherError };

/** Work on the region's data nodes; answer with `jobDone`/`jobFailed` carrying `jobId`. */
export type LeaderJob =
  /**
   * On every data node: close(T); then, when `restampAfter` is set, restamp(restampAfter)
   * (rejoin); then its own-origin versions with ts in (after, T]. Result: `collected`
   * with the merged versions.
   */
  | { readonly type: 'collect'; readonly jobId: number; readonly T: Glt; readonly after: Glt; readonly restampAfter?: Glt }
  /**
   * Route each version to its data node by key and applyRemote (idempotent); when
   * `horizon` is set, gc(horizon) on every node (after a full state transfer); then
   * persist frontier and watermark in every node's meta. Result: `applied`.
   */
  | { readonly type: 'apply'; readonly jobId: number; readonly versions: readonly Version[]; readonly frontier: Glt; readonly watermark: Glt; readonly horizon?: Glt }
  /**
   * Every version (of any origin, or with `ownOnly` only each node's own) with ts in
   * (from, to] from every node, merged — or, when `from` is below a node's GC horizon,
   * everything ≤ to (full = true). Result: `fetched`.
   */
  | { readonly type: 'fetch'; readonly jobId: number; readonly from: Glt; readonly to: Glt; readonly ownOnly: boolean };

export type LeaderAction =
  | { readonly type: 'send'; readonly to: string; readonly msg: Message }
  | { readonly type: 'job'; readonly job: LeaderJob }
  | { readonly type: 'wakeAt'; readonly atMs: number }
  /** The region's frontier advanced (reads may now be served up to it). */
  | { readonly type: 'frontier'; readonly frontier: Glt }
  | { readonly type: 'log'; readonly level: 'info' | 'warn'; readonly event: string; readonly fields: Readonly<Record<string, unknown>> };

interface OpenRound {
  readonly epoch: bigint;
  readonly roundId: number;
  readonly T: Glt;
  readonly members: readonly string[];
  readonly prevT: Glt;
  /** Set when this round readmits us: re-stamp own versions above it. */
  readonly joinWatermark: Glt | undefined;
  phase: RoundPhase;
  /** When the Begin was handled, and when our own delta went out (phase timings in Ready). */
  readonly beganAtMs: number;
  collectedAtMs: number | undefined;
  collectJob: number | undefined;
  /** Staged deltas of the other members, not readable until Commit. */
  readonly received: Map<string, readonly Version[]>;
  /** What the last Waiting said, to send a new one only on change. */
  lastReport: string | undefined;
}

interface StagedCommit {
  readonly T: Glt;
  readonly prevT: Glt;
  readonly versions: readonly Version[];
}

/** Asking one peer at a time (rotating) for every committed version in (from, to]. */
interface CatchUpState {
  readonly reqId: number;
  readonly from: Glt;
  readonly to: Glt;
  donor: string;
  sentAtMs: number;
  reply: CatchUp | undefined;
}

/**
 * Rebuilding the one commit `to` we lack (from = its prevT = our frontier) from every
 * other member's own versions: works even when no region has applied `to` yet (every
 * member crashed between Ready and Commit).
 */
interface ReplayState {
  readonly reqId: number;
  readonly from: Glt;
  readonly to: Glt;
  readonly peers: readonly string[];
  readonly replies: Map<string, CatchUp>;
  sentAtMs: number;
}

type StoreJob =
  | { readonly kind: 'collect'; readonly id: number }
  | {
      readonly kind: 'apply';
      readonly id: number;
      readonly frontier: Glt;
      readonly fetched: Glt;
      readonly watermark: Glt;
      readonly horizon: Glt | undefined;
      readonly source: 'staged' | 'catchup' | 'replay' | 'advance';
    };

function roundOrder(aEpoch: bigint, aId: number, bEpoch: bigint, bId: number): number {
  if (aEpoch !== bEpoch) return aEpoch < bEpoch ? -1 : 1;
  return aId - bId;
}

export class LeaderRound {
  private phase: LeaderPhase = 'starting';
  /** The highest coordinator epoch seen; messages of lower epochs are ignored. */
  private epoch = 0n;
  /** Last committed GLT applied to the data nodes. Invariant (M): never decreases. */
  private frontier: Glt = GLT_ZERO;
  /**
   * The data nodes hold every committed version ≤ fetched (frontier ≤ fetched ≤ known.T).
   * Above the frontier only while excluded: an excluded region keeps fetching committed
   * snapshots (invisible to reads, which stop at the frontier), so that when a round
   * readmits it, it needs no catch-up inside that round's budget.
   */
  private fetched: Glt = GLT_ZERO;
  /**
   * The GC horizon of a full state transfer fetched while the frontier could not move.
   * Collecting then would drop our own unshipped versions before they are re-stamped (D),
   * so it waits for the apply that advances the frontier.
   */
  private pendingHorizon: Glt | undefined;
  /** Own versions ≤ watermark are in every snapshot (see watermarks.ts). Never decreases. */
  private watermark: Glt = GLT_ZERO;
  /** The newest commit known (Begin.prev, Commit, etcd). */
  private known: { T: Glt; prevT: Glt; members: readonly string[] } = { T: GLT_ZERO, prevT: GLT_ZERO, members: [] };
  private membership: MembershipRecord | undefined;
  private round: OpenRound | undefined;
  /**
   * Per peer: its own versions in (from, upTo] that it shipped us in rounds that did not
   * commit (yet). An abort leaves them valid — the sender closed upTo, so none of its own
   * versions lands at or below it again short of a re-stamp, and a re-stamp comes in a
   * delta based at or below prev.T, which replaces this — so the peer's next delta need
   * only carry what is newer (we tell it `holds`). Without this, every aborted round left
   * the next one more to ship, and under load rounds stopped committing. Never readable;
   * trimmed as commits arrive. One entry per peer (≤ MAX_REGIONS).
   */
  private readonly held = new Map<string, { readonly from: Glt; readonly upTo: Glt; readonly versions: readonly Version[] }>();
  /** Per peer: how far it said it holds our own versions; our next delta to it starts there. Cleared when we are excluded. */
  private readonly peerHolds = new Map<string, Glt>();
  /** Deltas that arrived before their Begin (reordering), all of one round, one per sender. */
  private early: Delta[] = [];
  /** Committed rounds whose staged deltas await applying, in T order. */
  private readonly applyQueue: StagedCommit[] = [];
  private job: StoreJob | undefined;
  private applyRetryAtMs = 0;
  private catchUp: CatchUpState | undefined;
  private replay: ReplayState | undefined;
  private donorIndex = 0;
  private readonly donorJobs = new Map<number, { readonly requester: string; readonly reqId: number; readonly mode: CatchUpMode; readonly from: Glt; readonly to: Glt }>();
  private lastJoinAtMs = -Infinity;
  private nextJobId = 1;
  private nextReqId = 1;

  constructor(readonly config: LeaderConfig) {}

  get currentFrontier(): Glt {
    return this.frontier;
  }

  get currentWatermark(): Glt {
    return this.watermark;
  }

  get currentEpoch(): bigint {
    return this.epoch;
  }

  get roundPhase(): RoundPhase | undefined {
    return this.round?.phase;
  }

  get isExcluded(): boolean {
    const me = this.config.region;
    if (this.membership) return this.membership.excluded.some((e) => e.region === me);
    return compareGlt(this.known.T, this.frontier) > 0 && !this.known.members.includes(me);
  }

  handle(ev: LeaderEvent): LeaderAction[] {
    const out: LeaderAction[] = [];
    if (this.phase === 'starting') {
      if (ev.type !== 'started') return out;
      this.phase = 'running';
      this.frontier = ev.frontier;
      this.fetched = ev.frontier;
      this.watermark = ev.watermark;
      if (ev.membership) this.membership = ev.membership;
      if (ev.last) {
        this.epoch = ev.last.epoch;
        this.learnCommit(ev.last.T, ev.last.prevT, ev.last.members, out);
      }
      this.step(ev.nowMs, out);
      return out;
    }
    switch (ev.type) {
      case 'started':
        break;
      case 'tick':
        break;
      case 'message':
        this.onMessage(ev.msg, ev.nowMs, out);
        break;
      case 'committed':
        // A durable commit of epoch e proves coordinator e was elected: lower epochs are stale.
        if (ev.record.epoch > this.epoch) this.epoch = ev.record.epoch;
        this.learnCommit(ev.record.T, ev.record.prevT, ev.record.members, out);
        break;
      case 'membership':
        if (!this.membership || ev.record.version > this.membership.version) this.membership = ev.record;
        break;
      case 'jobDone':
        this.onJobDone(ev.jobId, ev.result, ev.nowMs, out);
        break;
      case 'jobFailed':
        this.onJobFailed(ev.jobId, ev.error, ev.nowMs, out);
        break;
    }
    this.step(ev.nowMs, out);
    return out;
  }

  private onMessage(msg: Message, nowMs: number, out: LeaderAction[]): void {
    switch (msg.type) {
      case 'begin':
        this.onBegin(msg, nowMs, out);
        return;
      case 'delta':
        this.onDelta(msg);
        return;
      case 'commit':
        if (msg.epoch < this.epoch) return;
        this.epoch = msg.epoch;
        this.learnCommit(msg.T, msg.prevT, msg.members, out);
        return;
      case 'abort': {
        const r = this.round;
        if (msg.epoch < this.epoch || !r || r.epoch !== msg.epoch || r.roundId !== msg.roundId) return;
        out.push({ type: 'log', level: 'info', event: 'round-aborted', fields: { T: msg.T } });
        this.round = undefined;
        return;
      }
      case 'catchup-request':
        this.onCatchUpRequest(msg, out);
        return;
      case 'catchup': {
        const c = this.catchUp;
        const p = this.replay;
        if (msg.mode === 'all' && c && msg.reqId === c.reqId && gltEquals(msg.from, c.from) && compareGlt(msg.to, this.fetched) > 0) c.reply = msg;
        if (msg.mode === 'own' && p && msg.reqId === p.reqId && gltEquals(msg.to, p.to) && p.peers.includes(msg.region)) p.replies.set(msg.region, msg);
        return;
      }
      case 'catchup-refused': {
        const c = this.catchUp;
        if (c && msg.reqId === c.reqId && !c.reply) this.sendCatchUp(c, nowMs, out, true);
        return;
      }
      default:
        return;
    }
  }

  private onBegin(msg: Begin, nowMs: number, out: LeaderAction[]): void {
    const me = this.config.region;
    if (msg.epoch < this.epoch) return;
    const r = this.round;
    if (r && roundOrder(msg.epoch, msg.roundId, r.epoch, r.roundId) <= 0) return;
    this.epoch = msg.epoch;
    if (!msg.members.includes(me)) return;
    if (compareGlt(msg.prev.T, GLT_ZERO) > 0) this.learnCommit(msg.prev.T, msg.prev.prevT, msg.prev.members, out);
    // A newer Begin means the open round ended: committed (then prev covers it) or not.
    this.round = undefined;
    if (compareGlt(this.frontier, msg.prev.T) > 0) {
      out.push({ type: 'log', level: 'warn', event: 'begin-below-frontier', fields: { prev: msg.prev.T, frontier: this.frontier } });
      return;
    }
    const join = msg.joining.find((j) => j.region === me);
    const open: OpenRound = {
      epoch: msg.epoch,
      roundId: msg.roundId,
      T: msg.T,
      members: msg.members,
      prevT: msg.prev.T,
      joinWatermark: join?.watermark,
      phase: 'collecting',
      beganAtMs: nowMs,
      collectedAtMs: undefined,
      collectJob: undefined,
      received: new Map(),
      lastReport: undefined,
    };
    this.round = open;
    for (const d of this.early) if (d.epoch === msg.epoch && d.roundId === msg.roundId) this.stage(open, d);
    this.early = [];
  }

  private onDelta(msg: Delta): void {
    if (msg.epoch < this.epoch) return;
    const r = this.round;
    if (r && r.epoch === msg.epoch && r.roundId === msg.roundId) {
      this.stage(r, msg);
      return;
    }
    if (r && roundOrder(msg.epoch, msg.roundId, r.epoch, r.roundId) < 0) return;
    // Its Begin has not arrived yet: keep it, and only the newest round's.
    const e = this.early[0];
    if (e && roundOrder(msg.epoch, msg.roundId, e.epoch, e.roundId) < 0) return;
    if (e && roundOrder(msg.epoch, msg.roundId, e.epoch, e.roundId) > 0) this.early = [];
    if (this.early.some((d) => d.from === msg.from) || this.early.length >= MAX_REGIONS) return;
    this.early.push(msg);
  }

  private stage(r: OpenRound, d: Delta): void {
    if (d.from === this.config.region || !r.members.includes(d.from) || !gltEquals(d.T, r.T) || r.received.has(d.from)) return;
    this.peerHolds.set(d.from, d.holds);
    const h = this.held.get(d.from);
    let from: Glt;
    let versions: readonly Version[];
    if (compareGlt(d.base, r.prevT) <= 0) {
      from = d.base;
      versions = d.versions;
    } else if (h && compareGlt(h.from, r.prevT) <= 0 && compareGlt(h.from, d.base) <= 0 && compareGlt(d.base, h.upTo) <= 0) {
      // What we hold up to its base, then the delta: every version above base is in it, so the order holds.
      from = h.from;
      versions = h.versions.filter((v) => compareGlt(v.ts, d.base) <= 0).concat(d.versions);
    } else {
      // Based above prev.T with nothing held below it: a gap in the sender's versions.
      return;
    }
    r.received.set(d.from, versions);
    this.held.set(d.from, { from, upTo: d.T, versions });
  }

  /** How far we hold `peer`'s own versions from rounds that did not commit (GLT 0: nothing). */
  private holdsOf(peer: string): Glt {
    const h = this.held.get(peer);
    return h && compareGlt(h.from, this.frontier) <= 0 ? h.upTo : GLT_ZERO;
  }

  /**
   * Commit T with `members` is known: a member's held versions up to T are in it; an
   * absent region's may be re-stamped when it rejoins, so nothing of it is kept. Excluded
   * ourselves, our versions will be re-stamped: what peers said they hold no longer counts.
   */
  private trimHeld(T: Glt, members: readonly string[]): void {
    for (const [peer, h] of this.held) {
      if (!members.includes(peer) || compareGlt(h.upTo, T) <= 0) this.held.delete(peer);
      else if (compareGlt(h.from, T) < 0) this.held.set(peer, { from: T, upTo: h.upTo, versions: h.versions.filter((v) => compareGlt(v.ts, T) > 0) });
    }
    if (!members.includes(this.config.region)) this.peerHolds.clear();
  }

  /**
   * A commit of T with `members` is durable. Our staged round T, if complete, is queued to
   * be applied; an incomplete or older open round can never be applied and is dropped
   * (the region then catches up from a peer).
   */
  private learnCommit(T: Glt, prevT: Glt, members: readonly string[], out: LeaderAction[]): void {
    const me = this.config.region;
    if (compareGlt(T, this.known.T) > 0) this.known = { T, prevT, members };
    this.trimHeld(T, members);
    // Our delta for T covered every own version up to T.
    if (members.includes(me)) this.watermark = maxGlt(this.watermark, T);
    const r = this.round;
    if (!r || compareGlt(r.T, T) > 0) return;
    if (gltEquals(r.T, T) && r.phase === 'ready') {
      this.applyQueue.push({ T, prevT: r.prevT, versions: mergeDeltas([...r.received.values()]) });
      assert(this.applyQueue.length <= MAX_REGIONS, 'apply queue is bounded');
    } else {
      out.push({ type: 'log', level: 'info', event: 'round-superseded', fields: { T: r.T, committed: T } });
    }
    this.round = undefined;
  }

  private onCatchUpRequest(msg: Extract<Message, { type: 'catchup-request' }>, out: LeaderAction[]): void {
    // 'all': our state up to the frontier is exactly the committed snapshot, so we serve up to it.
    // 'own': our own versions up to the watermark are exactly what our deltas shipped.
    const limit = msg.mode === 'all' ? this.frontier : this.watermark;
    const to = msg.mode === 'all' && compareGlt(limit, msg.to) < 0 ? limit : msg.to;
    if (compareGlt(limit, msg.from) <= 0 || compareGlt(to, limit) > 0 || this.donorJobs.size >= MAX_DONOR_JOBS) {
      out.push({ type: 'send', to: msg.region, msg: { type: 'catchup-refused', reqId: msg.reqId, region: this.config.region, frontier: this.frontier } });
      return;
    }
    const jobId = this.nextJobId++;
    this.donorJobs.set(jobId, { requester: msg.region, reqId: msg.reqId, mode: msg.mode, from: msg.from, to });
    out.push({ type: 'job', job: { type: 'fetch', jobId, from: msg.from, to, ownOnly: msg.mode === 'own' } });
  }

  private onJobDone(jobId: number, result: JobResult, nowMs: number, out: LeaderAction[]): void {
    const donor = this.donorJobs.get(jobId);
    if (donor) {
      this.donorJobs.delete(jobId);
      if (result.kind !== 'fetched') return;
      out.push({
        type: 'send',
        to: donor.requester,
        msg: { type: 'catchup', reqId: donor.reqId, mode: donor.mode, region: this.config.region, from: donor.from, to: donor.to, full: result.full, horizon: result.horizon, versions: result.versions },
      });
      return;
    }
    const j = this.job;
    if (!j || j.id !== jobId) return;
    this.job = undefined;
    if (j.kind === 'collect') {
      const r = this.round;
      if (!r || r.collectJob !== jobId || result.kind !== 'collected') return;
      r.phase = 'exchanging';
      r.collectedAtMs = nowMs;
      const base = r.joinWatermark ?? this.watermark;
      for (const to of r.members) {
        if (to === this.config.region) continue;
        // Only what the peer does not hold yet; a joining region re-stamped, so it sends all.
        const holds = r.joinWatermark ? undefined : this.peerHolds.get(to);
        const from = holds && compareGlt(holds, base) > 0 && compareGlt(holds, r.T) < 0 ? holds : base;
        const versions = from === base ? result.versions : result.versions.filter((v) => compareGlt(v.ts, from) > 0);
        out.push({ type: 'send', to, msg: { type: 'delta', epoch: r.epoch, roundId: r.roundId, T: r.T, from: this.config.region, base: from, holds: this.holdsOf(to), versions } });
      }
      return;
    }
    assert(result.kind === 'applied', 'apply job answered with applied');
    this.fetched = maxGlt(this.fetched, j.fetched);
    if (j.horizon && this.pendingHorizon && compareGlt(j.horizon, this.pendingHorizon) >= 0) this.pendingHorizon = undefined;
    if (compareGlt(j.frontier, this.frontier) > 0) {
      this.frontier = j.frontier;
      out.push({ type: 'frontier', frontier: j.frontier });
    }
    assert(compareGlt(this.frontier, this.fetched) <= 0, 'the frontier never passes what the data nodes hold');
    this.watermark = maxGlt(this.watermark, j.watermark);
    if (j.source === 'catchup') this.catchUp = undefined;
    else if (j.source === 'replay') this.replay = undefined;
    else if (this.applyQueue[0] && gltEquals(this.applyQueue[0].T, j.frontier)) this.applyQueue.shift();
  }

  private onJobFailed(jobId: number, error: AetherError, nowMs: number, out: LeaderAction[]): void {
    const donor = this.donorJobs.get(jobId);
    if (donor) {
      this.donorJobs.delete(jobId);
      out.push({ type: 'send', to: donor.requester, msg: { type: 'catchup-refused', reqId: donor.reqId, region: this.config.region, frontier: this.frontier } });
      return;
    }
    const j = this.job;
    if (!j || j.id !== jobId) return;
    this.job = undefined;
    out.push({ type: 'log', level: 'warn', event: `${j.kind}-failed`, fields: { code: error.code } });
    if (j.kind === 'collect') {
      // Without our own delta the round cannot complete: say so, rather than leave the
      // coordinator waiting out its budget.
      const r = this.round;
      if (r?.collectJob === jobId) {
        this.round = undefined;
        out.push({ type: 'send', to: COORDINATOR, msg: { type: 'unable', epoch: r.epoch, roundId: r.roundId, T: r.T, region: this.config.region, code: error.code } });
      }
      return;
    }
    this.applyRetryAtMs = nowMs + this.config.applyRetryMs;
  }

  /** Starts what can start now, then reports progress. */
  private step(nowMs: number, out: LeaderAction[]): void {
    const me = this.config.region;
    const r = this.round;
    if (!this.job && r && r.phase === 'collecting' && r.collectJob === undefined) {
      const jobId = this.nextJobId++;
      r.collectJob = jobId;
      this.job = { kind: 'collect', id: jobId };
      const after = r.joinWatermark ?? this.watermark;
      out.push({ type: 'job', job: { type: 'collect', jobId, T: r.T, after, ...(r.joinWatermark ? { restampAfter: r.joinWatermark } : {}) } });
    }
    while (this.applyQueue[0] && compareGlt(this.applyQueue[0].T, this.frontier) <= 0) this.applyQueue.shift();
    if (!this.job && nowMs >= this.applyRetryAtMs) {
      const head = this.applyQueue[0];
      const reply = this.catchUp?.reply;
      const replay = this.replay && this.replay.replies.size === this.replay.peers.length ? this.replay : undefined;
      if (head) {
        assert(compareGlt(head.prevT, this.frontier) <= 0, 'a staged commit is applied only on top of its prev');
        this.startApply('staged', head.versions, head.T, head.T, undefined, out);
      } else if (reply) {
        this.startApply('catchup', reply.versions, this.advanceTo(reply.to), reply.to, reply.full ? reply.horizon : undefined, out);
      } else if (replay) {
        const replies = [...replay.replies.values()];
        const horizon = replies.filter((x) => x.full).reduce<Glt | undefined>((h, x) => (h ? maxGlt(h, x.horizon) : x.horizon), undefined);
        this.startApply('replay', mergeDeltas(replies.map((x) => x.versions)), this.advanceTo(replay.to), replay.to, horizon, out);
      } else if (compareGlt(this.advanceTo(this.fetched), this.frontier) > 0) {
        this.startApply('advance', [], this.fetched, this.fetched, undefined, out);
      }
    }
    this.maybeCatchUp(nowMs, out);
    if (r && this.round === r && r.phase === 'exchanging') {
      const missing = r.members.filter((m) => m !== me && !r.received.has(m));
      const caughtUp = gltEquals(this.frontier, r.prevT);
      if (missing.length === 0 && caughtUp) {
        r.phase = 'ready';
        const collectedAtMs = r.collectedAtMs ?? nowMs;
        out.push({
          type: 'send',
          to: COORDINATOR,
          msg: { type: 'ready', epoch: r.epoch, roundId: r.roundId, T: r.T, region: me, frontier: this.frontier, collectMs: Math.max(0, collectedAtMs - r.beganAtMs), exchangeMs: Math.max(0, nowMs - collectedAtMs) },
        });
      } else {
        const report = `${missing.join(',')}|${caughtUp}`;
        if (report !== r.lastReport) {
          r.lastReport = report;
          out.push({ type: 'send', to: COORDINATOR, msg: { type: 'waiting', epoch: r.epoch, roundId: r.roundId, T: r.T, region: me, missing, caughtUp } });
        }
      }
    }
    if (this.isExcluded && !this.round?.joinWatermark && nowMs - this.lastJoinAtMs >= this.config.joinRetryMs) {
      this.lastJoinAtMs = nowMs;
      out.push({ type: 'send', to: COORDINATOR, msg: { type: 'join', region: me, frontier: this.frontier } });
    }
    const wakes: number[] = [];
    if (this.catchUp && !this.catchUp.reply) wakes.push(this.catchUp.sentAtMs + this.config.catchUpRetryMs);
    if (this.replay) wakes.push(this.replay.sentAtMs + this.config.catchUpRetryMs);
    if (this.isExcluded && !this.round?.joinWatermark) wakes.push(this.lastJoinAtMs + this.config.joinRetryMs);
    if (!this.job && nowMs < this.applyRetryAtMs) wakes.push(this.applyRetryAtMs);
    const next = Math.min(...wakes.filter((w) => w > nowMs));
    if (Number.isFinite(next)) out.push({ type: 'wakeAt', atMs: next });
  }

  /**
   * How far the frontier may go once the data nodes hold the committed versions up to
   * `to`: only as far as our own versions are all in the snapshots, or our reads would
   * show unshipped writes. As a member of the newest commit, all the way. In a round
   * that readmits us, once re-stamped (collected), up to the round's prev.T: the
   * re-stamped versions lie above the round's T, and a later commit without us (a newer
   * coordinator's) would not hold them. Excluded otherwise: nowhere.
   */
  private advanceTo(to: Glt): Glt {
    const r = this.round;
    if (this.known.members.includes(this.config.region)) return maxGlt(this.frontier, to);
    if (r?.joinWatermark !== undefined && r.phase !== 'collecting') return maxGlt(this.frontier, minGlt(to, r.prevT));
    return this.frontier;
  }

  private startApply(source: 'staged' | 'catchup' | 'replay' | 'advance', versions: readonly Version[], frontier: Glt, fetched: Glt, horizon: Glt | undefined, out: LeaderAction[]): void {
    let gc = horizon;
    if (compareGlt(frontier, this.frontier) <= 0) {
      if (horizon) this.pendingHorizon = this.pendingHorizon ? maxGlt(this.pendingHorizon, horizon) : horizon;
      gc = undefined;
    } else if (this.pendingHorizon) {
      gc = gc ? maxGlt(gc, this.pendingHorizon) : this.pendingHorizon;
    }
    const jobId = this.nextJobId++;
    this.job = { kind: 'apply', id: jobId, frontier, fetched, watermark: this.watermark, horizon: gc, source };
    out.push({ type: 'job', job: { type: 'apply', jobId, versions, frontier, watermark: this.watermark, ...(gc ? { horizon: gc } : {}) } });
  }

  /**
   * Behind the newest known commit: fetch the committed versions in (fetched, target].
   * (Whether the frontier may follow is `advanceTo`'s call.) Two ways run side by side,
   * the first to finish is applied: 'all' from one peer at or past the target (rotating
   * on refusal or timeout), and, when the target is the one commit after what we hold,
   * 'own' from each of its other members (a replay of its deltas).
   */
  private maybeCatchUp(nowMs: number, out: LeaderAction[]): void {
    const me = this.config.region;
    const r = this.round;
    let target: Glt | undefined;
    if (this.applyQueue.length > 0) target = undefined;
    else if (compareGlt(this.known.T, this.fetched) > 0) target = this.known.T;
    else if (r?.joinWatermark && compareGlt(r.prevT, this.fetched) > 0) target = r.prevT;
    const applying = this.job?.kind === 'apply' ? this.job.source : undefined;
    const c = this.catchUp;
    if (c && applying !== 'catchup' && (!target || !gltEquals(c.from, this.fetched) || compareGlt(c.to, target) < 0)) this.catchUp = undefined;
    const p = this.replay;
    if (p && applying !== 'replay' && (!target || !gltEquals(p.from, this.fetched) || !gltEquals(p.to, target))) this.replay = undefined;
    if (!target) return;

    if (!this.catchUp) {
      const fresh: CatchUpState = { reqId: this.nextReqId++, from: this.fetched, to: target, donor: '', sentAtMs: nowMs, reply: undefined };
      this.catchUp = fresh;
      this.sendCatchUp(fresh, nowMs, out, false);
    } else if (!this.catchUp.reply && nowMs - this.catchUp.sentAtMs >= this.config.catchUpRetryMs) {
      this.sendCatchUp(this.catchUp, nowMs, out, true);
    }

    if (!this.replay && gltEquals(target, this.known.T) && gltEquals(this.known.prevT, this.fetched)) {
      const peers = this.known.members.filter((m) => m !== me);
      this.replay = { reqId: this.nextReqId++, from: this.fetched, to: target, peers, replies: new Map(), sentAtMs: nowMs };
      this.sendReplay(this.replay, out);
    } else if (this.replay && this.replay.replies.size < this.replay.peers.length && nowMs - this.replay.sentAtMs >= this.config.catchUpRetryMs) {
      this.replay.sentAtMs = nowMs;
      this.sendReplay(this.replay, out);
    }
  }

  private sendReplay(p: ReplayState, out: LeaderAction[]): void {
    for (const to of p.peers) {
      if (!p.replies.has(to)) out.push({ type: 'send', to, msg: { type: 'catchup-request', reqId: p.reqId, mode: 'own', region: this.config.region, from: p.from, to: p.to } });
    }
  }

  /** Peers to ask, members of the target snapshot first; rotated on every retry. */
  private donors(): string[] {
    const me = this.config.region;
    const first = (this.round?.joinWatermark ? this.round.members : this.known.members).filter((m) => m !== me);
    const rest = [...(this.membership?.members ?? []), ...(this.membership?.excluded.map((e) => e.region) ?? [])].filter((m) => m !== me && !first.includes(m));
    return [...first, ...rest];
  }

  private sendCatchUp(c: CatchUpState, nowMs: number, out: LeaderAction[], rotate: boolean): void {
    const donors = this.donors();
    if (donors.length === 0) return;
    if (rotate) this.donorIndex++;
    c.donor = donors[this.donorIndex % donors.length]!;
    c.sentAtMs = nowMs;
    out.push({ type: 'send', to: c.donor, msg: { type: 'catchup-request', reqId: c.reqId, mode: 'all', region: this.config.region, from: c.from, to: c.to } });
  }
}
