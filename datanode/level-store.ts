import { Level } from 'level';
import { AetherError, StoreIoError, assert } from '../common/errors.js';
import { Clock, systemPhysicalNs, type ClockOptions } from '../glts/clock.js';
import { GLT_BYTES, GLT_MAX, GLT_ZERO, checkGlt, compareGlt, decodeGlt, encodeGlt, gltEquals, maxGlt, minGlt, type Glt } from '../glts/glt.js';
import {
  checkChunkLimit,
  checkEpoch,
  checkFence,
  checkGcHorizon,
  checkKey,
  checkLimit,
  checkMaxBytes,
  checkMembershipVersion,
  checkOrigin,
  checkReadable,
  checkRestampRule,
  checkValue,
  storeClosedError,
} from './checks.js';
import { EMPTY_BATCH } from './delta.js';
import {
  SYS_META_TAG,
  USER_META_TAG,
  changeIndexRange,
  changeKey,
  changeKeyOrigin,
  changeOriginPrefix,
  changeRange,
  decodeChangeKey,
  decodeHiddenKey,
  decodeStoredValue,
  decodeVersionKey,
  encodeStoredValue,
  hiddenKey,
  hiddenRange,
  metaNameSuffix,
  metaPrefixRange,
  prefixSuccessor,
  sysMetaKey,
  userMetaKey,
  versionKey,
  versionKeyEnd,
  versionRange,
  versionSeekKey,
} from './keys.js';
import { ensureFormat } from './migrate.js';
import type { ApplyRequest, ChangesResult, ChunkResult, KeyRange, ReadResult, RestampRule, Store, StreamState } from './store.js';
import { ChangesCollector, collapseBelowHorizon, type ChainedVersion, decodeApply, planApply, restampKey, restampRuleId, sortedMap, type Version } from './version.js';

/** Entries fetched per iterator step (classic-level also caps each step at 16 KiB): bounds what one read holds in memory. */
const READ_CHUNK = 1000;
/**
 * Batches in the pipeline: one being written while the next is stamped and encoded, so
 * the JavaScript thread and LevelDB's work in parallel.
 */
const MAX_PIPELINED_BATCHES = 2;
const MS = 1_000_000n;
/** A closed mark within this of the persisted ceiling raises the ceiling first. */
const CEILING_REFRESH_NS = 250n * MS;
/** How far above a closed mark a raised ceiling lies: one synced write per ~(LEAD − REFRESH) of marks. */
const CEILING_LEAD_NS = 500n * MS;
/**
 * A reopened store whose physical clock is behind its persisted floor by at most this
 * waits for the clock (stamps stay at real time, docs/architecture.md "Invariants", R); further behind (a
 * clock stepped back), it floors the HLC and stamps run ahead until the clock catches up.
 */
const MAX_OPEN_WAIT_NS = 2000n * MS;

export interface LevelStoreOptions {
  /** The LevelDB directory (created when missing). */
  readonly path: string;
  /** This data node's id: the origin of the versions it stamps. */
  readonly origin: string;
  /** The node's clock, built by the store with a floor above every stamp, ceiling and horizon it persisted. */
  readonly clock: Omit<ClockOptions, 'floor'>;
  /**
   * fsync every batch before its writes (or its apply) are acknowledged — topology
   * `storage.sync`, on by default: an acknowledged write then survives a power loss, at
   * one fsync per group commit (every write waiting while a synced batch is in flight
   * shares the next one). Off, LevelDB still hands each batch to the kernel (write(2) on
   * its log) before it resolves, so a write survives a SIGKILL of the process but not of
   * the machine. Ceilings, hide and re-stamp rules are always synced.
   */
  readonly sync?: boolean;
  /** Most write calls grouped into one LevelDB batch… */
  readonly maxBatchWrites?: number;
  /** …and most key + value bytes in it (a single larger write still goes, alone). */
  readonly maxBatchBytes?: number;
  /** Most write calls waiting for a batch… */
  readonly maxQueuedWrites?: number;
  /** …and most key + value bytes they hold; beyond either, writers wait for room (back-pressure). */
  readonly maxQueuedBytes?: number;
  /** Told of every batch written (its writes, bytes and whether it was synced): metrics, and tests counting syncs. */
  readonly onBatchWritten?: (batch: WrittenBatch) => void;
  /** Opens the LevelDB database at `path` (default `new Level(path)`): tests wrap it to count or fail batch writes. */
  readonly openDatabase?: (path: string) => Level<Buffer, Buffer>;
  /** Progress of a format-1 → 2 migration at open: change entries converted so far. */
  readonly onMigrateProgress?: (entriesDone: number) => void;
  /** How open waits `ns` for the physical clock to pass the persisted floor (default: a timer; a test with a fake clock advances it). */
  readonly waitPhysical?: (ns: bigint) => Promise<void>;
}

/** One LevelDB batch written by the store: `writes` client writes (0 for a leader's job), their key + value bytes. */
export interface WrittenBatch {
  readonly writes: number;
  readonly bytes: number;
  readonly synced: boolean;
}

/** Defaults of the group commit's bounds (LevelStoreOptions). */
export const DEFAULT_MAX_BATCH_WRITES = 1024;
export const DEFAULT_MAX_BATCH_BYTES = 4 << 20;
export const DEFAULT_MAX_QUEUED_WRITES = 16_384;
export const DEFAULT_MAX_QUEUED_BYTES = 64 << 20;

type ChainedBatch = ReturnType<Level<Buffer, Buffer>['batch']>;
type Op = { readonly type: 'put'; readonly key: Buffer; readonly value: Buffer } | { readonly type: 'del'; readonly key: Buffer };

/**
 * Queued work of the single writer. Write jobs are grouped with their neighbours into one
 * batch; `prepare` runs when the batch is formed (so stamps follow the order batches
 * reach LevelDB) and says whether the write went to the hidden set. An exclusive job
 * (apply, hide, restamp, gc: a leader's work) reads and writes alone, between batches, and
 * goes ahead of every queued write: a stream must not wait behind a backlog of client
 * writes, and none of them is stamped yet, so none of them is passed over.
 */
interface WriteJob {
  /** Key + value bytes, counted against the batch and queue byte bounds. */
  readonly bytes: number;
  readonly prepare: (ops: Op[]) => boolean;
  readonly resolve: () => void;
  readonly reject: (err: unknown) => void;
}
interface ExclusiveJob {
  readonly run: () => Promise<void>;
  readonly resolve: () => void;
  readonly reject: (err: unknown) => void;
}

/** What the store persisted besides versions, mirrored in memory (every change goes through the store). */
interface Meta {
  ceiling: Glt;
  horizon: Glt;
  frontier: Glt;
  appliedFloor: Glt;
  membershipApplied: number;
  epoch: bigint;
  readonly applied: Map<string, Glt>;
  /** Origin → hide bound: its versions above it go to the hidden set. */
  readonly hideRules: Map<string, Glt>;
  /** Hidden versions per origin (counted at open). */
  readonly hidden: Map<string, number>;
}

/** A stored chain entry: the version at its chain ts, and its original ts when re-stamped. */
type ChainEntry = ChainedVersion;

/**
 * The MVCC Store on LevelDB (classic-level), key layout in keys.ts.
 *
 * Writes go through one writer loop with group commit: every write call that arrives
 * while a batch is in flight joins the next batch (bounded in writes and bytes), so one
 * LevelDB write — and, with `sync`, one fsync — serves many callers. A call resolves
 * once its batch's write resolved; a batch that fails fails every call in it.
 */
export class LevelStore implements Store {
  readonly origin: string;
  readonly clock: Clock;
  private readonly db: Level<Buffer, Buffer>;
  private readonly sync: boolean;
  private readonly maxBatchWrites: number;
  private readonly maxBatchBytes: number;
  private readonly maxQueuedWrites: number;
  private readonly maxQueuedBytes: number;
  private readonly onBatchWritten: ((batch: WrittenBatch) => void) | undefined;
  private readonly meta: Meta;

  /** open → closing (queue drains, new calls refused) → shut. */
  private state: 'open' | 'closing' | 'shut' = 'open';
  /** Writes not yet stamped, FIFO; length ≤ maxQueuedWrites, bytes ≤ maxQueuedBytes (or one larger write alone). */
  private readonly writes: WriteJob[] = [];
  /** Sum of `bytes` over `writes`. */
  private queuedBytes = 0;
  /** Exclusive jobs, FIFO, served before any queued write. */
  private readonly exclusives: ExclusiveJob[] = [];
  /** The exclusive job running now, if any. */
  private exclusiveRunning: Promise<void> | undefined;
  /** Callers waiting for room in the write queue. */
  private readonly roomWaiters: (() => void)[] = [];
  /** True while the writer loop runs; at most one loop at a time. */
  private pumping = false;
  /**
   * Batches sealed and not yet settled, oldest first; length ≤ MAX_PIPELINED_BATCHES.
   * Every write stamped so far is in one of them or settled.
   */
  private readonly pipeline: Promise<void>[] = [];
  private drained: (() => void) | undefined;
  private readonly ownWriteListeners = new Set<() => void>();
  /** Ceiling writes, one at a time; each writes the highest ceiling asked for so far. */
  private ceilingWrites: Promise<void> = Promise.resolve();
  private ceilingTarget: Glt;
  /** Per hidden origin, where `hide` stopped (the last change key it looked at), for its bound. */
  private readonly hideCursors = new Map<string, { readonly bound: Glt; readonly after: Buffer }>();
  /** Where `restamp` of a rule stopped in the hidden set: the next user key to look at. */
  private restampCursor: { readonly rule: string; readonly next: Buffer } | undefined;

  private constructor(db: Level<Buffer, Buffer>, options: LevelStoreOptions, clock: Clock, meta: Meta) {
    this.db = db;
    this.origin = options.origin;
    this.clock = clock;
    this.sync = options.sync ?? true;
    this.maxBatchWrites = options.maxBatchWrites ?? DEFAULT_MAX_BATCH_WRITES;
    this.maxBatchBytes = options.maxBatchBytes ?? DEFAULT_MAX_BATCH_BYTES;
    this.maxQueuedWrites = options.maxQueuedWrites ?? DEFAULT_MAX_QUEUED_WRITES;
    this.maxQueuedBytes = options.maxQueuedBytes ?? DEFAULT_MAX_QUEUED_BYTES;
    this.onBatchWritten = options.onBatchWritten;
    assert(this.maxBatchWrites >= 1 && this.maxQueuedWrites >= 1 && this.maxBatchBytes >= 1 && this.maxQueuedBytes >= 1, 'batch and queue bounds must be ≥ 1');
    this.meta = meta;
    this.ceilingTarget = meta.ceiling;
  }

  /**
   * Opens (or creates, or migrates from format 1) the store; its clock starts above every
   * stamp, ceiling and horizon the store persisted, at real time when the physical clock
   * is at most MAX_OPEN_WAIT_NS behind them (open waits), else ahead of it.
   */
  static async open(options: LevelStoreOptions): Promise<LevelStore> {
    checkOrigin(options.origin);
    const db = options.openDatabase ? options.openDatabase(options.path) : new Level<Buffer, Buffer>(options.path, { keyEncoding: 'buffer', valueEncoding: 'buffer' });
    try {
      await db.open();
      await ensureFormat(db, options.path, options.onMigrateProgress ? { onProgress: options.onMigrateProgress } : {});
      const { meta, stamped } = await loadMeta(db);
      const floor = maxGlt(maxGlt(stamped, meta.ceiling), meta.horizon);
      await waitToPass(floor, options.clock.physicalNs ?? systemPhysicalNs, options.waitPhysical ?? sleepNs);
      const clock = new Clock({ ...options.clock, floor });
      return new LevelStore(db, options, clock, meta);
    } catch (err) {
      await db.close().catch(() => undefined);
      if (err instanceof AetherError) throw err;
      throw new StoreIoError(`open ${options.path}`, err);
    }
  }

  async put(key: Buffer, value: Buffer): Promise<Version> {
    this.checkOpen();
    checkKey(key);
    checkValue(value);
    return this.writeLocal(Buffer.from(key), value);
  }

  async delete(key: Buffer): Promise<Version> {
    this.checkOpen();
    checkKey(key);
    return this.writeLocal(Buffer.from(key), null);
  }

  async get(key: Buffer, t: Glt): Promise<ReadResult | undefined> {
    this.checkOpen();
    checkKey(key);
    checkReadable(t, this.meta.horizon);
    const entries = await this.read('get', () => this.db.iterator({ gte: versionSeekKey(key, t), lt: versionKeyEnd(key), limit: 1 }).all());
    checkReadable(t, this.meta.horizon);
    const first = entries[0];
    if (!first) return undefined;
    const { value } = decodeStoredValue(first[1]);
    if (value === null) return undefined;
    const { ts, origin } = decodeVersionKey(first[0]);
    return { key: Buffer.from(key), value, ts, origin };
  }

  scan(range: KeyRange, t: Glt, limit?: number): AsyncIterable<ReadResult> {
    return this.scanChains(range, t, limit);
  }

  /**
   * Reads the chains from one iterator, a chunk at a time as the consumer pulls. The
   * iterator reads a snapshot, and GC raises the horizon before it deletes: a horizon
   * still ≤ t after a chunk was read means the chunk holds every version a read at t needs.
   */
  private async *scanChains(range: KeyRange, t: Glt, limit: number | undefined): AsyncGenerator<ReadResult> {
    this.checkOpen();
    checkLimit(limit);
    checkReadable(t, this.meta.horizon);
    let left = limit ?? Infinity;
    if (left === 0) return;
    const it = this.db.iterator(versionRange(range));
    try {
      // The key whose winner is settled; its remaining (older) versions are skipped.
      let settled: Buffer | undefined;
      for (;;) {
        const chunk = await this.read('scan', () => it.nextv(READ_CHUNK));
        checkReadable(t, this.meta.horizon);
        if (chunk.length === 0) return;
        for (const [k, v] of chunk) {
          const d = decodeVersionKey(k);
          if (settled && settled.equals(d.key)) continue;
          if (compareGlt(d.ts, t) > 0) continue;
          settled = d.key;
          const { value } = decodeStoredValue(v);
          if (value === null) continue;
          yield { key: d.key, value, ts: d.ts, origin: d.origin };
          if (--left === 0) return;
        }
      }
    } finally {
      await it.close().catch(() => undefined);
    }
  }

  async closedMark(): Promise<Glt> {
    this.checkOpen();
    const c = this.clock.stamp();
    // Queued writes are not stamped yet: they will be stamped above c. Only what is
    // already stamped — the batches in the pipeline — must land, so a mark does not wait
    // behind a backlog of client writes.
    await Promise.all([...this.pipeline, this.exclusiveRunning]);
    if (this.meta.ceiling.wall - c.wall < CEILING_REFRESH_NS) await this.raiseCeiling({ wall: c.wall + CEILING_LEAD_NS, logical: 0 });
    return c;
  }

  /** Persists (synced) a ceiling ≥ `target`: a reopened store stamps above it. */
  private raiseCeiling(target: Glt): Promise<void> {
    this.ceilingTarget = maxGlt(this.ceilingTarget, target);
    const write = this.ceilingWrites.then(async () => {
      if (compareGlt(this.meta.ceiling, target) >= 0) return;
      const ceiling = this.ceilingTarget;
      try {
        await this.db.put(sysMetaKey('ceiling'), encodeGlt(ceiling), { sync: true });
      } catch (err) {
        throw this.state === 'shut' ? storeClosedError(this.origin) : new StoreIoError('ceiling write', err);
      }
      this.meta.ceiling = maxGlt(this.meta.ceiling, ceiling);
    });
    this.ceilingWrites = write.catch(() => undefined);
    return write;
  }

  onOwnWrites(listener: () => void): () => void {
    const l = () => listener();
    this.ownWriteListeners.add(l);
    return () => void this.ownWriteListeners.delete(l);
  }

  async changes(origin: string, from: Glt, to: Glt, maxBytes: number): Promise<ChangesResult> {
    this.checkOpen();
    checkOrigin(origin);
    checkGlt(from.wall, from.logical);
    checkGlt(to.wall, to.logical);
    checkMaxBytes(maxBytes);
    if (compareGlt(from, to) >= 0) return { versions: EMPTY_BATCH, end: to };
    const read = new ChangesCollector(maxBytes);
    await this.read('changes', async () => {
      const it = this.db.iterator(changeRange(origin, from, to));
      try {
        for (let chunk = await it.nextv(READ_CHUNK); chunk.length > 0; chunk = await it.nextv(READ_CHUNK)) {
          for (const [k, v] of chunk) {
            const d = decodeChangeKey(k);
            if (!read.add({ key: d.key, value: decodeStoredValue(v).value, ts: d.ts, origin })) return;
          }
        }
      } finally {
        await it.close();
      }
    });
    return read.result(to);
  }

  async origins(): Promise<string[]> {
    this.checkOpen();
    return this.read('origins', async () => {
      const out: string[] = [];
      const it = this.db.iterator({ ...changeIndexRange(), values: false });
      try {
        // One seek per origin, past its prefix: cost proportional to the origins, not the entries.
        for (let [entry] = await it.nextv(1); entry; [entry] = await it.nextv(1)) {
          const origin = changeKeyOrigin(entry[0]);
          out.push(origin);
          it.seek(prefixSuccessor(changeOriginPrefix(origin))!);
        }
      } finally {
        await it.close();
      }
      return out;
    });
  }

  async apply(request: ApplyRequest): Promise<number> {
    this.checkOpen();
    const decoded = decodeApply(request);
    let written = 0;
    await this.exclusive(async () => {
      const ops: Op[] = [];
      this.fence(decoded.epoch, ops);
      const plan = planApply(decoded, this.meta);
      // Hidden versions are counted: one already hidden (written again blindly) is not counted twice.
      const hidden = new Map<string, number>();
      const present = plan.hidden.length === 0 ? [] : await this.read('apply', () => this.db.getMany(plan.hidden.map((v) => hiddenKey(v.key, v.ts, v.origin))));
      plan.hidden.forEach((v, i) => {
        pushHidden(ops, v);
        if (present[i] === undefined) hidden.set(v.origin, (hidden.get(v.origin) ?? 0) + 1);
      });
      for (const v of plan.chained) pushChained(ops, v);
      written = plan.hidden.length + plan.chained.length;
      for (const incoming of plan.belowHorizon.values()) {
        const c = collapseBelowHorizon(await this.chainAtOrBelow(incoming[0]!.key, plan.horizon), incoming, this.meta.hideRules);
        for (const e of c.dropped) pushDropped(ops, e);
        if (c.kept) {
          pushChained(ops, c.kept);
          written++;
        }
      }
      if (compareGlt(plan.horizon, this.meta.horizon) > 0) {
        // Raised before the batch lands: a read that could miss collected history fails instead.
        this.meta.horizon = plan.horizon;
        ops.push({ type: 'put', key: sysMetaKey('horizon'), value: encodeGlt(plan.horizon) });
      }
      for (const [region, at] of plan.applied) {
        if (compareGlt(at, this.meta.applied.get(region) ?? GLT_ZERO) > 0) ops.push({ type: 'put', key: userMetaKey(`applied/${region}`), value: encodeGlt(at) });
      }
      const frontier = decoded.frontier && compareGlt(decoded.frontier, this.meta.frontier) > 0 ? decoded.frontier : undefined;
      if (frontier) ops.push({ type: 'put', key: userMetaKey('frontier'), value: encodeGlt(frontier) });
      // Synced as local writes are (storage.sync): `applied[origin]` is reported only once this resolves.
      await this.writeBatch(ops, this.sync);
      this.noteEpoch(decoded.epoch);
      for (const [region, at] of plan.applied) this.meta.applied.set(region, maxGlt(at, this.meta.applied.get(region) ?? GLT_ZERO));
      if (frontier) this.meta.frontier = frontier;
      for (const [origin, n] of hidden) this.countHidden(origin, n);
    });
    return written;
  }

  async streamState(): Promise<StreamState> {
    this.checkOpen();
    const m = this.meta;
    return { applied: sortedMap(m.applied), appliedFloor: m.appliedFloor, frontier: m.frontier, membershipApplied: m.membershipApplied, epoch: m.epoch, horizon: m.horizon };
  }

  async hide(epoch: bigint, origins: readonly string[], above: Glt, limit: number): Promise<ChunkResult> {
    this.checkOpen();
    checkEpoch(epoch);
    for (const o of origins) checkOrigin(o);
    checkGlt(above.wall, above.logical);
    checkChunkLimit(limit);
    let result: ChunkResult = { done: true, moved: 0 };
    await this.exclusive(async () => {
      const ops: Op[] = [];
      this.fence(epoch, ops);
      // A second exclusion of an origin still hidden keeps the lower bound: hiding more is safe, showing more is not.
      const bounds = new Map<string, Glt>();
      for (const o of origins) {
        const existing = this.meta.hideRules.get(o);
        const bound = existing ? minGlt(existing, above) : above;
        bounds.set(o, bound);
        if (!existing || !gltEquals(existing, bound)) ops.push({ type: 'put', key: sysMetaKey(`hide/${o}`), value: encodeGlt(bound) });
      }
      let budget = limit;
      let done = true;
      let moved = 0;
      const cursors = new Map<string, Buffer>();
      const hidden = new Map<string, number>();
      for (const [o, bound] of bounds) {
        if (budget === 0) {
          done = false;
          break;
        }
        const cursor = this.hideCursors.get(o);
        const range = changeRange(o, bound, GLT_MAX);
        // The chains hold a version of `o` above the bound only if it came before the rule:
        // the change index (original ts) finds them; one no longer at its original ts in
        // its chain (hidden already, re-stamped) is passed over.
        const from = cursor && gltEquals(cursor.bound, bound) ? { gt: cursor.after, lt: range.lt } : range;
        const entries = await this.read('hide', () => this.db.iterator({ ...from, limit: budget, values: false }).all());
        budget -= entries.length;
        if (budget === 0) done = false;
        if (entries.length === 0) continue;
        const versions = entries.map(([k]) => decodeChangeKey(k));
        const present = await this.read('hide', () => this.db.getMany(versions.map((v) => versionKey(v.key, v.ts, v.origin))));
        versions.forEach((v, i) => {
          const stored = present[i];
          if (stored === undefined || decodeStoredValue(stored).orig !== undefined) return;
          ops.push({ type: 'del', key: versionKey(v.key, v.ts, v.origin) }, { type: 'put', key: hiddenKey(v.key, v.ts, v.origin), value: stored });
          moved++;
          hidden.set(o, (hidden.get(o) ?? 0) + 1);
        });
        cursors.set(o, entries[entries.length - 1]![0]);
      }
      await this.writeBatch(ops, true);
      this.noteEpoch(epoch);
      for (const [o, bound] of bounds) this.meta.hideRules.set(o, bound);
      for (const [o, after] of cursors) this.hideCursors.set(o, { bound: bounds.get(o)!, after });
      for (const [o, n] of hidden) this.countHidden(o, n);
      result = { done, moved };
    });
    return result;
  }

  async restamp(epoch: bigint, rule: RestampRule, limit: number): Promise<ChunkResult> {
    this.checkOpen();
    checkEpoch(epoch);
    checkRestampRule(rule);
    checkChunkLimit(limit);
    const origins = new Set(rule.origins);
    const ruleId = restampRuleId(rule);
    let result: ChunkResult = { done: true, moved: 0 };
    await this.exclusive(async () => {
      const ops: Op[] = [];
      this.fence(epoch, ops);
      let left = [...origins].reduce((n, o) => n + (this.meta.hidden.get(o) ?? 0), 0);
      let moved = 0;
      const unhidden = new Map<string, number>();
      let next: Buffer | undefined;
      if (left > 0) {
        const start = this.restampCursor?.rule === ruleId ? this.restampCursor.next : undefined;
        const groups = await this.hiddenGroups(start, limit);
        next = groups.next;
        for (const group of groups.keys) {
          // A key's hidden versions of the rule's origins, in (ts, origin) order (the hidden set's order): ranked together.
          const mine = group.filter((v) => origins.has(v.origin));
          for (const { version, orig } of restampKey(mine, rule)) {
            ops.push({ type: 'del', key: hiddenKey(version.key, orig ?? version.ts, version.origin) });
            ops.push({ type: 'put', key: versionKey(version.key, version.ts, version.origin), value: encodeStoredValue(version.value, orig) });
            unhidden.set(version.origin, (unhidden.get(version.origin) ?? 0) + 1);
          }
          moved += mine.length;
        }
        left -= moved;
      }
      const done = left === 0;
      if (done) for (const o of origins) if (this.meta.hideRules.has(o)) ops.push({ type: 'del', key: sysMetaKey(`hide/${o}`) });
      await this.writeBatch(ops, true);
      this.noteEpoch(epoch);
      for (const [o, n] of unhidden) this.countHidden(o, -n);
      if (done) {
        for (const o of origins) {
          this.meta.hideRules.delete(o);
          this.hideCursors.delete(o);
        }
        this.restampCursor = undefined;
      } else {
        // At the end of the hidden set with versions still hidden (they came in meanwhile): start over.
        this.restampCursor = next ? { rule: ruleId, next } : undefined;
      }
      result = { done, moved };
    });
    return result;
  }

  /**
   * Up to `limit` user keys of the hidden set from `start` on, each with all of its hidden
   * versions (a chunk never splits a key), and the key to go on from (undefined: the end).
   */
  private async hiddenGroups(start: Buffer | undefined, limit: number): Promise<{ keys: Version[][]; next: Buffer | undefined }> {
    const keys: Version[][] = [];
    return this.read('restamp', async () => {
      const it = this.db.iterator(hiddenRange(start));
      try {
        let group: Version[] = [];
        for (let chunk = await it.nextv(READ_CHUNK); chunk.length > 0; chunk = await it.nextv(READ_CHUNK)) {
          for (const [k, v] of chunk) {
            const d = decodeHiddenKey(k);
            if (group.length > 0 && !group[0]!.key.equals(d.key)) {
              keys.push(group);
              if (keys.length >= limit) return { keys, next: d.key };
              group = [];
            }
            group.push({ ...d, value: decodeStoredValue(v).value });
          }
        }
        if (group.length > 0) keys.push(group);
        return { keys, next: undefined };
      } finally {
        await it.close();
      }
    });
  }

  hiddenCount(): number {
    let n = 0;
    for (const c of this.meta.hidden.values()) n += c;
    return n;
  }

  async setMembershipApplied(epoch: bigint, version: number): Promise<void> {
    this.checkOpen();
    checkEpoch(epoch);
    checkMembershipVersion(version);
    await this.exclusive(async () => {
      const ops: Op[] = [];
      this.fence(epoch, ops);
      const raise = version > this.meta.membershipApplied;
      if (raise) ops.push({ type: 'put', key: userMetaKey('membershipApplied'), value: encodeU64(BigInt(version)) });
      await this.writeBatch(ops, true);
      this.noteEpoch(epoch);
      if (raise) this.meta.membershipApplied = version;
    });
  }

  async gc(horizon: Glt): Promise<number> {
    this.checkOpen();
    checkGcHorizon(horizon, this.clock.last());
    let old: Glt | undefined;
    await this.exclusive(async () => {
      if (compareGlt(horizon, this.meta.horizon) <= 0) return;
      // Raise and persist the horizon first: from here on no read below it is answered,
      // and a crash midway leaves at worst uncollected garbage, never a wrong read.
      old = this.meta.horizon;
      this.meta.horizon = horizon;
      await this.writeBatch([{ type: 'put', key: sysMetaKey('horizon'), value: encodeGlt(horizon) }], this.sync);
    });
    if (!old) return 0;
    let dropped = 0;
    // Only keys with a version in (old, horizon] can have gained a collectable version. One
    // exclusive job per chunk, so writes and applies go on between chunks (none can land
    // at or below the horizon unnoticed: stamps are above it, applies collect themselves).
    for (const origin of await this.origins()) {
      const range = changeRange(origin, old, horizon);
      for (let from: { gte: Buffer } | { gt: Buffer } | undefined = range; from; ) {
        const chunk: { gte: Buffer } | { gt: Buffer } = from;
        await this.exclusive(async () => {
          const entries = await this.read('gc', () => this.db.iterator({ ...chunk, lt: range.lt, limit: READ_CHUNK, values: false }).all());
          const keys = new Map<string, Buffer>();
          for (const [k] of entries) {
            const d = decodeChangeKey(k);
            keys.set(d.key.toString('latin1'), d.key);
          }
          const ops: Op[] = [];
          for (const key of keys.values()) {
            const stored = await this.chainAtOrBelow(key, horizon);
            for (const e of stored.slice(1)) pushDropped(ops, e);
            dropped += Math.max(0, stored.length - 1);
          }
          await this.writeBatch(ops, this.sync);
          from = entries.length < READ_CHUNK ? undefined : { gt: entries[entries.length - 1]![0] };
        });
      }
    }
    return dropped;
  }

  horizon(): Glt {
    return this.meta.horizon;
  }

  async shutdown(): Promise<void> {
    if (this.state !== 'open') return;
    this.state = 'closing';
    if (this.pumping || this.writes.length > 0 || this.exclusives.length > 0) await new Promise<void>((resolve) => (this.drained = resolve));
    await Promise.all([...this.pipeline, this.ceilingWrites]);
    this.state = 'shut';
    try {
      await this.db.close();
    } catch (err) {
      throw new StoreIoError('close', err);
    }
  }

  private checkOpen(): void {
    if (this.state !== 'open') throw storeClosedError(this.origin);
  }

  /** Refuses an older leader's call (FENCED); a newer epoch is persisted with the call's batch (then `noteEpoch`). */
  private fence(epoch: bigint, ops: Op[]): void {
    checkFence(epoch, this.meta.epoch);
    if (epoch > this.meta.epoch) ops.push({ type: 'put', key: userMetaKey('epoch'), value: encodeU64(epoch) });
  }

  private noteEpoch(epoch: bigint): void {
    if (epoch > this.meta.epoch) this.meta.epoch = epoch;
  }

  private countHidden(origin: string, n: number): void {
    const total = (this.meta.hidden.get(origin) ?? 0) + n;
    assert(total >= 0, 'the hidden count of an origin went below zero');
    if (total === 0) this.meta.hidden.delete(origin);
    else this.meta.hidden.set(origin, total);
  }

  /** Runs a LevelDB read, translating its errors; a store shut down meanwhile answers STORE_CLOSED. */
  private async read<T>(op: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      if (err instanceof AetherError) throw err;
      if (this.state === 'shut') throw storeClosedError(this.origin);
      throw new StoreIoError(op, err);
    }
  }

  /**
   * Stamps when its batch is formed; the version shares its value bytes with the stored
   * encoding (one copy). While this node's own origin is hidden (its region excluded),
   * its writes above the bound go to the hidden set, as every other region keeps them.
   */
  private writeLocal(key: Buffer, value: Buffer | null): Promise<Version> {
    let version: Version | undefined;
    const stored = encodeStoredValue(value);
    return this.enqueueWrite(key.length + stored.length, (ops) => {
      const v: Version = { key, value: value === null ? null : stored.subarray(1), ts: this.clock.stamp(), origin: this.origin };
      version = v;
      const bound = this.meta.hideRules.get(this.origin);
      const hidden = bound !== undefined && compareGlt(v.ts, bound) > 0;
      if (hidden) pushHidden(ops, v, stored);
      else pushChained(ops, v, stored);
      return hidden;
    }).then(() => {
      assert(version, 'a resolved write was stamped');
      return version;
    });
  }

  /** Queues a write of `bytes` for the next batch; `prepare` appends its ops when the batch is formed. */
  private enqueueWrite(bytes: number, prepare: (ops: Op[]) => boolean): Promise<void> {
    if (!this.hasRoom(bytes)) {
      return new Promise<void>((resolve) => this.roomWaiters.push(resolve)).then(() => this.enqueueWrite(bytes, prepare));
    }
    if (this.state !== 'open') return Promise.reject(storeClosedError(this.origin));
    return new Promise<void>((resolve, reject) => {
      this.writes.push({ bytes, prepare, resolve, reject });
      this.queuedBytes += bytes;
      if (!this.pumping) void this.pump();
    });
  }

  /** Room in the queue for a write of `bytes`: an empty queue always takes one, however large. */
  private hasRoom(bytes: number): boolean {
    if (this.writes.length === 0) return true;
    return this.writes.length < this.maxQueuedWrites && this.queuedBytes + bytes <= this.maxQueuedBytes;
  }

  /** The oldest queued writes that fit one batch: ≤ maxBatchWrites and ≤ maxBatchBytes, at least one. */
  private takeBatch(): WriteJob[] {
    let n = 0;
    let bytes = 0;
    while (n < this.writes.length && n < this.maxBatchWrites && (n === 0 || bytes + this.writes[n]!.bytes <= this.maxBatchBytes)) bytes += this.writes[n++]!.bytes;
    this.queuedBytes -= bytes;
    return this.writes.splice(0, n);
  }

  private exclusive(run: () => Promise<void>): Promise<void> {
    // A store closing takes no new job (a job queued after the writer loop drained would never run).
    if (this.state !== 'open') return Promise.reject(storeClosedError(this.origin));
    return new Promise<void>((resolve, reject) => {
      this.exclusives.push({ run, resolve, reject });
      void this.pump();
    });
  }

  /** The writer loop: drains the queues, one batch or one exclusive job at a time, exclusive jobs first. */
  private async pump(): Promise<void> {
    if (this.pumping) return;
    this.pumping = true;
    try {
      while (this.exclusives.length > 0 || this.writes.length > 0) {
        // Let callers whose writes just resolved queue their next ones first, so they
        // join this batch instead of trickling into a batch of one.
        await new Promise<void>((resolve) => setImmediate(resolve));
        if (this.exclusives.length > 0) {
          await Promise.all(this.pipeline);
          const job = this.exclusives.shift()!;
          this.exclusiveRunning = job.run().then(job.resolve, job.reject);
          await this.exclusiveRunning;
          this.exclusiveRunning = undefined;
          continue;
        }
        // Wait for room first, so stamping, sealing and entering the pipeline happen in one
        // step: a stamped write is always in the pipeline (closedMark relies on it).
        while (this.pipeline.length >= MAX_PIPELINED_BATCHES) await this.pipeline[0];
        if (this.exclusives.length > 0) continue;
        const jobs = this.takeBatch();
        const ops: Op[] = [];
        let hidden = 0;
        let bytes = 0;
        for (const job of jobs) {
          if (job.prepare(ops)) hidden++;
          bytes += job.bytes;
        }
        this.wakeRoomWaiters();
        // Chained on the previous batch: LevelDB applies batches in stamp order, and a
        // batch is acknowledged only after every earlier one was written (and synced).
        // While it is written, the next writes gather in the queue: one fsync serves them all.
        const previous = this.pipeline[this.pipeline.length - 1] ?? Promise.resolve();
        const batch = this.sealBatch(ops);
        const settled: Promise<void> = previous
          .then(() => this.writeSealed(batch, this.sync, jobs.length, bytes))
          .then(
            () => {
              if (hidden > 0) this.countHidden(this.origin, hidden);
              for (const j of jobs) j.resolve();
              for (const l of this.ownWriteListeners) l();
            },
            (err) => jobs.forEach((j) => j.reject(err)),
          )
          .finally(() => this.pipeline.splice(this.pipeline.indexOf(settled), 1));
        this.pipeline.push(settled);
      }
    } finally {
      this.pumping = false;
      if (this.drained) this.drained();
    }
  }

  private wakeRoomWaiters(): void {
    // A waiter re-checks for room with its own size when it runs: waking one too many costs a retry, never a bound.
    while (this.roomWaiters.length > 0 && this.writes.length < this.maxQueuedWrites && this.queuedBytes < this.maxQueuedBytes) this.roomWaiters.shift()!();
  }

  /** One atomic LevelDB batch, written now (exclusive jobs, with no batch in the pipeline); `sync`: true for rules, `this.sync` for data and positions. */
  private async writeBatch(ops: Op[], sync: boolean): Promise<void> {
    if (ops.length === 0) return;
    await this.writeSealed(this.sealBatch(ops), sync, 0, 0);
  }

  /**
   * Builds a batch of `ops` plus the clock's high-water mark, so a reopened clock starts
   * above every stamp the batch carries. A chained batch hands each op straight to the
   * native batch, skipping the array form's per-op copy and option merge.
   */
  private sealBatch(ops: readonly Op[]): ChainedBatch {
    const batch = this.db.batch();
    for (const op of ops) {
      if (op.type === 'put') batch.put(op.key, op.value);
      else batch.del(op.key);
    }
    batch.put(sysMetaKey('stamped'), encodeGlt(this.clock.last()));
    return batch;
  }

  /** Writes a sealed batch carrying `writes` client writes of `bytes`; a failure fails the whole batch (STORE_IO). */
  private async writeSealed(batch: ChainedBatch, sync: boolean, writes: number, bytes: number): Promise<void> {
    try {
      await batch.write({ sync });
    } catch (err) {
      throw this.state === 'shut' ? storeClosedError(this.origin) : new StoreIoError(sync ? 'synced batch' : 'batch', err);
    }
    this.onBatchWritten?.({ writes, bytes, synced: sync });
  }

  /** The chain entries of `key` with ts ≤ t, newest first. */
  private async chainAtOrBelow(key: Buffer, t: Glt): Promise<ChainEntry[]> {
    const entries = await this.read('chain read', () => this.db.iterator({ gte: versionSeekKey(key, t), lt: versionKeyEnd(key) }).all());
    return entries.map(([k, v]) => {
      const { value, orig } = decodeStoredValue(v);
      return { version: { ...decodeVersionKey(k), value }, orig };
    });
  }
}

/** A version into its chain, with its change entry. `stored` is its encoded value when already built. */
function pushChained(ops: Op[], v: Version, stored = encodeStoredValue(v.value)): void {
  ops.push({ type: 'put', key: versionKey(v.key, v.ts, v.origin), value: stored }, { type: 'put', key: changeKey(v.origin, v.ts, v.key), value: stored });
}

/** A version into the hidden set, with its change entry. */
function pushHidden(ops: Op[], v: Version, stored = encodeStoredValue(v.value)): void {
  ops.push({ type: 'put', key: hiddenKey(v.key, v.ts, v.origin), value: stored }, { type: 'put', key: changeKey(v.origin, v.ts, v.key), value: stored });
}

/** A collected chain entry: its version and its change entry (at the original ts of a re-stamped one). */
function pushDropped(ops: Op[], e: ChainEntry): void {
  const v = e.version;
  ops.push({ type: 'del', key: versionKey(v.key, v.ts, v.origin) }, { type: 'del', key: changeKey(v.origin, e.orig ?? v.ts, v.key) });
}

function encodeU64(n: bigint): Buffer {
  const out = Buffer.allocUnsafe(8);
  out.writeBigUInt64BE(n);
  return out;
}

function decodeMetaGlt(raw: Buffer | undefined): Glt {
  if (raw === undefined) return GLT_ZERO;
  assert(raw.length === GLT_BYTES, 'a metadata value is one encoded GLT');
  return decodeGlt(raw);
}

function decodeMetaU64(raw: Buffer | undefined): bigint {
  if (raw === undefined) return 0n;
  assert(raw.length === 8, 'a metadata counter is one u64');
  return raw.readBigUInt64BE();
}

function sleepNs(ns: bigint): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, Math.ceil(Number(ns) / 1e6)));
}

/**
 * Waits until the physical clock passes `floor` when it is at most MAX_OPEN_WAIT_NS behind
 * it. Checks again after each wait (a timer may fire a little early), and waits no more
 * than that bound in all: a clock that does not catch up leaves the floor to the HLC.
 */
async function waitToPass(floor: Glt, physicalNs: () => bigint, wait: (ns: bigint) => Promise<void>): Promise<void> {
  let waited = 0n;
  for (let behind = floor.wall - physicalNs(); behind >= 0n && waited + behind <= MAX_OPEN_WAIT_NS; behind = floor.wall - physicalNs()) {
    await wait(behind + 1n);
    waited += behind + 1n;
  }
}

/** Everything but the versions, read once at open; the hidden set is counted per origin. */
async function loadMeta(db: Level<Buffer, Buffer>): Promise<{ meta: Meta; stamped: Glt }> {
  const [stamped, ceiling, horizon, appliedFloor, frontier, membershipApplied, epoch] = await db.getMany([
    sysMetaKey('stamped'),
    sysMetaKey('ceiling'),
    sysMetaKey('horizon'),
    sysMetaKey('appliedFloor'),
    userMetaKey('frontier'),
    userMetaKey('membershipApplied'),
    userMetaKey('epoch'),
  ]);
  const applied = new Map<string, Glt>();
  for (const [k, v] of await db.iterator(metaPrefixRange(USER_META_TAG, 'applied/')).all()) applied.set(metaNameSuffix(k, 'applied/'), decodeMetaGlt(v));
  const hideRules = new Map<string, Glt>();
  for (const [k, v] of await db.iterator(metaPrefixRange(SYS_META_TAG, 'hide/')).all()) hideRules.set(metaNameSuffix(k, 'hide/'), decodeMetaGlt(v));
  const hidden = new Map<string, number>();
  const it = db.iterator({ ...hiddenRange(), values: false });
  try {
    for (let chunk = await it.nextv(READ_CHUNK); chunk.length > 0; chunk = await it.nextv(READ_CHUNK)) {
      for (const [k] of chunk) {
        const { origin } = decodeHiddenKey(k);
        hidden.set(origin, (hidden.get(origin) ?? 0) + 1);
      }
    }
  } finally {
    await it.close();
  }
  const meta: Meta = {
    ceiling: decodeMetaGlt(ceiling),
    horizon: decodeMetaGlt(horizon),
    frontier: decodeMetaGlt(frontier),
    appliedFloor: decodeMetaGlt(appliedFloor),
    membershipApplied: Number(decodeMetaU64(membershipApplied)),
    epoch: decodeMetaU64(epoch),
    applied,
    hideRules,
    hidden,
  };
  return { meta, stamped: decodeMetaGlt(stamped) };
}
