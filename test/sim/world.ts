import { AetherError, toAetherError } from '../../common/errors.js';
import { MinHeap } from '../../common/min-heap.js';
import { GLT_ZERO, compareGlt, formatGlt, maxGlt, type Glt } from '../../glts/glt.js';
import { MemoryDisk, MemoryStore } from '../../datanode/memory-store.js';
import type { Store } from '../../datanode/store.js';
import { Coordinator, type CoordinatorAction, type CoordinatorEvent } from '../../kernel/coordinator.js';
import { COORDINATOR, type Message, type Ship } from '../../kernel/messages.js';
import { initialMembership, type CommitRecord, type MembershipRecord } from '../../kernel/records.js';
import { decodeMessage, encodeMessage } from '../../kernel/wire.js';
import { LocalRegionStores } from '../../regional/local-region-stores.js';
import { nodeRequest, routeBatches } from '../../regional/region-stores.js';
import { Replicator, type ReplicatorAction, type ReplicatorEvent, type ReplicatorLimits, type ReplicatorTiming, type StoreJob } from '../../regional/replicator.js';
import { SimTime } from './clock.js';
import { SimEtcd } from './etcd.js';
import { Model, SimViolation } from './invariants.js';
import { SimNetwork, type NetSpec } from './network.js';
import { Random } from '../../common/random.js';

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
  readonly silenceMs: number;
  readonly lagLimitMs: number;
  readonly net: NetSpec;
  /** Faults and writes happen in [0, durationMs); then everything heals for settleMs. */
  readonly durationMs: number;
  readonly settleMs: number;
  readonly writeEveryMs: number;
  readonly keys: number;
  /** GC keeps this much history below the frontier; undefined = no GC. */
  readonly retentionMs?: number;
  /** Bytes of one shipped batch at most: small ones make backfills and state transfers many batches. */
  readonly maxBatchBytes?: number;
  readonly faults: readonly Fault[];
}

export interface SimStats {
  commits: number;
  elections: number;
  exclusions: number;
  readmissions: number;
  restamped: number;
  /** Ships that started below the sender's GC horizon. */
  fullTransfers: number;
  /** Ships of an origin sent by another region. */
  relays: number;
  /** Ships read from the change index (a peer behind the ring). */
  backfills: number;
  ships: number;
  writes: number;
  events: number;
  checks: number;
}

const LEASE_MS = 15;
const MAX_EVENTS = 400_000;
/** Keys checked at random beside those written, at each new frontier. */
const SAMPLED_KEYS = 3;

/** The replicator's timing scaled to the simulated network (a few ms per hop). */
export const SIM_TIMING: ReplicatorTiming = { shipDelayMs: 1, markDelayMs: 2, ackEveryMs: 20, progressMinGapMs: 1, progressEveryMs: 10, resendAfterMs: 40, retryMs: 5, applyGapMs: 1, ackGapMs: 2, relayRetryMs: 30, nudgeEveryMs: 20 };

/** Who is told that a Ship arrived: its sending leader, if still the same incarnation. */
interface Settle {
  readonly region: number;
  readonly inc: number;
  readonly to: string;
  readonly ship: Ship;
  readonly sentAtMs: number;
}

type SimEvent =
  | { readonly kind: 'deliver'; readonly fromSite: string; readonly to: string; readonly bytes: Buffer; readonly settle?: Settle }
  /** The sender's transport learns that a Ship arrived (Quantum's ack), a hop after it did. */
  | { readonly kind: 'settled'; readonly settle: Settle }
  | { readonly kind: 'wake'; readonly proc: string; readonly inc: number; readonly atMs: number }
  | { readonly kind: 'job'; readonly region: number; readonly inc: number; readonly job: StoreJob }
  | { readonly kind: 'feed'; readonly region: number; readonly inc: number; readonly node: number; readonly feedId: number }
  | { readonly kind: 'persist'; readonly coord: number; readonly inc: number; readonly persistId: number; readonly epoch: bigint; readonly commit?: CommitRecord; readonly membership?: MembershipRecord }
  | { readonly kind: 'watch'; readonly region: number; readonly commit?: CommitRecord; readonly membership?: MembershipRecord }
  | { readonly kind: 'peer-changed'; readonly region: number; readonly peer: string }
  | { readonly kind: 'elect'; readonly avoid?: string }
  | { readonly kind: 'lease-expired'; readonly coord: number; readonly epoch: bigint }
  | { readonly kind: 'deposed'; readonly coord: number; readonly epoch: bigint }
  | { readonly kind: 'leader-start'; readonly region: number; readonly inc: number }
  | { readonly kind: 'restart'; readonly target: ProcessRef }
  | { readonly kind: 'heal'; readonly pairs: readonly string[] }
  | { readonly kind: 'fault'; readonly fault: Fault }
  | { readonly kind: 'write' }
  | { readonly kind: 'gc' }
  | { readonly kind: 'settle' };

interface Queued {
  readonly at: number;
  readonly seq: number;
  readonly ev: SimEvent;
}

/** A binary min-heap on (time, insertion order): equal times run in the order scheduled, so a seed replays exactly. */
class EventQueue {
  private readonly heap = new MinHeap<Queued>((a, b) => a.at < b.at || (a.at === b.at && a.seq < b.seq));
  private seq = 0;

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

/** One open feed of a data node to its leader: its position, polled every few ms. */
interface Feed {
  readonly id: number;
  pos: Glt;
}

interface RegionProc {
  readonly name: string;
  readonly index: number;
  readonly skewNs: bigint;
  leaderAlive: boolean;
  leaderInc: number;
  leader: Replicator | undefined;
  leaderWakeAt: number | undefined;
  readonly nodes: DataNodeProc[];
  readonly route: (key: Buffer) => string;
  /** Open feeds by node index (this incarnation's). */
  readonly feeds: Map<number, Feed>;
  /** The highest frontier seen: a lower one later breaks M. */
  maxFrontier: Glt;
  /** Keys written since this region's frontier was last checked in full for them. */
  readonly dirty: Set<string>;
}

function hashKey(key: Buffer): number {
  let h = 2166136261;
  for (const b of key) h = Math.imul(h ^ b, 16777619) >>> 0;
  return h;
}

/**
 * A whole deployment in one process: the real Coordinator and Replicator state machines,
 * data nodes on MemoryStores behind the real LocalRegionStores jobs, over a simulated
 * network (messages through the real wire codec), clocks and etcd, all driven by one
 * seeded PRNG and a discrete event queue — so a seed replays exactly. M, and S at every
 * new frontier (for the keys written since, plus a sample), are checked after every
 * event; R at every write when clocks have no skew; everything in full at the end.
 */
export class World {
  readonly time = new SimTime();
  readonly model = new Model();
  readonly stats: SimStats = { commits: 0, elections: 0, exclusions: 0, readmissions: 0, restamped: 0, fullTransfers: 0, relays: 0, backfills: 0, ships: 0, writes: 0, events: 0, checks: 0 };
  readonly etcd: SimEtcd;
  readonly net: SimNetwork;
  readonly regions: RegionProc[];
  readonly coords: CoordProc[];
  readonly trace: string[] = [];
  private readonly queue = new EventQueue();
  private readonly rng: Random;
  private readonly checkRng: Random;
  private readonly originRegion = new Map<string, string>();
  private writeSeq = 0;
  private feedSeq = 0;
  private glitchNext = false;
  private readonly midApplyCrash = new Set<number>();
  private settling = false;
  private readonly commitTimes: number[] = [];
  private readonly limits: ReplicatorLimits;

  constructor(
    readonly spec: SimSpec,
    readonly options: { readonly trace?: boolean; readonly liveness?: boolean } = {},
  ) {
    const root = new Random(spec.seed);
    this.rng = root.fork();
    const netRng = root.fork();
    this.checkRng = root.fork();
    const skewRng = root.fork();
    const skew = () => BigInt(Math.round(skewRng.between(-0.5, 0.5) * spec.maxOffsetMs * 1e6));
    this.net = new SimNetwork(spec.net, netRng);
    const batch = spec.maxBatchBytes ?? 4096;
    this.limits = { maxBatchBytes: batch, ringBytes: 16 * batch, maxQueuedBytes: 64 * batch, queueBytes: 16 * batch, applyBytes: 8 * batch, windowBytes: 8 * batch, chunkVersions: 7 };
    this.regions = spec.regions.map((n, index) => {
      const name = `r${index}`;
      const nodes: DataNodeProc[] = [];
      for (let i = 0; i < n; i++) {
        const id = `${name}-d${i}`;
        const node: DataNodeProc = { id, skewNs: skew(), alive: true, disk: new MemoryDisk(), store: undefined };
        node.store = new MemoryStore({ origin: id, clock: this.nodeClock(node.skewNs), disk: node.disk });
        nodes.push(node);
        this.originRegion.set(id, name);
      }
      const ids = nodes.map((x) => x.id);
      return {
        name,
        index,
        skewNs: skew(),
        leaderAlive: true,
        leaderInc: 0,
        leader: undefined,
        leaderWakeAt: undefined,
        nodes,
        route: (k: Buffer) => ids[hashKey(k) % ids.length]!,
        feeds: new Map(),
        maxFrontier: GLT_ZERO,
        dirty: new Set(),
      };
    });
    this.etcd = new SimEtcd(initialMembership(this.regions.map((r) => r.name)));
    this.model.setMembership(this.etcd.membership);
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

  /** A data node's clock options: true time through its skew (the store builds the clock, floored at what it persisted). */
  private nodeClock(skewNs: bigint): { maxOffsetMs: number; physicalNs: () => bigint } {
    return { maxOffsetMs: this.spec.maxOffsetMs, physicalNs: this.time.physical(skewNs) };
  }

  private newCoordinator(c: CoordProc): Coordinator {
    const clock = this.time.clock(c.skewNs, this.spec.maxOffsetMs);
    const s = this.spec;
    return new Coordinator({ id: c.id, regions: this.regions.map((r) => r.name), intervalMs: s.intervalMs, silenceMs: s.silenceMs, lagLimitMs: s.lagLimitMs, maxOffsetMs: s.maxOffsetMs }, () => clock.stamp());
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
    this.stats.restamped = this.model.restampedCount();
    return this.stats;
  }

  private async dispatch(ev: SimEvent): Promise<void> {
    switch (ev.kind) {
      case 'deliver':
        return this.deliver(ev.fromSite, ev.to, ev.bytes, ev.settle);
      case 'settled': {
        const r = this.regions[ev.settle.region]!;
        if (r.leaderInc === ev.settle.inc) this.leaderHandle(r, { type: 'delivered', nowMs: this.time.nowMs, to: ev.settle.to, ship: ev.settle.ship });
        return;
      }
      case 'wake':
        return this.wake(ev);
      case 'job':
        return this.runJob(ev.region, ev.inc, ev.job);
      case 'feed':
        return this.pollFeed(ev.region, ev.inc, ev.node, ev.feedId);
      case 'persist':
        return this.persist(ev);
      case 'watch': {
        const r = this.regions[ev.region]!;
        if (ev.membership) this.leaderHandle(r, { type: 'membership', nowMs: this.time.nowMs, record: ev.membership });
        if (ev.commit) this.leaderHandle(r, { type: 'committed', nowMs: this.time.nowMs, record: ev.commit });
        return;
      }
      case 'peer-changed':
        this.leaderHandle(this.regions[ev.region]!, { type: 'peerChanged', nowMs: this.time.nowMs, region: ev.peer });
        return;
      case 'elect':
        return this.elect(ev.avoid);
      case 'lease-expired':
        if (this.etcd.leader?.epoch === ev.epoch) {
          this.etcd.dropLeader();
          this.at(0, { kind: 'elect' });
        }
        return;
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
        this.net.heal(ev.pairs);
        this.log(`heal ${ev.pairs.join(' ')}`);
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

  private wake(ev: Extract<SimEvent, { kind: 'wake' }>): void {
    if (ev.proc.startsWith('c')) {
      const c = this.coords[Number(ev.proc.slice(1))]!;
      if (c.alive && c.inc === ev.inc && c.wakeAt === ev.atMs) {
        c.wakeAt = undefined;
        this.coordHandle(c, { type: 'tick', nowMs: this.time.nowMs });
      }
      return;
    }
    const r = this.regions[Number(ev.proc.slice(1))]!;
    if (r.leaderAlive && r.leader && r.leaderInc === ev.inc && r.leaderWakeAt === ev.atMs) {
      r.leaderWakeAt = undefined;
      this.leaderHandle(r, { type: 'tick', nowMs: this.time.nowMs });
    }
  }

  // ---- processes -------------------------------------------------------------------------

  private coordHandle(c: CoordProc, ev: CoordinatorEvent): void {
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
      case 'committed':
        this.stats.commits++;
        this.log(`${c.id} committed ${formatGlt(a.record.T)} members=${a.record.members.join(',')} v${a.record.membershipVersion}`);
        return;
      case 'membership':
        if (a.excluded) this.stats.exclusions++;
        if (a.readmitted) this.stats.readmissions++;
        this.log(`${c.id} membership v${a.record.version} members=${a.record.members.join(',')} excluded=${a.excluded ? `${a.excluded.region}(${a.excluded.reason})` : ''} readmitted=${a.readmitted ?? ''}`);
        return;
      case 'resign':
        if (this.etcd.leader?.id === c.id) {
          this.etcd.dropLeader();
          this.at(1, { kind: 'elect' });
        }
        return;
      case 'log':
        this.log(`${c.id} ${a.event} ${JSON.stringify(a.fields)}`);
        return;
    }
  }

  private leaderHandle(r: RegionProc, ev: ReplicatorEvent): void {
    if (!r.leaderAlive || !r.leader) return;
    for (const a of r.leader.handle(ev)) this.leaderAction(r, a);
  }

  private leaderAction(r: RegionProc, a: ReplicatorAction): void {
    switch (a.type) {
      case 'send':
        if (a.msg.type === 'ship') {
          this.stats.ships++;
          if (a.msg.origin !== r.name) this.stats.relays++;
          if (compareGlt(a.msg.horizon, GLT_ZERO) > 0) this.stats.fullTransfers++;
        }
        this.send(r.name, a.to, a.msg, a.msg.type === 'ship' ? { region: r.index, inc: r.leaderInc, to: a.to, ship: a.msg, sentAtMs: this.time.nowMs } : undefined);
        return;
      case 'job':
        if (a.job.type === 'read') this.stats.backfills++;
        this.at(this.rng.between(0.1, 1.5), { kind: 'job', region: r.index, inc: r.leaderInc, job: a.job });
        return;
      case 'openFeed': {
        const node = r.nodes.findIndex((n) => n.id === a.node);
        const feed: Feed = { id: ++this.feedSeq, pos: a.from };
        r.feeds.set(node, feed);
        this.at(this.rng.between(0.2, 1), { kind: 'feed', region: r.index, inc: r.leaderInc, node, feedId: feed.id });
        return;
      }
      case 'wakeAt':
        if (r.leaderWakeAt !== a.atMs) {
          r.leaderWakeAt = a.atMs;
          this.queue.push(Math.max(a.atMs, this.time.nowMs), { kind: 'wake', proc: `r${r.index}`, inc: r.leaderInc, atMs: a.atMs });
        }
        return;
      case 'frontier':
        this.log(`${r.name} frontier ${formatGlt(a.frontier)}`);
        return;
      case 'nudge':
        // Simulated feeds mark every few ms whatever happens: nothing to wake.
        return;
      case 'log':
        this.log(`${r.name} ${a.event} ${JSON.stringify(a.fields)}`);
        return;
    }
  }

  /** Routes a message over the simulated WAN; COORDINATOR resolves to etcd's current leader at send time. Every message goes through the wire codec. */
  private send(fromSite: string, to: string, msg: Message, settle?: Settle): void {
    let target = to;
    let toSite = to;
    if (to === COORDINATOR) {
      const id = this.etcd.leader?.id;
      if (!id) return;
      target = id;
      toSite = this.coords[Number(id.slice(1))]!.site;
    }
    const bytes = encodeMessage(msg);
    // Streams as kernel/peer-transport.ts uses them: one per origin for Ships, one for the rest.
    const stream = msg.type === 'ship' ? `ship:${msg.origin}` : 'control';
    for (const at of this.net.transmit(fromSite, toSite, stream, this.time.nowMs)) this.queue.push(at, { kind: 'deliver', fromSite, to: target, bytes, ...(settle ? { settle } : {}) });
  }

  private deliver(fromSite: string, to: string, bytes: Buffer, settle: Settle | undefined): void {
    const decoded = decodeMessage(bytes);
    if (!decoded.ok) throw decoded.error;
    const msg = decoded.value;
    if (to.startsWith('c')) {
      const c = this.coords[Number(to.slice(1))]!;
      if (!this.net.connected(fromSite, c.site) || !c.alive) return;
      this.coordHandle(c, { type: 'heard', nowMs: this.time.nowMs, region: fromSite });
      this.coordHandle(c, { type: 'message', nowMs: this.time.nowMs, msg });
      return;
    }
    const r = this.regions.find((x) => x.name === to)!;
    if (!this.net.connected(fromSite, r.name)) return;
    this.leaderHandle(r, { type: 'message', nowMs: this.time.nowMs, msg });
    // A lost or cut message is never reported: the sender finds out by its stall timeout, as after a drop at the peer.
    if (settle && r.leaderAlive) this.queue.push(2 * this.time.nowMs - settle.sentAtMs, { kind: 'settled', settle });
  }

  private stores(r: RegionProc): LocalRegionStores | AetherError {
    const down = r.nodes.find((n) => !n.alive || !n.store);
    if (down) return new AetherError('UNAVAILABLE', `data node ${down.id} is down`);
    return new LocalRegionStores(new Map(r.nodes.map((n) => [n.id, n.store! as Store] as const)), r.route);
  }

  private async runJob(region: number, inc: number, job: StoreJob): Promise<void> {
    const r = this.regions[region]!;
    if (!r.leaderAlive || !r.leader || r.leaderInc !== inc) return;
    const now = () => this.time.nowMs;
    const stores = this.stores(r);
    if (stores instanceof AetherError) {
      this.leaderHandle(r, { type: 'jobFailed', nowMs: now(), jobId: job.jobId, code: stores.code });
      return;
    }
    const epoch = BigInt(inc + 1);
    try {
      switch (job.type) {
        case 'apply':
          if (this.midApplyCrash.delete(region)) {
            // The leader dies half-way: only the first data node gets its share.
            const first = r.nodes[0]!;
            const share = routeBatches(r.nodes.map((n) => n.id), job.batches, r.route).get(first.id)!;
            await first.store!.apply(nodeRequest(epoch, share, job.frontier));
            this.crash({ kind: 'leader', region });
            this.at(this.rng.between(1, 20), { kind: 'restart', target: { kind: 'leader', region } });
            return;
          }
          await stores.apply(epoch, job.batches, job.frontier);
          this.leaderHandle(r, { type: 'jobDone', nowMs: now(), jobId: job.jobId });
          return;
        case 'read':
          this.leaderHandle(r, { type: 'jobDone', nowMs: now(), jobId: job.jobId, read: await stores.read(job.originIds, job.from, job.to, job.maxBytes) });
          return;
        case 'hide':
          this.leaderHandle(r, { type: 'jobDone', nowMs: now(), jobId: job.jobId, done: await stores.hide(epoch, job.originIds, job.above, job.limit) });
          return;
        case 'restamp':
          this.leaderHandle(r, { type: 'jobDone', nowMs: now(), jobId: job.jobId, done: await stores.restamp(epoch, job.rule, job.limit) });
          return;
        case 'membershipApplied':
          await stores.setMembershipApplied(epoch, job.version);
          this.leaderHandle(r, { type: 'jobDone', nowMs: now(), jobId: job.jobId });
          return;
      }
    } catch (err) {
      const e = toAetherError(err);
      if (!(err instanceof AetherError)) throw err;
      this.log(`${r.name} job ${job.type} failed ${e.code}`);
      this.leaderHandle(r, { type: 'jobFailed', nowMs: now(), jobId: job.jobId, code: e.code });
    }
  }

  /** A data node's feed: its own versions from the feed's position up to its closed mark, every 1–3 ms. */
  private async pollFeed(region: number, inc: number, nodeIndex: number, feedId: number): Promise<void> {
    const r = this.regions[region]!;
    const feed = r.feeds.get(nodeIndex);
    if (!r.leaderAlive || !r.leader || r.leaderInc !== inc || feed?.id !== feedId) return;
    const n = r.nodes[nodeIndex]!;
    if (!n.alive || !n.store) {
      r.feeds.delete(nodeIndex);
      this.leaderHandle(r, { type: 'feedEnded', nowMs: this.time.nowMs, node: n.id });
      return;
    }
    const c = await n.store.closedMark();
    if (compareGlt(c, feed.pos) > 0) {
      const got = await n.store.changes(n.id, feed.pos, c, this.limits.maxBatchBytes);
      const from = feed.pos;
      feed.pos = got.end;
      this.leaderHandle(r, { type: 'feed', nowMs: this.time.nowMs, node: n.id, from, to: got.end, batch: got.versions });
    }
    if (r.feeds.get(nodeIndex)?.id === feedId) this.at(this.rng.between(1, 3), { kind: 'feed', region, inc, node: nodeIndex, feedId });
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
    if (ev.membership) this.model.setMembership(ev.membership);
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
    for (const r of this.regions) this.at(this.rng.between(0.5, 3), { kind: 'peer-changed', region: r.index, peer: COORDINATOR });
  }

  private async leaderStart(region: number, inc: number): Promise<void> {
    const r = this.regions[region]!;
    if (!r.leaderAlive || r.leaderInc !== inc || r.leader) return;
    const stores = this.stores(r);
    if (stores instanceof AetherError) {
      this.at(5, { kind: 'leader-start', region, inc });
      return;
    }
    const state = await stores.loadState();
    const s = this.spec;
    r.leader = new Replicator({ region: r.name, regions: this.regions.map((x) => x.name), originIds: (name) => this.regions.find((x) => x.name === name)!.nodes.map((n) => n.id), timing: SIM_TIMING, limits: this.limits });
    r.feeds.clear();
    const start = this.time.clock(r.skewNs, s.maxOffsetMs).stamp();
    this.leaderHandle(r, { type: 'started', nowMs: this.time.nowMs, epoch: BigInt(r.leaderInc + 1), start, state, membership: this.etcd.membership, last: this.etcd.last });
    for (const other of this.regions) if (other !== r) this.at(this.rng.between(0.5, 3), { kind: 'peer-changed', region: other.index, peer: r.name });
  }

  /** What the data nodes persisted (also of nodes that are down): the region's frontier after a crash, the greatest on any node (region-stores.ts). */
  private persistedFrontier(r: RegionProc): Glt {
    return r.nodes.reduce((f, n) => maxGlt(f, n.disk.frontier), GLT_ZERO);
  }

  private frontierOf(r: RegionProc): Glt {
    return r.leaderAlive && r.leader?.running ? maxGlt(r.leader.frontier, this.persistedFrontier(r)) : this.persistedFrontier(r);
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
        const pairs = this.net.isolate(site, this.regions.map((r) => r.name));
        this.log(`partition ${site}`);
        this.at(f.durationMs, { kind: 'heal', pairs });
        return;
      }
      case 'cut': {
        const [a, b] = f.regions.map((i) => this.regions[i % this.regions.length]!.name) as [string, string];
        const pairs = this.net.cut(a, b);
        this.log(`cut ${a}|${b}`);
        this.at(f.durationMs, { kind: 'heal', pairs });
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
      r.feeds.clear();
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
      // A restarted node never stamps below what it persisted; it waits for its clock to
      // pass that, as LevelStore.open does, so its stamps stay at real time (R).
      const aheadMs = Number(n.disk.floor().wall - this.time.physical(n.skewNs)()) / 1e6;
      if (aheadMs > 0) {
        this.at(aheadMs + 0.001, { kind: 'restart', target: t });
        return;
      }
      this.log(`restart ${n.id}`);
      n.alive = true;
      n.store = new MemoryStore({ origin: n.id, clock: this.nodeClock(n.skewNs), disk: n.disk });
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
    // At least a microsecond apart: a write acknowledged and the next one issued are never the same instant.
    this.at(0.001 + this.rng.between(0, 2 * this.spec.writeEveryMs), { kind: 'write' });
    const r = this.rng.pick(this.regions);
    const key = Buffer.from(`k${this.rng.int(this.spec.keys)}`, 'latin1');
    const del = this.rng.chance(0.2);
    const n = r.nodes.find((x) => x.id === r.route(key))!;
    if (!n.alive || !n.store) return;
    const v = del ? await n.store.delete(key) : await n.store.put(key, Buffer.from(`${n.id}#${++this.writeSeq}`, 'latin1'));
    this.model.ack(v, r.name, this.spec.maxOffsetMs === 0);
    for (const x of this.regions) x.dirty.add(key.toString('latin1'));
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
    return n.store ?? new MemoryStore({ origin: n.id, clock: this.nodeClock(n.skewNs), disk: n.disk });
  }

  private horizonOf(r: RegionProc): Glt {
    return r.nodes.reduce((h, n) => maxGlt(h, n.disk.horizon), GLT_ZERO);
  }

  /** S at one GLT ≤ the region's frontier: every key given reads the model's LWW winner. */
  private async checkS(r: RegionProc, g: Glt, keys: Iterable<string>): Promise<void> {
    if (compareGlt(g, this.horizonOf(r)) < 0) return;
    this.stats.checks++;
    for (const k of keys) {
      const key = Buffer.from(k, 'latin1');
      const n = r.nodes.find((x) => x.id === r.route(key))!;
      const got = await this.reader(n).get(key, g);
      const exp = this.model.expected(k, g);
      const same = (!got && !exp) || (got && exp && got.value.toString('latin1') === exp.value && compareGlt(got.ts, exp.ts) === 0 && got.origin === exp.origin);
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

  /**
   * After every event: M for every region; at a newly reached frontier, S for the keys
   * written since that region's last check (a re-stamp moves any key: all of them after a
   * readmission) plus a few at random; now and then S at an older committed GLT.
   */
  private async checkStep(): Promise<void> {
    for (const r of this.regions) {
      const f = this.frontierOf(r);
      const c = compareGlt(f, r.maxFrontier);
      if (c < 0) throw new SimViolation('M', `${r.name} frontier moved back from ${formatGlt(r.maxFrontier)} to ${formatGlt(f)}`);
      if (!this.model.isCommitted(f)) throw new SimViolation('M', `${r.name} frontier ${formatGlt(f)} is not a committed GLT`);
      if (c > 0) {
        r.maxFrontier = f;
        const keys = new Set(r.dirty);
        r.dirty.clear();
        for (let i = 0; i < SAMPLED_KEYS; i++) keys.add(`k${this.checkRng.int(this.spec.keys)}`);
        if (this.stats.readmissions > 0) for (const k of this.allKeys()) keys.add(k);
        await this.checkS(r, f, keys);
      }
    }
    if (this.checkRng.chance(0.02) && this.model.commits.length > 0) {
      const r = this.checkRng.pick(this.regions);
      const f = this.frontierOf(r);
      const below = this.model.commits.filter((x) => compareGlt(x.T, f) <= 0);
      if (below.length > 0) await this.checkS(r, this.checkRng.pick(below).T, this.allKeys());
    }
  }

  /** Everything at the end: S at every committed GLT of every region, D (nothing lost), and liveness after the settle. */
  private async checkFinal(): Promise<void> {
    for (const r of this.regions) {
      const f = this.frontierOf(r);
      for (const c of this.model.commits) if (compareGlt(c.T, f) <= 0) await this.checkS(r, c.T, this.allKeys());
    }
    const last = this.model.lastCommitted();
    for (const w of this.model.writes()) {
      const visible = this.model.visibleStamp(w);
      if (!visible && this.etcd.membership.members.includes(w.region)) throw new SimViolation('D', `write ${w.key}@${formatGlt(w.ts)}/${w.origin} of member ${w.region} is hidden`);
      if (visible && compareGlt(visible, last) <= 0) for (const r of this.regions) if (compareGlt(this.frontierOf(r), visible) >= 0) await this.checkS(r, visible, [w.key]);
    }
    if (!(this.options.liveness ?? true)) return;
    const endMs = this.time.nowMs;
    const excluded = this.etcd.membership.excluded.map((e) => e.region);
    if (excluded.length > 0) throw new SimViolation('liveness', `regions still excluded after the settle: ${excluded.join(',')}`);
    const recent = this.commitTimes.filter((t) => t >= endMs - this.spec.settleMs / 2).length;
    if (recent === 0) throw new SimViolation('liveness', 'nothing committed in the second half of the settle');
    const cutoffIdx = this.commitTimes.findLastIndex((t) => t <= endMs - 5 * this.spec.intervalMs);
    if (cutoffIdx >= 0) {
      const need = this.model.commits[cutoffIdx]!.T;
      for (const r of this.regions) {
        if (compareGlt(this.frontierOf(r), need) < 0) throw new SimViolation('liveness', `${r.name} frontier ${formatGlt(this.frontierOf(r))} still behind ${formatGlt(need)} after the settle`);
      }
    }
  }
}
