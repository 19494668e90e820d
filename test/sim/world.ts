import { AetherError } from '../../common/errors.js';
import type { Clock } from '../../glts/clock.js';
import { GLT_ZERO, compareGlt, formatGlt, maxGlt, minGlt, type Glt } from '../../glts/glt.js';
import { MemoryDisk, MemoryStore } from '../../datanode/memory-store.js';
import type { Version } from '../../datanode/version.js';
import { Coordinator, silenceMsFor, type CoordinatorAction } from '../../kernel/coordinator.js';
import { COORDINATOR, decodeMessage, encodeMessage, type Message } from '../../kernel/messages.js';
import { initialMembership, type CommitRecord, type MembershipRecord } from '../../kernel/records.js';
import { LeaderRound, type LeaderAction, type LeaderEvent, type LeaderJob } from '../../regional/round.js';
import { runLeaderJob, type KeyRouter } from '../../regional/round-jobs.js';
import { FRONTIER_META, WATERMARK_META, saveWatermarks } from '../../regional/watermarks.js';
import { SimEtcd } from './etcd.js';
import { Model, SimViolation } from './invariants.js';
import { SimNetwork, type NetSpec } from './network.js';
import { Rng } from './rng.js';
import { SimTime } from './clock.js';
import { MinHeap } from '../../common/min-heap.js';

export type ProcessRef =
  | { readonly kind: 'coordinator'; readonly index: number }
  | { readonly kind: 'leader'; readonly region: number }
  | { readonly kind: 'datanode'; readonly region: number; readonly index: number };

export type Fault =
  | { readonly atMs: number; readonly kind: 'crash'; readonly target: ProcessRef; readonly downMs: number }
  /** Cut one region's site from every other site (its coordinator too, if one lives there). */
  | { readonly atMs: number; readonly kind: 'partition'; readonly region: number; readonly durationMs: number }
  /** Cut the link between two regions (both ways); each still reaches everyone else. */
  | { readonly atMs: number; readonly kind: 'cut'; readonly regions: readonly [number, number]; readonly durationMs: number }
  /** The region's leader dies in the middle of its next apply (some data nodes applied, some not). */
  | { readonly atMs: number; readonly kind: 'crash-mid-apply'; readonly region: number }
  /** The elected coordinator loses its etcd lease while it keeps running (cut from etcd only). */
  | { readonly atMs: number; readonly kind: 'depose' }
  /** The next persist's outcome is unknown to the coordinator (it may or may not have applied). */
  | { readonly atMs: number; readonly kind: 'persist-glitch' };

export interface SimSpec {
  readonly seed: number;
  readonly name: string;
  /** Data nodes per region. */
  readonly regions: readonly number[];
  readonly coordinators: number;
  readonly maxOffsetMs: number;
  readonly intervalMs: number;
  readonly budgetMs: number;
  readonly missThreshold: number;
  readonly net: NetSpec;
  /** Faults and writes happen in [0, durationMs); then everything heals for settleMs. */
  readonly durationMs: number;
  readonly settleMs: number;
  readonly writeEveryMs: number;
  readonly keys: number;
  /** GC keeps this much history below the frontier; undefined = no GC. */
  readonly retentionMs?: number;
  readonly faults: readonly Fault[];
}

export interface SimStats {
  commits: number;
  aborts: number;
  elections: number;
  exclusions: number;
  readmissions: number;
  restamped: number;
  fullTransfers: number;
  catchUps: number;
  /** Commits rebuilt from every member's own versions ('own' catch-up replies). */
  replays: number;
  writes: number;
  events: number;
  checks: number;
}

const LEASE_MS = 15;
const MAX_EVENTS = 100_000;

type SimEvent =
  | { readonly kind: 'deliver'; readonly fromSite: string; readonly to: string; readonly msg: Message }
  | { readonly kind: 'wake'; readonly proc: string; readonly inc: number; readonly atMs: number }
  | { readonly kind: 'job'; readonly region: number; readonly inc: number; readonly job: LeaderJob }
  | { readonly kind: 'persist'; readonly coord: number; readonly inc: number; readonly persistId: number; readonly epoch: bigint; readonly commit?: CommitRecord; readonly membership?: MembershipRecord }
  | { readonly kind: 'watch'; readonly region: number; readonly commit?: CommitRecord; readonly membership?: MembershipRecord }
  | { readonly kind: 'elect'; readonly avoid?: string }
  | { readonly kind: 'lease-expired'; readonly coord: number; readonly epoch: bigint }
  | { readonly kind: 'deposed'; readonly coord: number; readonly epoch: bigint }
  | { readonly kind: 'leader-start'; readonly region: number; readonly inc: number }
  | { readonly kind: 'restart'; readonly target: ProcessRef }
  | { readonly kind: 'heal'; readonly region: number }
  | { readonly kind: 'fault'; readonly fault: Fault }
  | { readonly kind: 'write' }
  | { readonly kind: 'gc' }
  | { readonly kind: 'settle' };

interface Queued {
  readonly at: number;
  readonly seq: number;
  readonly ev: SimEvent;
}

/** A binary min-heap on (time, insertion order): equal times run in the order scheduled. */
class EventQueue {
  /** Ordered by (at, seq): seq breaks ties in insertion order, so a seed replays exactly. */
  private readonly heap = new MinHeap<Queued>((a, b) => a.at < b.at || (a.at === b.at && a.seq < b.seq));
  private seq = 0;

  get size(): number {
    return this.heap.size;
  }

  push(at: number, ev: SimEvent): void {
    this.heap.push({ at, seq: this.seq++, ev });
  }

  pop(): Queued | undefined {
    return this.heap.pop();
  }
}

interface CoordProc {
  readonly id: string;
  readonly site: string;
  readonly skewNs: bigint;
  alive: boolean;
  inc: number;
  sm: Coordinator | undefined;
  wakeAt: number | undefined;
}

interface DataNodeProc {
  readonly id: string;
  readonly skewNs: bigint;
  alive: boolean;
  readonly disk: MemoryDisk;
  store: MemoryStore | undefined;
}

interface RegionProc {
  readonly name: string;
  readonly index: number;
  leaderAlive: boolean;
  leaderInc: number;
  leader: LeaderRound | undefined;
  leaderWakeAt: number | undefined;
  readonly nodes: DataNodeProc[];
  readonly router: KeyRouter;
  /** The highest frontier seen: a lower one later breaks M. */
  maxFrontier: Glt;
}

function hashKey(key: Buffer): number {
  let h = 2166136261;
  for (const b of key) h = Math.imul(h ^ b, 16777619) >>> 0;
  return h;
}

/**
 * A whole deployment in one process: the real Coordinator and LeaderRound state machines,
 * data nodes on MemoryStores, over a simulated network, clocks and etcd, all driven by
 * one seeded PRNG and a discrete event queue — so a seed replays exactly. S, D and M are
 * checked after every event (see `checkStep`), and in full at the end.
 */
export class World {
  readonly time = new SimTime();
  readonly model = new Model();
  readonly stats: SimStats = { commits: 0, aborts: 0, elections: 0, exclusions: 0, readmissions: 0, restamped: 0, fullTransfers: 0, catchUps: 0, replays: 0, writes: 0, events: 0, checks: 0 };
  readonly etcd: SimEtcd;
  readonly net: SimNetwork;
  readonly regions: RegionProc[];
  readonly coords: CoordProc[];
  readonly trace: string[] = [];
  private readonly queue = new EventQueue();
  private readonly rng: Rng;
  private readonly netRng: Rng;
  private readonly checkRng: Rng;
  private readonly originRegion = new Map<string, string>();
  private writeSeq = 0;
  private glitchNext = false;
  /** Regions whose leader dies in the middle of its next apply job. */
  private readonly midApplyCrash = new Set<number>();
  private settling = false;
  private readonly commitTimes: number[] = [];
  private readonly liveAtSettleEnd: boolean;

  constructor(
    readonly spec: SimSpec,
    readonly options: { readonly trace?: boolean; readonly liveness?: boolean } = {},
  ) {
    const root = new Rng(spec.seed);
    this.rng = root.fork();
    this.netRng = root.fork();
    this.checkRng = root.fork();
    const skewRng = root.fork();
    const skew = () => BigInt(Math.round(skewRng.between(-0.5, 0.5) * spec.maxOffsetMs * 1e6));
    this.liveAtSettleEnd = options.liveness ?? true;
    this.net = new SimNetwork(spec.net, this.netRng);
    this.regions = spec.regions.map((n, index) => {
      const name = `r${index}`;
      const nodes: DataNodeProc[] = [];
      for (let i = 0; i < n; i++) {
        const id = `${name}-d${i}`;
        const node: DataNodeProc = { id, skewNs: skew(), alive: true, disk: new MemoryDisk(), store: undefined };
        node.store = new MemoryStore({ origin: id, clock: this.time.clock(node.skewNs, spec.maxOffsetMs), disk: node.disk });
        nodes.push(node);
        this.originRegion.set(id, name);
      }
      const ids = nodes.map((x) => x.id);
      return { name, index, leaderAlive: true, leaderInc: 0, leader: undefined, leaderWakeAt: undefined, nodes, router: { route: (k: Buffer) => ids[hashKey(k) % ids.length]! }, maxFrontier: GLT_ZERO };
    });
    this.etcd = new SimEtcd(initialMembership(this.regions.map((r) => r.name)));
    this.coords = [];
    for (let i = 0; i < spec.coordinators; i++) {
      const c: CoordProc = { id: `c${i}`, site: this.regions[i % this.regions.length]!.name, skewNs: skew(), alive: true, inc: 0, sm: undefined, wakeAt: undefined };
      c.sm = this.newCoordinator(c);
      this.coords.push(c);
    }
  }

  private log(line: string): void {
    if (this.options.trace) this.trace.push(`${this.time.nowMs.toFixed(3)} ${line}`);
  }

  private newCoordinator(c: CoordProc): Coordinator {
    const clock: Clock = this.time.clock(c.skewNs, this.spec.maxOffsetMs);
    return new Coordinator({ id: c.id, intervalMs: this.spec.intervalMs, budgetMs: this.spec.budgetMs, joinBudgetMs: 4 * this.spec.budgetMs, missThreshold: this.spec.missThreshold, silenceMs: silenceMsFor(this.spec.budgetMs) }, clock);
  }

  private at(delayMs: number, ev: SimEvent): void {
    this.queue.push(this.time.nowMs + delayMs, ev);
  }

  /** Runs the whole schedule; throws SimViolation (or an AssertionFailure from the real code) on a bug. */
  async run(): Promise<SimStats> {
    for (const r of this.regions) this.at(0, { kind: 'leader-start', region: r.index, inc: r.leaderInc });
    this.at(0, { kind: 'elect' });
    this.at(this.rng.between(0, this.spec.writeEveryMs), { kind: 'write' });
    if (this.spec.retentionMs !== undefined) this.at(this.spec.intervalMs, { kind: 'gc' });
    for (const f of this.spec.faults) this.queue.push(f.atMs, { kind: 'fault', fault: f });
    this.queue.push(this.spec.durationMs, { kind: 'settle' });
    const endMs = this.spec.durationMs + this.spec.settleMs;
    for (;;) {
      const q = this.queue.pop();
      if (!q || q.at > endMs) break;
      if (++this.stats.events > MAX_EVENTS) throw new SimViolation('liveness', `more than ${MAX_EVENTS} events: a runaway loop`);
      this.time.nowMs = q.at;
      await this.dispatch(q.ev);
      await this.checkStep();
    }
    this.time.nowMs = endMs;
    await this.checkFinal();
    return this.stats;
  }

  private async dispatch(ev: SimEvent): Promise<void> {
    switch (ev.kind) {
      case 'deliver':
        return this.deliver(ev.fromSite, ev.to, ev.msg);
      case 'wake': {
        if (ev.proc.startsWith('c')) {
          const c = this.coords[Number(ev.proc.slice(1))]!;
          if (c.alive && c.inc === ev.inc && c.wakeAt === ev.atMs) {
            c.wakeAt = undefined;
            this.coordHandle(c, { type: 'tick', nowMs: this.time.nowMs });
          }
        } else {
          const r = this.regions[Number(ev.proc.slice(1))]!;
          if (r.leaderAlive && r.leader && r.leaderInc === ev.inc && r.leaderWakeAt === ev.atMs) {
            r.leaderWakeAt = undefined;
            this.leaderHandle(r, { type: 'tick', nowMs: this.time.nowMs });
          }
        }
        return;
      }
      case 'job':
        return this.runJob(ev.region, ev.inc, ev.job);
      case 'persist':
        return this.persist(ev);
      case 'watch': {
        const r = this.regions[ev.region]!;
        if (!r.leaderAlive || !r.leader) return;
        if (ev.membership) this.leaderHandle(r, { type: 'membership', nowMs: this.time.nowMs, record: ev.membership });
        if (ev.commit) this.leaderHandle(r, { type: 'committed', nowMs: this.time.nowMs, record: ev.commit });
        return;
      }
      case 'elect':
        return this.elect(ev.avoid);
      case 'lease-expired': {
        if (this.etcd.leader?.epoch === ev.epoch) {
          this.etcd.dropLeader();
          this.at(0, { kind: 'elect' });
        }
        return;
      }
      case 'deposed': {
        const c = this.coords[ev.coord]!;
        if (c.alive && c.sm?.currentEpoch === ev.epoch) this.coordHandle(c, { type: 'deposed', nowMs: this.time.nowMs });
        return;
      }
      case 'leader-start':
        return this.leaderStart(ev.region, ev.inc);
      case 'restart':
        return this.restart(ev.target);
      case 'heal':
        this.net.healAll();
        this.log(`heal`);
        return;
      case 'fault':
        return this.fault(ev.fault);
      case 'write':
        return this.write();
      case 'gc':
        return this.gc();
      case 'settle':
        return this.settle();
    }
  }

  // ---- processes -------------------------------------------------------------------------

  private coordHandle(c: CoordProc, ev: Parameters<Coordinator['handle']>[0]): void {
    if (!c.sm) return;
    for (const a of c.sm.handle(ev)) this.coordAction(c, a);
  }

  private coordAction(c: CoordProc, a: CoordinatorAction): void {
    switch (a.type) {
      case 'send':
        this.send(c.site, a.to, a.msg);
        return;
      case 'persist':
        this.at(this.rng.between(0.3, 3), { kind: 'persist', coord: Number(c.id.slice(1)), inc: c.inc, persistId: a.persistId, epoch: a.epoch, ...(a.commit ? { commit: a.commit } : {}), ...(a.membership ? { membership: a.membership } : {}) });
        return;
      case 'wakeAt':
        if (c.wakeAt !== a.atMs) {
          c.wakeAt = a.atMs;
          this.queue.push(Math.max(a.atMs, this.time.nowMs), { kind: 'wake', proc: c.id, inc: c.inc, atMs: a.atMs });
        }
        return;
      case 'round':
        if (a.outcome === 'committed') this.stats.commits++;
        else this.stats.aborts++;
        this.log(`${c.id} round ${a.roundId} ${formatGlt(a.T)} ${a.outcome} members=${a.members.join(',')} blamed=${a.blamed.join(',')}`);
        return;
      case 'membership':
        this.stats.exclusions += a.excluded.length;
        this.stats.readmissions += a.readmitted.length;
        this.log(`${c.id} membership v${a.record.version} members=${a.record.members.join(',')} excluded=${a.excluded.join(',')} readmitted=${a.readmitted.join(',')}`);
        return;
      case 'resign':
        if (this.etcd.leader?.id === c.id) {
          this.etcd.dropLeader();
          this.at(1, { kind: 'elect' });
        }
        return;
      case 'log':
        this.log(`${c.id} ${a.event} ${JSON.stringify(a.fields, (_k, v) => (typeof v === 'bigint' ? v.toString() : v))}`);
        return;
    }
  }

  private leaderHandle(r: RegionProc, ev: LeaderEvent): void {
    if (!r.leader) return;
    for (const a of r.leader.handle(ev)) this.leaderAction(r, a);
  }

  private leaderAction(r: RegionProc, a: LeaderAction): void {
    switch (a.type) {
      case 'send':
        this.send(r.name, a.to, a.msg);
        return;
      case 'job':
        this.at(this.rng.between(0.1, 1.5), { kind: 'job', region: r.index, inc: r.leaderInc, job: a.job });
        return;
      case 'wakeAt':
        if (r.leaderWakeAt !== a.atMs) {
          r.leaderWakeAt = a.atMs;
          this.queue.push(Math.max(a.atMs, this.time.nowMs), { kind: 'wake', proc: `r${r.index}`, inc: r.leaderInc, atMs: a.atMs });
        }
        return;
      case 'frontier':
        this.log(`${r.name} frontier ${formatGlt(a.frontier)}`);
        return;
      case 'log':
        this.log(`${r.name} ${a.event} ${JSON.stringify(a.fields, (_k, v) => (typeof v === 'bigint' ? v.toString() : v))}`);
        return;
    }
  }

  /**
   * Routes a message over the simulated WAN: COORDINATOR resolves to etcd's current leader
   * at send time. Every message goes through the wire codec, as over Quantum.
   */
  private send(fromSite: string, to: string, sent: Message): void {
    const decoded = decodeMessage(encodeMessage(sent));
    if (!decoded.ok) throw decoded.error;
    const msg = decoded.value;
    let target = to;
    let toSite = to;
    if (to === COORDINATOR) {
      const id = this.etcd.leader?.id;
      if (!id) return;
      target = id;
      toSite = this.coords[Number(id.slice(1))]!.site;
    }
    if (msg.type === 'catchup' && msg.mode === 'own') this.stats.replays++;
    else if (msg.type === 'catchup') {
      this.stats.catchUps++;
      if (msg.full) this.stats.fullTransfers++;
    }
    for (const d of this.net.transmit(fromSite, toSite, msg)) this.queue.push(this.time.nowMs + d, { kind: 'deliver', fromSite, to: target, msg });
  }

  private deliver(fromSite: string, to: string, msg: Message): void {
    if (to.startsWith('c')) {
      const c = this.coords[Number(to.slice(1))]!;
      if (!this.net.connected(fromSite, c.site) || !c.alive) return;
      this.coordHandle(c, { type: 'message', nowMs: this.time.nowMs, msg });
      return;
    }
    const r = this.regions.find((x) => x.name === to)!;
    if (!this.net.connected(fromSite, r.name) || !r.leaderAlive || !r.leader) return;
    this.leaderHandle(r, { type: 'message', nowMs: this.time.nowMs, msg });
  }

  private async runJob(region: number, inc: number, job: LeaderJob): Promise<void> {
    const r = this.regions[region]!;
    if (!r.leaderAlive || !r.leader || r.leaderInc !== inc) return;
    const down = r.nodes.find((n) => !n.alive || !n.store);
    if (down) {
      this.leaderHandle(r, { type: 'jobFailed', nowMs: this.time.nowMs, jobId: job.jobId, error: new AetherError('UNAVAILABLE', `data node ${down.id} is down`) });
      return;
    }
    const stores = new Map(r.nodes.map((n) => [n.id, n.store!] as const));
    if (job.type === 'apply' && this.midApplyCrash.has(region)) {
      // The leader dies half-way: the versions and the watermarks reach only the first node.
      this.midApplyCrash.delete(region);
      const first = r.nodes[0]!;
      await first.store!.applyRemote(job.versions.filter((v) => r.router.route(v.key) === first.id));
      await saveWatermarks(first.store!, { frontier: job.frontier, watermark: job.watermark });
      this.crash({ kind: 'leader', region });
      this.at(this.rng.between(1, 20), { kind: 'restart', target: { kind: 'leader', region } });
      return;
    }
    try {
      const result = await runLeaderJob(job, stores, r.router, {
        restamped: (origin: string, after: Glt, moved: readonly Version[]) => {
          this.model.restamp(origin, r.name, after, moved);
          this.stats.restamped += moved.length;
          this.log(`${origin} restamped ${moved.length} above ${formatGlt(after)}`);
        },
      });
      this.leaderHandle(r, { type: 'jobDone', nowMs: this.time.nowMs, jobId: job.jobId, result });
    } catch (err) {
      if (!(err instanceof AetherError)) throw err;
      this.log(`${r.name} job ${job.type} failed ${err.code}`);
      this.leaderHandle(r, { type: 'jobFailed', nowMs: this.time.nowMs, jobId: job.jobId, error: err });
    }
  }

  private persist(ev: Extract<SimEvent, { kind: 'persist' }>): void {
    let outcome: 'ok' | 'fenced' | 'failed';
    if (this.glitchNext) {
      // The transaction's outcome is lost on the way back: it may have applied or not.
      this.glitchNext = false;
      if (this.rng.chance(0.5)) this.applyPersist(ev);
      outcome = 'failed';
    } else {
      outcome = this.applyPersist(ev);
    }
    const c = this.coords[ev.coord]!;
    if (c.alive && c.inc === ev.inc) this.coordHandle(c, { type: 'persisted', nowMs: this.time.nowMs, persistId: ev.persistId, outcome });
  }

  private applyPersist(ev: Extract<SimEvent, { kind: 'persist' }>): 'ok' | 'fenced' {
    const outcome = this.etcd.persist(ev.epoch, ev.commit, ev.membership);
    if (outcome !== 'ok') return outcome;
    if (ev.commit) {
      this.model.commit(ev.commit);
      this.commitTimes.push(this.time.nowMs);
    }
    for (const r of this.regions) {
      this.at(this.rng.between(0.5, 6), { kind: 'watch', region: r.index, ...(ev.commit ? { commit: ev.commit } : {}), ...(ev.membership ? { membership: ev.membership } : {}) });
    }
    return 'ok';
  }

  private elect(avoid?: string): void {
    if (this.etcd.leader) return;
    const alive = this.coords.filter((c) => c.alive && c.sm);
    if (alive.length === 0) return;
    const preferred = alive.filter((c) => c.id !== avoid);
    const c = this.rng.pick(preferred.length > 0 ? preferred : alive);
    const epoch = this.etcd.elect(c.id);
    this.stats.elections++;
    this.log(`${c.id} elected epoch ${epoch}`);
    this.coordHandle(c, { type: 'elected', nowMs: this.time.nowMs, epoch, last: this.etcd.last, membership: this.etcd.membership });
  }

  private async leaderStart(region: number, inc: number): Promise<void> {
    const r = this.regions[region]!;
    if (!r.leaderAlive || r.leaderInc !== inc || r.leader) return;
    if (r.nodes.some((n) => !n.alive)) {
      this.at(5, { kind: 'leader-start', region, inc });
      return;
    }
    const w = this.persistedWatermarks(r);
    r.leader = new LeaderRound({ region: r.name, catchUpRetryMs: 8, joinRetryMs: 10, applyRetryMs: 4 });
    this.leaderHandle(r, { type: 'started', nowMs: this.time.nowMs, frontier: w.frontier, watermark: w.watermark, last: this.etcd.last, membership: this.etcd.membership });
  }

  /** What regional/watermarks.ts `loadWatermarks` reads, straight from the disks (also of nodes that are down). */
  private persistedWatermarks(r: RegionProc): { frontier: Glt; watermark: Glt } {
    let frontier: Glt | undefined;
    let watermark: Glt | undefined;
    for (const n of r.nodes) {
      const f = n.disk.meta.get(FRONTIER_META) ?? GLT_ZERO;
      const w = n.disk.meta.get(WATERMARK_META) ?? GLT_ZERO;
      frontier = frontier ? minGlt(frontier, f) : f;
      watermark = watermark ? minGlt(watermark, w) : w;
    }
    return { frontier: frontier ?? GLT_ZERO, watermark: watermark ?? GLT_ZERO };
  }

  private frontierOf(r: RegionProc): Glt {
    return r.leaderAlive && r.leader ? r.leader.currentFrontier : this.persistedWatermarks(r).frontier;
  }

  // ---- faults ----------------------------------------------------------------------------

  private fault(f: Fault): void {
    if (this.settling) return;
    switch (f.kind) {
      case 'crash':
        this.crash(f.target);
        this.at(f.downMs, { kind: 'restart', target: f.target });
        return;
      case 'partition': {
        const site = this.regions[f.region % this.regions.length]!.name;
        this.net.isolate(site, this.regions.map((r) => r.name));
        this.log(`partition ${site}`);
        this.at(f.durationMs, { kind: 'heal', region: f.region });
        return;
      }
      case 'cut': {
        const [a, b] = f.regions.map((i) => this.regions[i % this.regions.length]!.name) as [string, string];
        this.net.cut(a, b);
        this.log(`cut ${a}|${b}`);
        this.at(f.durationMs, { kind: 'heal', region: f.regions[0] });
        return;
      }
      case 'depose': {
        const l = this.etcd.leader;
        if (!l) return;
        this.log(`depose ${l.id}`);
        this.etcd.dropLeader();
        this.at(LEASE_MS, { kind: 'elect', avoid: l.id });
        // Its lease keep-alives fail; it notices a few lease periods later, running meanwhile.
        this.at(3 * LEASE_MS, { kind: 'deposed', coord: Number(l.id.slice(1)), epoch: l.epoch });
        return;
      }
      case 'persist-glitch':
        this.glitchNext = true;
        return;
      case 'crash-mid-apply':
        this.midApplyCrash.add(f.region % this.regions.length);
        return;
    }
  }

  private crash(t: ProcessRef): void {
    if (t.kind === 'coordinator') {
      const c = this.coords[t.index % this.coords.length]!;
      if (!c.alive) return;
      this.log(`crash ${c.id}`);
      c.alive = false;
      c.inc++;
      c.sm = undefined;
      c.wakeAt = undefined;
      if (this.etcd.leader?.id === c.id) this.at(LEASE_MS, { kind: 'lease-expired', coord: t.index % this.coords.length, epoch: this.etcd.leader.epoch });
    } else if (t.kind === 'leader') {
      const r = this.regions[t.region % this.regions.length]!;
      if (!r.leaderAlive) return;
      this.log(`crash ${r.name} leader`);
      r.leaderAlive = false;
      r.leaderInc++;
      r.leader = undefined;
      r.leaderWakeAt = undefined;
    } else {
      const r = this.regions[t.region % this.regions.length]!;
      const n = r.nodes[t.index % r.nodes.length]!;
      if (!n.alive) return;
      this.log(`crash ${n.id}`);
      n.alive = false;
      void n.store!.shutdown();
      n.store = undefined;
    }
  }

  private restart(t: ProcessRef): void {
    if (t.kind === 'coordinator') {
      const c = this.coords[t.index % this.coords.length]!;
      if (c.alive) return;
      this.log(`restart ${c.id}`);
      c.alive = true;
      c.sm = this.newCoordinator(c);
      if (!this.etcd.leader) this.at(0, { kind: 'elect' });
    } else if (t.kind === 'leader') {
      const r = this.regions[t.region % this.regions.length]!;
      if (r.leaderAlive) return;
      this.log(`restart ${r.name} leader`);
      r.leaderAlive = true;
      this.at(0, { kind: 'leader-start', region: r.index, inc: r.leaderInc });
    } else {
      const r = this.regions[t.region % this.regions.length]!;
      const n = r.nodes[t.index % r.nodes.length]!;
      if (n.alive) return;
      this.log(`restart ${n.id}`);
      n.alive = true;
      n.store = new MemoryStore({ origin: n.id, clock: this.time.clock(n.skewNs, this.spec.maxOffsetMs, n.disk.floor()), disk: n.disk });
    }
  }

  /** End of the fault window: heal, restart everything, clean links; the deployment must converge. */
  private settle(): void {
    this.settling = true;
    this.net.healAll();
    this.net.spec = { ...this.net.spec, loss: 0, duplicate: 0 };
    this.glitchNext = false;
    this.midApplyCrash.clear();
    this.coords.forEach((_c, index) => this.restart({ kind: 'coordinator', index }));
    this.regions.forEach((r) => {
      this.restart({ kind: 'leader', region: r.index });
      r.nodes.forEach((_n, index) => this.restart({ kind: 'datanode', region: r.index, index }));
    });
    if (!this.etcd.leader) this.at(0, { kind: 'elect' });
    this.log('settle');
  }

  // ---- load ------------------------------------------------------------------------------

  private async write(): Promise<void> {
    if (this.time.nowMs >= this.spec.durationMs) return;
    this.at(this.rng.between(0, 2 * this.spec.writeEveryMs), { kind: 'write' });
    const r = this.rng.pick(this.regions);
    const key = Buffer.from(`k${this.rng.int(this.spec.keys)}`, 'latin1');
    const del = this.rng.chance(0.2);
    const n = r.nodes.find((x) => x.id === r.router.route(key))!;
    if (!n.alive || !n.store) return;
    const v = del ? await n.store.delete(key) : await n.store.put(key, Buffer.from(`${n.id}#${++this.writeSeq}`, 'latin1'));
    this.model.ack(v, r.name);
    this.stats.writes++;
  }

  /** Each region collects history older than retention below its frontier (at a committed GLT). */
  private async gc(): Promise<void> {
    this.at(this.spec.intervalMs, { kind: 'gc' });
    const retentionNs = BigInt(Math.round(this.spec.retentionMs! * 1e6));
    for (const r of this.regions) {
      const f = this.frontierOf(r);
      let horizon: Glt | undefined;
      for (const c of this.model.commits) {
        if (compareGlt(c.T, f) > 0 || c.T.wall + retentionNs > f.wall) break;
        horizon = c.T;
      }
      if (!horizon) continue;
      for (const n of r.nodes) if (n.alive && n.store) await n.store.gc(horizon);
    }
  }

  // ---- invariants ------------------------------------------------------------------------

  /** A store to read a data node's disk through, also while the node is down. */
  private reader(n: DataNodeProc): MemoryStore {
    return n.store ?? new MemoryStore({ origin: n.id, clock: this.time.clock(n.skewNs, this.spec.maxOffsetMs, n.disk.floor()), disk: n.disk });
  }

  private horizonOf(r: RegionProc): Glt {
    return r.nodes.reduce((h, n) => maxGlt(h, n.disk.horizon), GLT_ZERO);
  }

  /** S at one GLT ≤ the region's frontier: every key reads the model's LWW winner. */
  private async checkS(r: RegionProc, g: Glt, keys: readonly string[] = this.allKeys()): Promise<void> {
    if (compareGlt(g, this.horizonOf(r)) < 0) return;
    this.stats.checks++;
    for (const k of keys) {
      const key = Buffer.from(k, 'latin1');
      const n = r.nodes.find((x) => x.id === r.router.route(key))!;
      const got = await this.reader(n).get(key, g);
      const exp = this.model.expected(k, g);
      const same =
        (!got && !exp) ||
        (got && exp && got.value.toString('latin1') === exp.value && compareGlt(got.ts, exp.ts) === 0 && got.origin === exp.origin);
      if (!same) {
        const show = (x: { value: unknown; ts: Glt; origin: string } | undefined) =>
          x ? `${String(x.value instanceof Buffer ? x.value.toString('latin1') : x.value)}@${formatGlt(x.ts)}/${x.origin}` : 'none';
        throw new SimViolation('S', `${r.name} reads ${k} at ${formatGlt(g)} (frontier ${formatGlt(this.frontierOf(r))}) = ${show(got)}, expected ${show(exp)}`);
      }
    }
  }

  private allKeys(): string[] {
    return Array.from({ length: this.spec.keys }, (_x, i) => `k${i}`);
  }

  /** After every event: M for every region, S at every newly reached frontier, and a sampled S at an older GLT. */
  private async checkStep(): Promise<void> {
    for (const r of this.regions) {
      const f = this.frontierOf(r);
      const c = compareGlt(f, r.maxFrontier);
      if (c < 0) throw new SimViolation('M', `${r.name} frontier moved back from ${formatGlt(r.maxFrontier)} to ${formatGlt(f)}`);
      if (!this.model.isCommitted(f)) throw new SimViolation('M', `${r.name} frontier ${formatGlt(f)} is not a committed GLT`);
      if (c > 0) {
        r.maxFrontier = f;
        await this.checkS(r, f);
      }
    }
    if (this.checkRng.chance(0.02) && this.model.commits.length > 0) {
      const r = this.checkRng.pick(this.regions);
      const f = this.frontierOf(r);
      const below = this.model.commits.filter((x) => compareGlt(x.T, f) <= 0);
      if (below.length > 0) await this.checkS(r, this.checkRng.pick(below).T);
    }
  }

  /** Everything at the end: S at every committed GLT, D for every write, and liveness after the settle. */
  private async checkFinal(): Promise<void> {
    for (const r of this.regions) {
      const f = this.frontierOf(r);
      for (const c of this.model.commits) if (compareGlt(c.T, f) <= 0) await this.checkS(r, c.T);
    }
    const last = this.model.commits[this.model.commits.length - 1]?.T ?? GLT_ZERO;
    const excluded = new Set(this.etcd.membership.excluded.map((e) => e.region));
    for (const w of this.model.writes()) {
      const shipped = this.model.shippedAt(w);
      if (shipped === undefined) {
        if (compareGlt(w.ts, last) <= 0 && !excluded.has(w.region)) {
          throw new SimViolation('D', `write ${w.key}@${formatGlt(w.ts)}/${w.origin} of member ${w.region} is in no snapshot though ${formatGlt(last)} is committed`);
        }
        continue;
      }
      for (const r of this.regions) if (compareGlt(this.frontierOf(r), shipped) >= 0) await this.checkS(r, w.ts, [w.key]);
    }
    if (!this.liveAtSettleEnd) return;
    const endMs = this.time.nowMs;
    if (excluded.size > 0) throw new SimViolation('liveness', `regions still excluded after the settle: ${[...excluded].join(',')}`);
    const recent = this.commitTimes.filter((t) => t >= endMs - this.spec.settleMs / 2).length;
    if (recent === 0) throw new SimViolation('liveness', 'no round committed in the second half of the settle');
    const cutoffIdx = this.commitTimes.findLastIndex((t) => t <= endMs - 5 * this.spec.intervalMs);
    if (cutoffIdx >= 0) {
      const need = this.model.commits[cutoffIdx]!.T;
      for (const r of this.regions) {
        if (compareGlt(this.frontierOf(r), need) < 0) throw new SimViolation('liveness', `${r.name} frontier ${formatGlt(this.frontierOf(r))} still behind ${formatGlt(need)} after the settle`);
      }
    }
  }
}
