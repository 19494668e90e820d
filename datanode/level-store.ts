import { Level } from 'level';
import { AetherError, StoreIoError, assert } from '../common/errors.js';
import { Clock, type ClockOptions } from '../glts/clock.js';
import { GLT_BYTES, GLT_MAX, GLT_ZERO, compareGlt, decodeGlt, encodeGlt, maxGlt, type Glt } from '../glts/glt.js';
import { checkKey, checkLimit, checkOrigin, checkReadable, checkValue, checkVersion, storeClosedError } from './checks.js';
import {
  changeRange,
  decodeChangeKey,
  decodeStoredValue,
  decodeVersionKey,
  encodeStoredValue,
  sysMetaKey,
  userMetaKey,
  versionKey,
  versionKeyEnd,
  versionRange,
  versionEntries,
  versionSeekKey,
} from './keys.js';
import type { KeyRange, ReadResult, Store } from './store.js';
import { compareVersions, type Version } from './version.js';

/** Bumped when the key layout (keys.ts) or the stored values change. */
const FORMAT = 1;
/** Entries fetched per iterator step: bounds what one read holds in memory at a time. */
const READ_CHUNK = 1000;
/**
 * Batches in the pipeline: one being written while the next is stamped and encoded, so
 * the JavaScript thread and LevelDB's work in parallel.
 */
const MAX_PIPELINED_BATCHES = 2;

export interface LevelStoreOptions {
  /** The LevelDB directory (created when missing). */
  readonly path: string;
  /** This data node's id: the origin of the versions it stamps. */
  readonly origin: string;
  /** The node's clock, built by the store with a floor above every stamp and closed T it persisted. */
  readonly clock: Omit<ClockOptions, 'floor'>;
  /**
   * fsync every batch. Off by default: LevelDB hands each batch to the kernel (write(2)
   * on its log) before the batch resolves, so an acknowledged write survives a SIGKILL of
   * the process — the failure the protocol plans for; a node whose machine loses power is
   * rebuilt by re-stamping and catch-up. On, it also survives power loss, at one fsync
   * per group commit.
   */
  readonly sync?: boolean;
  /** Most write calls grouped into one LevelDB batch. */
  readonly maxBatchWrites?: number;
  /** Most write calls waiting for a batch; more wait for room (back-pressure). */
  readonly maxQueuedWrites?: number;
}

type ChainedBatch = ReturnType<Level<Buffer, Buffer>['batch']>;
type Op = { readonly type: 'put'; readonly key: Buffer; readonly value: Buffer } | { readonly type: 'del'; readonly key: Buffer };

/**
 * Queued work of the single writer. Write jobs are grouped with their neighbours into one
 * batch; `prepare` runs when the batch is formed (so stamps follow the order batches
 * reach LevelDB). An exclusive job (applyRemote, gc, restamp: the round's work) reads and
 * writes alone, between batches, and goes ahead of every queued write: a round must not
 * wait behind a backlog of client writes, and none of them is stamped yet, so none of
 * them is passed over.
 */
interface WriteJob {
  readonly prepare: (ops: Op[]) => void;
  readonly resolve: () => void;
  readonly reject: (err: unknown) => void;
}
interface ExclusiveJob {
  readonly run: () => Promise<void>;
  readonly resolve: () => void;
  readonly reject: (err: unknown) => void;
}

/**
 * The MVCC Store on LevelDB (classic-level), key layout in keys.ts.
 *
 * Writes go through one writer loop with group commit: every write call that arrives
 * while a batch is in flight joins the next batch, so one LevelDB write serves many
 * callers. A call resolves once its batch's write resolved.
 */
export class LevelStore implements Store {
  readonly origin: string;
  readonly clock: Clock;
  private readonly db: Level<Buffer, Buffer>;
  private readonly sync: boolean;
  private readonly maxBatchWrites: number;
  private readonly maxQueuedWrites: number;

  /** open → closing (queue drains, new calls refused) → shut. */
  private state: 'open' | 'closing' | 'shut' = 'open';
  /** Writes not yet stamped, FIFO; length ≤ maxQueuedWrites. */
  private readonly writes: WriteJob[] = [];
  /** Exclusive jobs, FIFO, served before any queued write. */
  private readonly exclusives: ExclusiveJob[] = [];
  /** The exclusive job running now, if any: it may have stamped versions not yet written. */
  private exclusiveRunning: Promise<void> | undefined;
  /** Metadata writes (closed T, setMeta) in call order, outside the write queue. */
  private metaWrites: Promise<void> = Promise.resolve();
  /** Callers waiting for room in the write queue. */
  private readonly roomWaiters: (() => void)[] = [];
  /** True while the writer loop runs; at most one loop at a time. */
  private pumping = false;
  /**
   * Batches sealed and not yet settled, oldest first; length ≤ MAX_PIPELINED_BATCHES.
   * Every write stamped so far is in one of them, settled, or in `exclusiveRunning`'s job.
   */
  private readonly pipeline: Promise<void>[] = [];
  private drained: (() => void) | undefined;
  /** Raised before a GC batch is written, so a read that may see collected history fails instead. */
  private horizonT: Glt;
  private closedT: Glt;

  private constructor(db: Level<Buffer, Buffer>, options: LevelStoreOptions, clock: Clock, closed: Glt, horizon: Glt) {
    this.db = db;
    this.origin = options.origin;
    this.clock = clock;
    this.sync = options.sync ?? false;
    this.maxBatchWrites = options.maxBatchWrites ?? 1024;
    this.maxQueuedWrites = options.maxQueuedWrites ?? 16_384;
    assert(this.maxBatchWrites >= 1 && this.maxQueuedWrites >= 1, 'batch and queue bounds must be ≥ 1');
    this.closedT = closed;
    this.horizonT = horizon;
  }

  /** Opens (or creates) the store; its clock starts above everything the store persisted. */
  static async open(options: LevelStoreOptions): Promise<LevelStore> {
    checkOrigin(options.origin);
    const db = new Level<Buffer, Buffer>(options.path, { keyEncoding: 'buffer', valueEncoding: 'buffer' });
    try {
      await db.open();
      const [format, closed, stamped, horizon] = await db.getMany([sysMetaKey('format'), sysMetaKey('closed'), sysMetaKey('stamped'), sysMetaKey('horizon')]);
      if (format === undefined) {
        await db.put(sysMetaKey('format'), Buffer.of(FORMAT), { sync: true });
      } else if (format.length !== 1 || format[0] !== FORMAT) {
        throw new AetherError('STORE_IO', `store ${options.path} has format ${format.toString('hex')}, this build reads ${FORMAT}`);
      }
      const closedT = closed ? decodeGlt(closed) : GLT_ZERO;
      const horizonT = horizon ? decodeGlt(horizon) : GLT_ZERO;
      const floor = maxGlt(maxGlt(closedT, horizonT), stamped ? decodeGlt(stamped) : GLT_ZERO);
      const clock = new Clock({ ...options.clock, floor });
      return new LevelStore(db, options, clock, closedT, horizonT);
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
    checkReadable(t, this.horizonT);
    const entries = await this.read('get', () => this.db.iterator({ gte: versionSeekKey(key, t), lt: versionKeyEnd(key), limit: 1 }).all());
    checkReadable(t, this.horizonT);
    const first = entries[0];
    if (!first) return undefined;
    const value = decodeStoredValue(first[1]);
    if (value === null) return undefined;
    const { ts, origin } = decodeVersionKey(first[0]);
    return { key: Buffer.from(key), value, ts, origin };
  }

  async scan(range: KeyRange, t: Glt, limit?: number): Promise<ReadResult[]> {
    this.checkOpen();
    checkLimit(limit);
    checkReadable(t, this.horizonT);
    const max = limit ?? Infinity;
    const out: ReadResult[] = [];
    if (max === 0) return out;
    await this.read('scan', async () => {
      const it = this.db.iterator(versionRange(range));
      try {
        // The key whose winner is settled; its remaining (older) versions are skipped.
        let settled: Buffer | undefined;
        for (let chunk = await it.nextv(READ_CHUNK); chunk.length > 0; chunk = await it.nextv(READ_CHUNK)) {
          for (const [k, v] of chunk) {
            const d = decodeVersionKey(k);
            if (settled && settled.equals(d.key)) continue;
            if (compareGlt(d.ts, t) > 0) continue;
            settled = d.key;
            const value = decodeStoredValue(v);
            if (value !== null) out.push({ key: d.key, value, ts: d.ts, origin: d.origin });
            if (out.length >= max) return;
          }
        }
      } finally {
        await it.close();
      }
    });
    checkReadable(t, this.horizonT);
    return out;
  }

  async changes(from: Glt, to: Glt, options: { readonly origin?: string; readonly limit?: number } = {}): Promise<Version[]> {
    this.checkOpen();
    checkLimit(options.limit);
    const max = options.limit ?? Infinity;
    const out: Version[] = [];
    if (compareGlt(from, to) >= 0 || max === 0) return out;
    await this.read('changes', async () => {
      const it = this.db.iterator(changeRange(from, to));
      try {
        for (let chunk = await it.nextv(READ_CHUNK); chunk.length > 0; chunk = await it.nextv(READ_CHUNK)) {
          for (const [k, v] of chunk) {
            const d = decodeChangeKey(k);
            if (options.origin !== undefined && d.origin !== options.origin) continue;
            out.push({ key: d.key, value: decodeStoredValue(v), ts: d.ts, origin: d.origin });
            if (out.length >= max) return;
          }
        }
      } finally {
        await it.close();
      }
    });
    return out;
  }

  async applyRemote(versions: readonly Version[]): Promise<void> {
    this.checkOpen();
    for (const v of versions) checkVersion(v);
    if (versions.length === 0) return;
    await this.exclusive(async () => {
      const fresh = new Map<string, Version>();
      const keys = versions.map((v) => versionKey(v.key, v.ts, v.origin));
      const present = await this.read('applyRemote', () => this.db.getMany(keys));
      versions.forEach((v, i) => {
        const id = keys[i]!.toString('latin1');
        if (present[i] === undefined && !fresh.has(id)) fresh.set(id, v);
      });
      const ops: Op[] = [];
      // Versions at or below the horizon: only the newest at or below it may stay per key.
      const below = new Map<string, Version[]>();
      for (const v of fresh.values()) {
        if (compareGlt(v.ts, this.horizonT) > 0) pushVersionOps(ops, 'put', v);
        else below.set(v.key.toString('latin1'), [...(below.get(v.key.toString('latin1')) ?? []), v]);
      }
      for (const incoming of below.values()) {
        const key = incoming[0]!.key;
        const stored = await this.versionsAtOrBelow(key, this.horizonT);
        const newest = [...stored, ...incoming].reduce((a, b) => (compareVersions(a, b) >= 0 ? a : b));
        for (const v of stored) if (v !== newest) pushVersionOps(ops, 'del', v);
        if (incoming.includes(newest)) pushVersionOps(ops, 'put', newest);
      }
      await this.writeBatch(ops);
    });
  }

  async close(t: Glt): Promise<void> {
    this.checkOpen();
    this.clock.advancePast(t);
    // Queued writes are not stamped yet: from here on they are stamped above t. Only what
    // is already stamped — the batches in the pipeline, an exclusive job's — must land, so
    // close does not wait behind a backlog of client writes.
    await Promise.all([...this.pipeline, this.exclusiveRunning]);
    this.closedT = maxGlt(this.closedT, t);
    await this.writeMeta(sysMetaKey('closed'), () => encodeGlt(this.closedT));
  }

  async gc(horizon: Glt): Promise<number> {
    this.checkOpen();
    let dropped = 0;
    await this.exclusive(async () => {
      const old = this.horizonT;
      if (compareGlt(horizon, old) <= 0) return;
      // No local write may land at or below the horizon, where it would escape collection.
      this.clock.advancePast(horizon);
      // Persist and raise the horizon first: from here on no read below it is answered,
      // and a crash midway leaves at worst uncollected garbage, never a wrong read.
      this.horizonT = horizon;
      await this.writeBatch([{ type: 'put', key: sysMetaKey('horizon'), value: encodeGlt(horizon) }]);
      // Only keys with a version in (old, horizon] can have gained a collectable version.
      const it = this.db.iterator({ ...changeRange(old, horizon), values: false });
      try {
        for (let chunk = await it.nextv(READ_CHUNK); chunk.length > 0; chunk = await it.nextv(READ_CHUNK)) {
          const keys = new Map<string, Buffer>();
          for (const [k] of chunk) {
            const d = decodeChangeKey(k);
            keys.set(d.key.toString('latin1'), d.key);
          }
          const ops: Op[] = [];
          for (const key of keys.values()) {
            const stored = await this.versionsAtOrBelow(key, horizon);
            for (const v of stored.slice(1)) pushVersionOps(ops, 'del', v);
          }
          dropped += ops.length / 2;
          await this.writeBatch(ops);
        }
      } catch (err) {
        throw err instanceof AetherError ? err : new StoreIoError('gc', err);
      } finally {
        await it.close().catch(() => undefined);
      }
    });
    return dropped;
  }

  horizon(): Glt {
    return this.horizonT;
  }

  async restamp(after: Glt): Promise<Version[]> {
    this.checkOpen();
    const moved: Version[] = [];
    await this.exclusive(async () => {
      const own = await this.changes(after, GLT_MAX, { origin: this.origin });
      const ops: Op[] = [];
      for (const old of own) {
        const v: Version = { key: old.key, value: old.value, ts: this.clock.stamp(), origin: this.origin };
        pushVersionOps(ops, 'del', old);
        pushVersionOps(ops, 'put', v);
        moved.push(v);
      }
      await this.writeBatch(ops);
    });
    return moved;
  }

  async getMeta(name: string): Promise<Glt | undefined> {
    this.checkOpen();
    const raw = await this.read('getMeta', () => this.db.get(userMetaKey(name)) as Promise<Buffer | undefined>);
    if (raw === undefined) return undefined;
    assert(raw.length === GLT_BYTES, 'a metadata value is one encoded GLT');
    return decodeGlt(raw);
  }

  async setMeta(name: string, value: Glt): Promise<void> {
    this.checkOpen();
    await this.writeMeta(userMetaKey(name), () => encodeGlt(value));
  }

  /**
   * One metadata entry, written directly (not behind queued client writes), after every
   * earlier metadata write; `value` is read when its turn comes, so the closed T written
   * last is the highest.
   */
  private writeMeta(key: Buffer, value: () => Buffer): Promise<void> {
    const write = this.metaWrites.then(async () => {
      try {
        await this.db.put(key, value(), { sync: this.sync });
      } catch (err) {
        throw this.state === 'shut' ? storeClosedError(this.origin) : new StoreIoError('metadata write', err);
      }
    });
    this.metaWrites = write.catch(() => undefined);
    return write;
  }

  async shutdown(): Promise<void> {
    if (this.state !== 'open') return;
    this.state = 'closing';
    if (this.pumping || this.writes.length > 0 || this.exclusives.length > 0) await new Promise<void>((resolve) => (this.drained = resolve));
    await Promise.all([...this.pipeline, this.metaWrites]);
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

  /** Stamps when its batch is formed; the version shares its value bytes with the stored encoding (one copy). */
  private writeLocal(key: Buffer, value: Buffer | null): Promise<Version> {
    let version: Version | undefined;
    const stored = encodeStoredValue(value);
    return this.enqueueWrite((ops) => {
      version = { key, value: value === null ? null : stored.subarray(1), ts: this.clock.stamp(), origin: this.origin };
      pushVersionOps(ops, 'put', version, stored);
    }).then(() => {
      assert(version, 'a resolved write was stamped');
      return version;
    });
  }

  /** Queues a write for the next batch; `prepare` appends its ops when the batch is formed. */
  private enqueueWrite(prepare: (ops: Op[]) => void): Promise<void> {
    if (this.writes.length >= this.maxQueuedWrites) {
      return new Promise<void>((resolve) => this.roomWaiters.push(resolve)).then(() => this.enqueueWrite(prepare));
    }
    if (this.state !== 'open') return Promise.reject(storeClosedError(this.origin));
    return new Promise<void>((resolve, reject) => {
      this.writes.push({ prepare, resolve, reject });
      if (!this.pumping) void this.pump();
    });
  }

  private exclusive(run: () => Promise<void>): Promise<void> {
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
        // step: a stamped write is always in the pipeline (close relies on it).
        while (this.pipeline.length >= MAX_PIPELINED_BATCHES) await this.pipeline[0];
        if (this.exclusives.length > 0) continue;
        const jobs = this.writes.splice(0, this.maxBatchWrites);
        const ops: Op[] = [];
        for (const job of jobs) job.prepare(ops);
        this.wakeRoomWaiters();
        // Chained on the previous batch: LevelDB applies batches in stamp order, and a
        // batch is acknowledged only after every earlier one was written.
        const previous = this.pipeline[this.pipeline.length - 1] ?? Promise.resolve();
        const batch = this.sealBatch(ops);
        const settled: Promise<void> = previous
          .then(() => this.writeSealed(batch))
          .then(
            () => jobs.forEach((j) => j.resolve()),
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
    while (this.roomWaiters.length > 0 && this.writes.length < this.maxQueuedWrites) this.roomWaiters.shift()!();
  }

  /** One atomic LevelDB batch, written now (exclusive jobs, with no batch in the pipeline). */
  private async writeBatch(ops: Op[]): Promise<void> {
    if (ops.length === 0) return;
    await this.writeSealed(this.sealBatch(ops));
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

  private async writeSealed(batch: ChainedBatch): Promise<void> {
    try {
      await batch.write({ sync: this.sync });
    } catch (err) {
      throw new StoreIoError('batch', err);
    }
  }

  /** The stored versions of `key` with ts ≤ t, newest first. */
  private async versionsAtOrBelow(key: Buffer, t: Glt): Promise<Version[]> {
    const entries = await this.read('scan', () => this.db.iterator({ gte: versionSeekKey(key, t), lt: versionKeyEnd(key) }).all());
    return entries.map(([k, v]) => ({ ...decodeVersionKey(k), value: decodeStoredValue(v) }));
  }
}

/**
 * Appends the two entries of a version — its chain entry and its change-index entry — to
 * put or delete together. `stored` is the version's encoded value when already built.
 */
function pushVersionOps(ops: Op[], type: 'put' | 'del', v: Version, stored?: Buffer): void {
  for (const [key, value] of versionEntries(v, stored ?? encodeStoredValue(v.value))) {
    ops.push(type === 'del' ? { type, key } : { type, key, value });
  }
}
