import { assert } from '../common/errors.js';
import type { Interval } from '../glts/clock.js';
import { GLT_ZERO, compareGlt, maxGlt, nextGlt, type Glt } from '../glts/glt.js';
import type { Message } from './messages.js';
import { MAX_REGIONS, type CommitRecord, type MembershipRecord } from './records.js';

/**
 * The global coordinator's side of the snapshot round (DESIGN.md "The snapshot round",
 * "Failure rules"), sans-IO: `handle(event)` returns the actions to carry out. The adapter
 * (kernel/coordinator-process.ts) turns `send` into Quantum messages, `persist` into an
 * etcd transaction fenced on the election key, `wakeAt` into a timer that feeds `tick`.
 *
 * States:
 *   follower   — not elected; ignores everything but `elected`.
 *   idle       — leading, between rounds; the next round starts at `nextRoundAtMs`.
 *   collecting — Begin sent; waiting for Ready from every member until the deadline.
 *   committing — every member Ready; the commit record is being persisted. Commit is
 *                sent only after the persist succeeds (persist before announce).
 *   excluding  — a membership change (exclusion) is being persisted; no round runs
 *                until it is durable, so no round uses a membership etcd does not hold.
 */
export type CoordinatorState = 'follower' | 'idle' | 'collecting' | 'committing' | 'excluding';

/** Rounds a region may be blamed for right after its readmission before misses count (see `grace`). */
export const READMITTED_GRACE_ROUNDS = 20;

/**
 * A member heard from within silenceMs is slow, not gone: it is excluded only once blamed
 * in this many times missThreshold rounds since the last commit, in a row or not.
 */
export const HEARD_MISS_FACTOR = 10;

/** CoordinatorConfig.silenceMs for a round budget: two budgets, and no less than 200 ms, so a region stalled by a busy machine for a few rounds stays in. */
export function silenceMsFor(budgetMs: number): number {
  return Math.max(200, 2 * budgetMs);
}

/**
 * Doublings of the round budget at most while rounds run out of it for slowness (16
 * budgets), and never past silenceMs: a round need not wait for a member longer than it
 * takes to find that member gone. (Up to 16 budgets regardless, a round begun just before
 * a cut healed waited out the whole stretched budget for a message lost meanwhile: 4 of
 * 3,000 simulator schedules found no commit in the settle.)
 */
export const MAX_SLOW_DOUBLINGS = 4;

/** Commits in a row after which a budget stretched for slowness halves again. */
export const COMMITS_TO_HALVE = 4;

/** The longest a readmitting round may take once its join budget has doubled after failures. */
export const MAX_JOIN_BUDGET_MS = 16_000;

export interface CoordinatorConfig {
  readonly id: string;
  readonly intervalMs: number;
  /** Begin → every Ready; over it the round is aborted. Invariant: budgetMs ≤ intervalMs (topology check). */
  readonly budgetMs: number;
  /**
   * The budget of a round that readmits a region (default budgetMs). The joiner re-stamps
   * and ships everything it acknowledged while excluded; under write load that outgrows
   * one budget, and with budgetMs alone an excluded region was never readmitted (bench
   * snapshot: join, abort, join… for the whole run). It doubles after each readmission
   * of that region that ran out of it with the region blamed, up to MAX_JOIN_BUDGET_MS: a
   * region excluded for long has a backlog no fixed budget covers, and every attempt
   * re-stamps it all again.
   * Liveness only: S, D and M hold for any budget.
   */
  readonly joinBudgetMs?: number;
  /** Consecutive failed rounds a member may be blamed for before it is excluded. */
  readonly missThreshold: number;
  /**
   * A blamed member counts as gone (excluded after missThreshold misses) only when nothing
   * of it — a Ready or Waiting of any round of this term, a join — arrived for this long.
   * One heard from meanwhile is slow, and is excluded after HEARD_MISS_FACTOR ×
   * missThreshold blames since the last commit. On 2 shared cores every region often misses a 50 ms budget or
   * two; with missThreshold alone that excluded and readmitted a region every second or
   * so (55 membership changes in 25 s at 200 writes/s), and a region partitioned while it
   * was the last member standing held every other region out until it healed (CI's storm
   * drill). A crashed or cut-off region is still excluded about silenceMs after its fault.
   */
  readonly silenceMs: number;
}

/** GLTS: the uncertainty interval around now (glts/clock.ts `Clock` satisfies it). */
export interface GltSource {
  now(): Interval;
}

export type PersistOutcome = 'ok' | 'fenced' | 'failed';

export type CoordinatorEvent =
  /** Won the election: epoch = the campaign key's revision; `last` and `membership` read from etcd after winning. */
  | { readonly type: 'elected'; readonly nowMs: number; readonly epoch: bigint; readonly last: CommitRecord | undefined; readonly membership: MembershipRecord }
  /** Lost leadership (lease expired, resigned). */
  | { readonly type: 'deposed'; readonly nowMs: number }
  | { readonly type: 'tick'; readonly nowMs: number }
  | { readonly type: 'message'; readonly nowMs: number; readonly msg: Message }
  /**
   * Something arrived from `region`'s elected leader below the round's messages (a Quantum
   * packet, an ack of Begin): it is alive, however long its collect takes.
   */
  | { readonly type: 'heard'; readonly nowMs: number; readonly region: string }
  /** The outcome of a `persist` action: ok, fenced (no longer the leader), failed (outcome unknown). */
  | { readonly type: 'persisted'; readonly nowMs: number; readonly persistId: number; readonly outcome: PersistOutcome };

export interface RoundTimings {
  /** Begin → the last Ready (or → the abort). */
  readonly beginToReadyMs: number;
  /** The commit record's persist; null for an aborted round. */
  readonly persistMs: number | null;
  readonly totalMs: number;
}

export type CoordinatorAction =
  | { readonly type: 'send'; readonly to: string; readonly msg: Message }
  /**
   * Write atomically, in one etcd transaction fenced on the election key of `epoch`: the
   * commit record (when present; also the new "last" record, with bounded history) and
   * the membership (when present). Answer with a `persisted` event.
   */
  | { readonly type: 'persist'; readonly persistId: number; readonly epoch: bigint; readonly commit?: CommitRecord; readonly membership?: MembershipRecord }
  /** Feed a `tick` at or after this time (replaces any earlier wake-up). */
  | { readonly type: 'wakeAt'; readonly atMs: number }
  /** A finished round, for metrics, logs and Snapshots.List. */
  | {
      readonly type: 'round';
      readonly outcome: 'committed' | 'aborted';
      readonly epoch: bigint;
      readonly roundId: number;
      readonly T: Glt;
      readonly members: readonly string[];
      readonly joined: readonly string[];
      /** Regions held responsible for an abort. */
      readonly blamed: readonly string[];
      readonly timings: RoundTimings;
    }
  | { readonly type: 'membership'; readonly record: MembershipRecord; readonly excluded: readonly string[]; readonly readmitted: readonly string[] }
  /** The outcome of a persist is unknown: give up leadership so the next leader rereads etcd. */
  | { readonly type: 'resign' }
  | { readonly type: 'log'; readonly level: 'info' | 'warn'; readonly event: string; readonly fields: Readonly<Record<string, unknown>> };

interface Round {
  readonly roundId: number;
  readonly T: Glt;
  /** The last committed GLT when it began. */
  readonly prevT: Glt;
  readonly members: readonly string[];
  /** Joiners and their exclusion watermark; a subset of members. */
  readonly joining: ReadonlyMap<string, Glt>;
  readonly beganAtMs: number;
  readonly deadlineMs: number;
  /**
   * By when every member that is not joining must have reported (Ready or Waiting); a
   * silent one aborts the round then. deadlineMs in a plain round; in a readmitting round
   * whose join budget has doubled, the first join budget: a member failing during a join
   * budget of up to 16 s is found within about a second. (missThreshold × budgetMs was
   * tried: under load on 2 cores members often report later than that, and most
   * readmissions then failed.)
   */
  readonly reportByMs: number;
  readonly ready: Set<string>;
  /** Members that said they cannot take part (their collect failed); the round is aborted on the first. */
  readonly unable: Set<string>;
  /** Latest progress of each member that reported without being Ready. */
  readonly waiting: Map<string, { readonly missing: readonly string[]; readonly caughtUp: boolean }>;
  /** What the last Ready said of its region's collect and exchange (the critical path). */
  lastReady?: { readonly collectMs: number; readonly exchangeMs: number };
  /** The commit record being persisted. */
  record?: CommitRecord;
  readyAtMs?: number;
  persistId?: number;
  persistStartMs?: number;
}

export class Coordinator {
  private state: CoordinatorState = 'follower';
  /** Set while leading. */
  private epoch: bigint | undefined;
  /** The last durable commit. Invariant (M): its T only increases, also across failover (read from etcd on election). */
  private last: CommitRecord | undefined;
  /** T of the last Begin; every new round's T is strictly above it and above `last.T`. */
  private lastBegunT: Glt = GLT_ZERO;
  private membership: MembershipRecord | undefined;
  /** Consecutive rounds each member was blamed for; reset when it is not blamed. */
  private readonly misses = new Map<string, number>();
  /**
   * Rounds each member was blamed for since the last commit, in a row or not. When the
   * machine is saturated blame moves from region to region and no one is blamed twice in
   * a row for long; without this count no slow region was ever excluded and no round
   * committed for 52 s (region-partition drill at 2,000 writes/s).
   */
  private readonly blamesSinceCommit = new Map<string, number>();
  /**
   * Regions readmitted since the last commit, and how many rounds each may still be
   * blamed for without it counting as a miss. A readmitted region ships its re-stamped
   * backlog in the rounds after its readmission; under load that takes more than one
   * budget, and peers hold what arrived in rounds that did not commit, so each try ships
   * less. Excluding it after missThreshold of those made it re-stamp and ship all of it
   * again, without end (the full-length drills). Cleared by any commit. Bounded by
   * MAX_REGIONS.
   */
  private readonly grace = new Map<string, number>();
  /**
   * How many times the round budget (and its report deadline) is doubled because rounds
   * ran out of it with every member heard from during the round — Ready, Waiting, or any
   * packet of its elected leader (event `heard`: a leader busy collecting still acks
   * Begin): the deployment is slow, not broken. At 5,000 writes/s on 2 cores, 50 ms rounds
   * committed 3–4 of about 150 in 15 s, each aborted round's work taking CPU from the
   * next. +1 per such round, −1 after COMMITS_TO_HALVE commits in a row, back to 0 when a
   * round ends for a fault (a member unable, or one not heard from all round: it crashed
   * or was cut off). silenceMs (when a member is gone) is not stretched.
   * Invariant: 0 ≤ slowDoublings ≤ maxSlowDoublings. Liveness only: S, D and M hold for any budget.
   */
  private slowDoublings = 0;
  /** MAX_SLOW_DOUBLINGS, fewer when silenceMs would be passed. */
  private readonly maxSlowDoublings: number;
  /** Commits since slowDoublings last changed. */
  private commitsAtPace = 0;
  /** Per region, readmitting rounds in a row that ran out of budget (this term). Bounded by MAX_REGIONS. */
  private readonly failedJoins = new Map<string, number>();
  /** When each region of the membership last sent anything this term (or the election, if later). Bounded by MAX_REGIONS. */
  private readonly heardAtMs = new Map<string, number>();
  /** Excluded regions that asked to rejoin; they join the next round. Bounded by MAX_REGIONS. */
  private readonly pendingJoins = new Set<string>();
  private round: Round | undefined;
  /** The membership being persisted in state `excluding`. */
  private pendingMembership: { readonly persistId: number; readonly record: MembershipRecord; readonly excluded: readonly string[] } | undefined;
  private nextRoundId = 1;
  private nextPersistId = 1;
  private nextRoundAtMs = 0;

  constructor(
    readonly config: CoordinatorConfig,
    private readonly glts: GltSource,
  ) {
    assert(config.intervalMs > 0 && config.budgetMs > 0 && config.budgetMs <= config.intervalMs, 'need 0 < budgetMs ≤ intervalMs');
    assert(config.joinBudgetMs === undefined || config.joinBudgetMs >= config.budgetMs, 'need joinBudgetMs ≥ budgetMs');
    assert(Number.isInteger(config.missThreshold) && config.missThreshold >= 1, 'missThreshold must be a positive integer');
    assert(config.silenceMs >= 0, 'silenceMs must not be negative');
    this.maxSlowDoublings = Math.max(0, Math.min(MAX_SLOW_DOUBLINGS, Math.floor(Math.log2(config.silenceMs / config.budgetMs))));
  }

  get currentState(): CoordinatorState {
    return this.state;
  }

  get currentEpoch(): bigint | undefined {
    return this.epoch;
  }

  get lastCommitted(): CommitRecord | undefined {
    return this.last;
  }

  get currentMembership(): MembershipRecord | undefined {
    return this.membership;
  }

  handle(ev: CoordinatorEvent): CoordinatorAction[] {
    const out: CoordinatorAction[] = [];
    switch (ev.type) {
      case 'elected':
        this.onElected(ev, out);
        break;
      case 'deposed':
        this.stepDown(out, 'deposed');
        break;
      case 'tick':
        break;
      case 'heard':
        // Liveness only: nothing to advance (the driver feeds one per packet).
        if (this.state !== 'follower' && this.heardAtMs.has(ev.region)) this.heardAtMs.set(ev.region, ev.nowMs);
        return out;
      case 'message':
        this.onMessage(ev.msg, ev.nowMs, out);
        break;
      case 'persisted':
        this.onPersisted(ev, out);
        break;
    }
    if (this.state !== 'follower') this.advance(ev.nowMs, out);
    return out;
  }

  private onElected(ev: Extract<CoordinatorEvent, { type: 'elected' }>, out: CoordinatorAction[]): void {
    assert(this.epoch === undefined || ev.epoch > this.epoch, 'a new election has a higher epoch');
    this.state = 'idle';
    this.epoch = ev.epoch;
    this.last = ev.last;
    this.lastBegunT = ev.last?.T ?? GLT_ZERO;
    this.membership = ev.membership;
    this.misses.clear();
    this.blamesSinceCommit.clear();
    this.grace.clear();
    this.failedJoins.clear();
    this.pendingJoins.clear();
    this.heardAtMs.clear();
    this.slowDoublings = 0;
    this.commitsAtPace = 0;
    for (const x of [...ev.membership.members, ...ev.membership.excluded.map((e) => e.region)]) this.heardAtMs.set(x, ev.nowMs);
    this.round = undefined;
    this.pendingMembership = undefined;
    this.nextRoundAtMs = ev.nowMs;
    out.push({ type: 'log', level: 'info', event: 'elected', fields: { epoch: ev.epoch.toString(), last: ev.last?.T, members: ev.membership.members } });
  }

  private stepDown(out: CoordinatorAction[], why: string): void {
    if (this.state === 'follower') return;
    out.push({ type: 'log', level: 'warn', event: 'stepped-down', fields: { why, epoch: this.epoch?.toString(), round: this.round?.T } });
    this.state = 'follower';
    this.round = undefined;
    this.pendingMembership = undefined;
  }

  private onMessage(msg: Message, nowMs: number, out: CoordinatorAction[]): void {
    if (this.state === 'follower') return;
    // A late report of an earlier round still shows its region alive and connected.
    if ((msg.type === 'join' || ((msg.type === 'ready' || msg.type === 'waiting') && msg.epoch === this.epoch)) && this.heardAtMs.has(msg.region)) this.heardAtMs.set(msg.region, nowMs);
    const r = this.round;
    switch (msg.type) {
      case 'ready':
        if (this.state !== 'collecting' || !r || msg.epoch !== this.epoch || msg.roundId !== r.roundId || !r.members.includes(msg.region)) return;
        r.ready.add(msg.region);
        r.waiting.delete(msg.region);
        r.lastReady = { collectMs: msg.collectMs, exchangeMs: msg.exchangeMs };
        if (r.ready.size === r.members.length) this.commit(r, nowMs, out);
        return;
      case 'unable':
        if (this.state !== 'collecting' || !r || msg.epoch !== this.epoch || msg.roundId !== r.roundId || !r.members.includes(msg.region)) return;
        r.unable.add(msg.region);
        this.abort(r, nowMs, out, false);
        return;
      case 'waiting': {
        if (this.state !== 'collecting' || !r || msg.epoch !== this.epoch || msg.roundId !== r.roundId || !r.members.includes(msg.region)) return;
        if (r.ready.has(msg.region)) return;
        const prior = r.waiting.get(msg.region);
        // Reports may arrive out of order; what a region misses only shrinks during a round.
        if (!prior || msg.missing.length < prior.missing.length || (msg.caughtUp && !prior.caughtUp)) {
          r.waiting.set(msg.region, { missing: msg.missing.filter((m) => r.members.includes(m)), caughtUp: msg.caughtUp });
        }
        return;
      }
      case 'join':
        if (this.membership?.excluded.some((e) => e.region === msg.region) && this.pendingJoins.size < MAX_REGIONS) {
          if (!this.pendingJoins.has(msg.region)) out.push({ type: 'log', level: 'info', event: 'join-requested', fields: { region: msg.region } });
          this.pendingJoins.add(msg.region);
        }
        return;
      default:
        return;
    }
  }

  private commit(r: Round, nowMs: number, out: CoordinatorAction[]): void {
    assert(this.epoch !== undefined, 'committing while leading');
    this.state = 'committing';
    r.readyAtMs = nowMs;
    r.persistId = this.nextPersistId++;
    r.persistStartMs = nowMs;
    const record: CommitRecord = {
      T: r.T,
      prevT: r.prevT,
      epoch: this.epoch,
      roundId: r.roundId,
      members: r.members,
      beginToReadyMs: nowMs - r.beganAtMs,
      collectMs: r.lastReady?.collectMs ?? 0,
      exchangeMs: r.lastReady?.exchangeMs ?? 0,
      coordinator: this.config.id,
    };
    r.record = record;
    out.push({ type: 'persist', persistId: r.persistId, epoch: this.epoch, commit: record, ...(r.joining.size > 0 ? { membership: this.readmitted(r) } : {}) });
  }

  /** The membership once the round's joiners are readmitted. */
  private readmitted(r: Round): MembershipRecord {
    const m = this.membership!;
    return {
      version: m.version + 1,
      members: [...m.members, ...r.joining.keys()],
      excluded: m.excluded.filter((e) => !r.joining.has(e.region)),
    };
  }

  private onPersisted(ev: Extract<CoordinatorEvent, { type: 'persisted' }>, out: CoordinatorAction[]): void {
    const r = this.round;
    const forCommit = this.state === 'committing' && r !== undefined && r.persistId === ev.persistId;
    const forMembership = this.state === 'excluding' && this.pendingMembership?.persistId === ev.persistId;
    if (!forCommit && !forMembership) return;
    if (ev.outcome === 'fenced') {
      this.stepDown(out, 'fenced');
      return;
    }
    if (ev.outcome === 'failed') {
      out.push({ type: 'resign' });
      this.stepDown(out, 'persist-outcome-unknown');
      return;
    }
    if (forMembership) {
      const p = this.pendingMembership!;
      this.membership = p.record;
      for (const x of p.excluded) {
        this.misses.delete(x);
        this.blamesSinceCommit.delete(x);
      }
      this.pendingMembership = undefined;
      this.state = 'idle';
      out.push({ type: 'membership', record: p.record, excluded: p.excluded, readmitted: [] });
      return;
    }
    // The commit record is durable: only now may anyone learn of it.
    assert(r && r.readyAtMs !== undefined && r.persistStartMs !== undefined && r.record !== undefined, 'a committing round');
    assert(!this.last || compareGlt(r.T, this.last.T) > 0, 'committed GLTs strictly increase');
    this.last = r.record;
    if (r.joining.size > 0) {
      this.membership = this.readmitted(r);
      out.push({ type: 'membership', record: this.membership, excluded: [], readmitted: [...r.joining.keys()] });
    }
    this.misses.clear();
    this.blamesSinceCommit.clear();
    this.grace.clear();
    for (const j of r.joining.keys()) {
      this.grace.set(j, READMITTED_GRACE_ROUNDS);
      this.failedJoins.delete(j);
    }
    if (this.slowDoublings > 0 && ++this.commitsAtPace >= COMMITS_TO_HALVE) this.setPace(this.slowDoublings - 1, out);
    for (const m of r.members) out.push({ type: 'send', to: m, msg: { type: 'commit', epoch: this.epoch!, roundId: r.roundId, T: r.T, prevT: r.prevT, members: r.members } });
    out.push({
      type: 'round',
      outcome: 'committed',
      epoch: this.epoch!,
      roundId: r.roundId,
      T: r.T,
      members: r.members,
      joined: [...r.joining.keys()],
      blamed: [],
      timings: { beginToReadyMs: r.readyAtMs - r.beganAtMs, persistMs: ev.nowMs - r.persistStartMs, totalMs: ev.nowMs - r.beganAtMs },
    });
    this.round = undefined;
    this.state = 'idle';
  }

  /** Time-driven transitions: the report and collect deadlines, then starting the next round. */
  private advance(nowMs: number, out: CoordinatorAction[]): void {
    const r = this.round;
    if (this.state === 'collecting' && r) {
      if (nowMs >= r.deadlineMs) this.abort(r, nowMs, out, true);
      else if (nowMs >= r.reportByMs && this.anySilent(r)) this.abort(r, nowMs, out, false);
    }
    if (this.state === 'idle' && nowMs >= this.nextRoundAtMs) this.begin(nowMs, out);
    if (this.state === 'collecting') {
      const c = this.round!;
      out.push({ type: 'wakeAt', atMs: nowMs < c.reportByMs && this.anySilent(c) ? c.reportByMs : c.deadlineMs });
    } else if (this.state === 'idle') out.push({ type: 'wakeAt', atMs: this.nextRoundAtMs });
  }

  /** When `region` was last heard from (this term). */
  private heardAt(region: string): number {
    return this.heardAtMs.get(region) ?? Number.NEGATIVE_INFINITY;
  }

  /** Whether a member that is not joining has not reported yet in round `r`. */
  private anySilent(r: Round): boolean {
    return r.members.some((m) => !r.joining.has(m) && !r.ready.has(m) && !r.waiting.has(m));
  }

  /** The factor slowness stretches round budgets by. */
  private stretch(): number {
    return 2 ** this.slowDoublings;
  }

  private setPace(doublings: number, out: CoordinatorAction[]): void {
    assert(doublings >= 0 && doublings <= this.maxSlowDoublings, 'slowDoublings within its bounds');
    if (doublings === this.slowDoublings) return;
    this.slowDoublings = doublings;
    this.commitsAtPace = 0;
    out.push({ type: 'log', level: 'info', event: 'pace', fields: { budgetMs: this.config.budgetMs * this.stretch() } });
  }

  /** The stretched budgetMs, or for a round that readmits regions, the join budget doubled per failed attempt of the most-failed joiner, if longer. */
  private budgetFor(joining: ReadonlyMap<string, Glt>): number {
    const plain = this.config.budgetMs * this.stretch();
    if (joining.size === 0 || this.config.joinBudgetMs === undefined) return plain;
    const failed = Math.max(0, ...[...joining.keys()].map((j) => this.failedJoins.get(j) ?? 0));
    return Math.max(plain, Math.min(this.config.joinBudgetMs * 2 ** failed, Math.max(MAX_JOIN_BUDGET_MS, this.config.joinBudgetMs)));
  }

  private begin(nowMs: number, out: CoordinatorAction[]): void {
    const m = this.membership!;
    const joining = new Map<string, Glt>();
    for (const j of this.pendingJoins) {
      const e = m.excluded.find((x) => x.region === j);
      if (e) joining.set(j, e.watermark);
    }
    this.pendingJoins.clear();
    this.nextRoundAtMs = nowMs + this.config.intervalMs;
    const members = [...m.members, ...joining.keys()];
    if (members.length === 0) return;
    const lastT = this.last?.T ?? GLT_ZERO;
    // T = the latest bound of the uncertainty interval, strictly above every T used before (M).
    const T = maxGlt(this.glts.now().latest, nextGlt(maxGlt(lastT, this.lastBegunT)));
    this.lastBegunT = T;
    const deadlineMs = nowMs + this.budgetFor(joining);
    const r: Round = {
      roundId: this.nextRoundId++,
      T,
      prevT: lastT,
      members,
      joining,
      beganAtMs: nowMs,
      deadlineMs,
      reportByMs: Math.min(deadlineMs, nowMs + (this.config.joinBudgetMs ?? this.config.budgetMs) * this.stretch()),
      ready: new Set(),
      unable: new Set(),
      waiting: new Map(),
    };
    this.round = r;
    this.state = 'collecting';
    const msg: Message = {
      type: 'begin',
      epoch: this.epoch!,
      roundId: r.roundId,
      T,
      members,
      joining: [...joining].map(([region, watermark]) => ({ region, watermark })),
      prev: { T: lastT, prevT: this.last?.prevT ?? GLT_ZERO, members: this.last?.members ?? [] },
    };
    for (const to of members) out.push({ type: 'send', to, msg });
  }

  /**
   * Out of budget. Blame, so that one broken region or link costs the fewest exclusions:
   *  - a member said it is unable (its collect failed): that one;
   *  - nobody reported: the coordinator itself is the likely one cut off — no one;
   *  - some members silent: those (the others most likely wait on them);
   *  - everyone reported: the member(s) the most reports name as missing (a member not
   *    caught up names itself); on a tie the greatest name only — a cut link between two
   *    regions names both, and excluding one of them is enough.
   * A member blamed missThreshold times in a row is excluded if it was silent for silenceMs
   * or said it is unable; any member blamed HEARD_MISS_FACTOR × missThreshold times since
   * the last commit is excluded too; never the last one standing.
   * `budgetSpent`: the round ran to its deadline, so a blamed joiner ran out of its budget
   * (not so when a silent member ended it at reportByMs).
   */
  private abort(r: Round, nowMs: number, out: CoordinatorAction[], budgetSpent: boolean): void {
    for (const to of r.members) out.push({ type: 'send', to, msg: { type: 'abort', epoch: this.epoch!, roundId: r.roundId, T: r.T } });
    const reported = new Set([...r.ready, ...r.waiting.keys()]);
    const blamed = new Set<string>();
    const silent = r.members.filter((m) => !reported.has(m));
    if (r.unable.size > 0) {
      for (const m of r.unable) blamed.add(m);
    } else if (reported.size > 0 && silent.length > 0) {
      for (const m of silent) blamed.add(m);
    } else if (reported.size > 0) {
      const named = new Map<string, number>();
      for (const [region, w] of r.waiting) {
        for (const x of w.missing) named.set(x, (named.get(x) ?? 0) + 1);
        if (!w.caughtUp) named.set(region, (named.get(region) ?? 0) + 1);
      }
      const most = Math.max(0, ...named.values());
      const top = [...named].filter(([, n]) => n === most && n > 0).map(([x]) => x).sort();
      if (top.length > 0) blamed.add(top[top.length - 1]!);
    }
    // Only a joiner that held the round up doubles its budget; one that failed for another member's sake has no bigger backlog than before.
    if (budgetSpent) for (const j of r.joining.keys()) if (blamed.has(j)) this.failedJoins.set(j, (this.failedJoins.get(j) ?? 0) + 1);
    const m = this.membership!;
    const gone = (x: string): boolean => r.unable.has(x) || nowMs - this.heardAt(x) >= this.config.silenceMs;
    // Ran out of budget with every member heard from during the round: slow, not broken; the
    // next rounds get longer. A member lost to a crash or a cut link sends nothing after its
    // fault. (A readmitting round has its own doubling budget for the joiner's backlog.)
    const heardInRound = (x: string): boolean => r.ready.has(x) || r.waiting.has(x) || this.heardAt(x) > r.beganAtMs;
    // Any other abort of a plain round shows a fault (a member unable, or silent all round):
    // a longer wait would not help, and the rounds after it probe at the plain budget.
    if (r.joining.size === 0) {
      const slow = budgetSpent && r.members.every(heardInRound);
      this.setPace(slow ? Math.min(this.slowDoublings + 1, this.maxSlowDoublings) : 0, out);
    }
    const exclude: string[] = [];
    for (const x of m.members) {
      const g = this.grace.get(x) ?? 0;
      if (blamed.has(x) && g > 0) {
        this.grace.set(x, g - 1);
        continue;
      }
      const n = blamed.has(x) ? (this.misses.get(x) ?? 0) + 1 : 0;
      this.misses.set(x, n);
      const blames = (this.blamesSinceCommit.get(x) ?? 0) + (blamed.has(x) ? 1 : 0);
      this.blamesSinceCommit.set(x, blames);
      if ((gone(x) && n >= this.config.missThreshold) || blames >= this.config.missThreshold * HEARD_MISS_FACTOR) exclude.push(x);
    }
    if (exclude.length === m.members.length) {
      const spare = [...reported].filter((x) => m.members.includes(x)).sort()[0];
      exclude.splice(0, exclude.length, ...(spare === undefined ? [] : exclude.filter((x) => x !== spare)));
    }
    out.push({
      type: 'round',
      outcome: 'aborted',
      epoch: this.epoch!,
      roundId: r.roundId,
      T: r.T,
      members: r.members,
      joined: [],
      blamed: [...blamed].sort(),
      timings: { beginToReadyMs: nowMs - r.beganAtMs, persistMs: null, totalMs: nowMs - r.beganAtMs },
    });
    this.round = undefined;
    this.state = 'idle';
    if (exclude.length === 0) return;
    // Every member's own versions up to the last commit are in it (it was a member of every
    // commit since it was admitted): that is its watermark to re-stamp above on rejoin.
    const watermark = this.last?.T ?? GLT_ZERO;
    const record: MembershipRecord = {
      version: m.version + 1,
      members: m.members.filter((x) => !exclude.includes(x)),
      excluded: [...m.excluded, ...exclude.map((region) => ({ region, watermark }))],
    };
    const persistId = this.nextPersistId++;
    this.pendingMembership = { persistId, record, excluded: exclude };
    this.state = 'excluding';
    out.push({ type: 'persist', persistId, epoch: this.epoch!, membership: record });
  }
}
