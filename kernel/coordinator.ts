import { assert } from '../common/errors.js';
import { GLT_ZERO, compareGlt, formatGlt, gltDiffMs, type Glt } from '../glts/glt.js';
import { exclusionCandidate, readmissionCandidate, watermark, type ExclusionLimits, type ExclusionReason, type RegionView } from './membership-policy.js';
import type { Message, Progress } from './messages.js';
import { excludeRegion, readmitRegion, type CommitRecord, type MembershipRecord } from './records.js';

/**
 * The global coordinator's commit loop (docs/architecture.md "The snapshot pipeline", "Failure rules"),
 * sans-IO: `handle(event)` returns the actions to carry out. The adapter
 * (kernel/coordinator-driver.ts) turns `send` into Quantum messages, `persist` into one
 * etcd transaction fenced on the election key, `wakeAt` into a timer feeding `tick`.
 *
 * Data does not pass through here: leaders stream versions to each other and report what
 * they hold (`Progress`). Every `intervalMs` the coordinator commits T = the minimum of
 * what every member holds of every member origin — once T is durable in etcd, every
 * member already holds every version ≤ T (S) — or changes the membership first when a
 * member is silent, lagging or ahead of the clock, or an excluded region is ready to come
 * back. Commits and membership changes share one persist slot, so a watermark is always
 * read against the last commit and the membership etcd holds.
 *
 * States:
 *   follower — not elected; ignores everything but `elected`.
 *   leading  — elected; at most one persist in flight (`persisting`).
 */
export type CoordinatorState = 'follower' | 'leading';

export interface CoordinatorConfig extends ExclusionLimits {
  readonly id: string;
  /** Every region of the topology, in topology order (a readmitted region takes its place back). */
  readonly regions: readonly string[];
  readonly intervalMs: number;
}

export type PersistOutcome = 'ok' | 'fenced' | 'failed';

export type CoordinatorEvent =
  /** Won the election: epoch = the campaign key's revision; `last` and `membership` read from etcd after winning. */
  | { readonly type: 'elected'; readonly nowMs: number; readonly epoch: bigint; readonly last: CommitRecord | undefined; readonly membership: MembershipRecord }
  /** Lost leadership (lease expired, resigned). */
  | { readonly type: 'deposed'; readonly nowMs: number }
  | { readonly type: 'tick'; readonly nowMs: number }
  | { readonly type: 'message'; readonly nowMs: number; readonly msg: Message }
  /** Any packet from `region`'s elected leader: it is alive. */
  | { readonly type: 'heard'; readonly nowMs: number; readonly region: string }
  /** The outcome of a `persist` action: ok, fenced (no longer the leader), failed (outcome unknown). */
  | { readonly type: 'persisted'; readonly nowMs: number; readonly persistId: number; readonly outcome: PersistOutcome };

/** Where a commit's time went (snapshot_commit_seconds{phase}); announce is measured by the adapter. */
export interface CommitTimings {
  /** The interval tick it was due at → the decision (a late timer shows here). */
  readonly decideMs: number;
  readonly persistMs: number;
}

export type CoordinatorAction =
  | { readonly type: 'send'; readonly to: string; readonly msg: Message }
  /** One etcd transaction fenced on the election key of `epoch`: the commit record or the membership. Answer with `persisted`. */
  | { readonly type: 'persist'; readonly persistId: number; readonly epoch: bigint; readonly commit?: CommitRecord; readonly membership?: MembershipRecord }
  /** Feed a `tick` at or after this time (replaces any earlier wake-up). */
  | { readonly type: 'wakeAt'; readonly atMs: number }
  /** A commit is durable and announced (the sends before it in the same batch of actions). */
  | { readonly type: 'committed'; readonly record: CommitRecord; readonly timings: CommitTimings }
  | { readonly type: 'membership'; readonly record: MembershipRecord; readonly excluded?: { readonly region: string; readonly reason: ExclusionReason }; readonly readmitted?: string }
  /** The outcome of a persist is unknown: give up leadership so the next leader rereads etcd. */
  | { readonly type: 'resign' }
  | { readonly type: 'log'; readonly level: 'info' | 'warn'; readonly event: string; readonly fields: Readonly<Record<string, unknown>> };

/** The clock the coordinator measures lag against (glts/clock.ts `Clock.stamp` in a deployment). */
export type WallClock = () => Glt;

type InFlight =
  | { readonly kind: 'commit'; readonly persistId: number; readonly record: CommitRecord; readonly decideMs: number; readonly startedMs: number }
  | {
      readonly kind: 'membership';
      readonly persistId: number;
      readonly record: MembershipRecord;
      readonly excluded?: { readonly region: string; readonly reason: ExclusionReason };
      readonly readmitted?: string;
    };

export class Coordinator {
  private state: CoordinatorState = 'follower';
  /** Set while leading. */
  private epoch: bigint | undefined;
  /** The last durable commit. Invariant (M): its T only increases, also across failover (read from etcd on election). */
  private last: CommitRecord | undefined;
  /** The durable membership; changes only when a persist of it succeeds. */
  private membership: MembershipRecord | undefined;
  /** Per region of the topology: what its leader reported this term. Bounded by the topology. */
  private readonly views = new Map<string, RegionView>();
  /** The one persist in flight, if any. */
  private persisting: InFlight | undefined;
  private electedAtMs = 0;
  /** When the next interval tick is due; a tick that found a persist in flight runs when it ends. */
  private nextTickMs = 0;
  /** When a tick found a persist in flight: it was due then, and runs when the persist ends. */
  private missedTickMs: number | undefined;
  private nextPersistId = 1;

  constructor(
    readonly config: CoordinatorConfig,
    private readonly now: WallClock,
  ) {
    assert(config.intervalMs > 0, 'intervalMs must be positive');
    assert(config.silenceMs > 0 && config.lagLimitMs > 0, 'silenceMs and lagLimitMs must be positive');
  }

  get currentState(): CoordinatorState {
    return this.state;
  }

  get currentEpoch(): bigint | undefined {
    return this.epoch;
  }

  get lastCommit(): CommitRecord | undefined {
    return this.last;
  }

  get currentMembership(): MembershipRecord | undefined {
    return this.membership;
  }

  /** What each region reported (for status and metrics). */
  regionViews(): ReadonlyMap<string, RegionView> {
    return this.views;
  }

  handle(ev: CoordinatorEvent): CoordinatorAction[] {
    const out: CoordinatorAction[] = [];
    switch (ev.type) {
      case 'elected':
        this.onElected(ev, out);
        break;
      case 'deposed':
        this.stepDown();
        break;
      case 'tick':
        if (this.state === 'leading' && ev.nowMs >= this.nextTickMs) {
          const dueMs = this.nextTickMs;
          // On schedule, or a whole interval from now when the timer ran late (no burst of catch-up ticks).
          this.nextTickMs = dueMs + this.config.intervalMs > ev.nowMs ? dueMs + this.config.intervalMs : ev.nowMs + this.config.intervalMs;
          if (this.persisting) this.missedTickMs ??= dueMs;
          else this.decide(ev.nowMs, dueMs, out);
        }
        break;
      case 'message':
        if (this.state === 'leading' && ev.msg.type === 'progress') this.onProgress(ev.msg, ev.nowMs);
        break;
      case 'heard': {
        const v = this.views.get(ev.region);
        if (this.state === 'leading' && v) v.heardAtMs = Math.max(v.heardAtMs, ev.nowMs);
        break;
      }
      case 'persisted':
        this.onPersisted(ev.persistId, ev.outcome, ev.nowMs, out);
        break;
    }
    if (this.state === 'leading') out.push({ type: 'wakeAt', atMs: this.nextTickMs });
    return out;
  }

  private onElected(ev: Extract<CoordinatorEvent, { type: 'elected' }>, out: CoordinatorAction[]): void {
    this.state = 'leading';
    this.epoch = ev.epoch;
    this.last = ev.last;
    this.membership = ev.membership;
    this.persisting = undefined;
    this.missedTickMs = undefined;
    this.electedAtMs = ev.nowMs;
    this.nextTickMs = ev.nowMs;
    this.views.clear();
    // Silence is counted from the election: a leader gets silenceMs to be heard by us.
    for (const r of this.config.regions) this.views.set(r, { heardAtMs: ev.nowMs, applied: new Map(), membershipApplied: 0, reported: false });
    out.push({ type: 'log', level: 'info', event: 'elected', fields: { epoch: ev.epoch.toString(), last: ev.last ? formatGlt(ev.last.T) : null, membership: ev.membership.version } });
  }

  private stepDown(): void {
    this.state = 'follower';
    this.epoch = undefined;
    this.persisting = undefined;
    this.views.clear();
  }

  private onProgress(p: Progress, nowMs: number): void {
    const v = this.views.get(p.region);
    if (!v) return;
    v.heardAtMs = Math.max(v.heardAtMs, nowMs);
    v.reported = true;
    v.membershipApplied = Math.max(v.membershipApplied, p.membershipApplied);
    for (const a of p.applied) {
      if (!this.views.has(a.origin)) continue;
      const held = v.applied.get(a.origin);
      if (!held || compareGlt(a.ts, held) > 0) v.applied.set(a.origin, a.ts);
    }
  }

  /**
   * One decision, with no persist in flight: a membership change when one is due (it
   * goes first, so no commit is decided under a membership etcd does not hold), else a
   * commit when the watermark moved past the last commit.
   */
  private decide(nowMs: number, dueMs: number, out: CoordinatorAction[]): void {
    const m = this.membership;
    const epoch = this.epoch;
    assert(m && epoch !== undefined && !this.persisting, 'decide only while leading with no persist in flight');
    const now = this.now();
    const lastT = this.last?.T ?? GLT_ZERO;
    const lagAllowed = nowMs - this.electedAtMs >= this.config.lagLimitMs;
    const out1 = exclusionCandidate(this.views, m, this.config, nowMs, now, lagAllowed);
    if (out1) {
      const record = excludeRegion(m, out1.region, lastT);
      this.startPersist({ kind: 'membership', persistId: this.nextPersistId++, record, excluded: { region: out1.region, reason: out1.reason } }, out);
      out.push({ type: 'log', level: 'warn', event: 'excluding', fields: { region: out1.region, reason: out1.reason, ...out1.detail, watermark: formatGlt(lastT) } });
      return;
    }
    const back = readmissionCandidate(this.views, m, this.config, nowMs, now, lastT);
    if (back) {
      const record = readmitRegion(m, back.region, back.upTo, lastT, this.config.regions);
      this.startPersist({ kind: 'membership', persistId: this.nextPersistId++, record, readmitted: back.region }, out);
      out.push({ type: 'log', level: 'info', event: 'readmitting', fields: { region: back.region, upTo: formatGlt(back.upTo), floor: formatGlt(lastT) } });
      return;
    }
    const T = watermark(this.views, m);
    if (!T || compareGlt(T, lastT) <= 0) return;
    const record: CommitRecord = { T, epoch, members: m.members, membershipVersion: m.version, coordinator: this.config.id, decideMs: Math.max(0, nowMs - dueMs), lagMs: Math.max(0, gltDiffMs(now, T)) };
    this.startPersist({ kind: 'commit', persistId: this.nextPersistId++, record, decideMs: record.decideMs, startedMs: nowMs }, out);
  }

  private startPersist(p: InFlight, out: CoordinatorAction[]): void {
    this.persisting = p;
    const epoch = this.epoch!;
    out.push(p.kind === 'commit' ? { type: 'persist', persistId: p.persistId, epoch, commit: p.record } : { type: 'persist', persistId: p.persistId, epoch, membership: p.record });
  }

  private onPersisted(persistId: number, outcome: PersistOutcome, nowMs: number, out: CoordinatorAction[]): void {
    const p = this.persisting;
    if (this.state !== 'leading' || !p || p.persistId !== persistId) return;
    this.persisting = undefined;
    if (outcome === 'fenced') {
      out.push({ type: 'log', level: 'warn', event: 'fenced', fields: { epoch: this.epoch?.toString() } });
      this.stepDown();
      return;
    }
    if (outcome === 'failed') {
      // It may or may not be in etcd: only a fresh read of etcd (the next term's) knows.
      out.push({ type: 'log', level: 'warn', event: 'persist-unknown', fields: { kind: p.kind } });
      out.push({ type: 'resign' });
      this.stepDown();
      return;
    }
    const epoch = this.epoch!;
    if (p.kind === 'commit') {
      assert(!this.last || compareGlt(p.record.T, this.last.T) > 0, 'committed GLTs strictly increase (M)');
      this.last = p.record;
      const persistMs = Math.max(0, nowMs - p.startedMs);
      for (const to of this.config.regions) out.push({ type: 'send', to, msg: { type: 'commit', epoch, record: p.record, membership: this.membership!, persistMs } });
      out.push({ type: 'committed', record: p.record, timings: { decideMs: p.decideMs, persistMs } });
    } else {
      this.membership = p.record;
      for (const to of this.config.regions) out.push({ type: 'send', to, msg: { type: 'membership', epoch, record: p.record } });
      out.push({ type: 'membership', record: p.record, ...(p.excluded ? { excluded: p.excluded } : {}), ...(p.readmitted ? { readmitted: p.readmitted } : {}) });
    }
    const missed = this.missedTickMs;
    if (missed !== undefined) {
      this.missedTickMs = undefined;
      this.decide(nowMs, missed, out);
    }
  }
}
