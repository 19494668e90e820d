import { assert } from '../common/errors.js';
import type { Clock } from '../glts/clock.js';
import { GLT_MAX, GLT_ZERO, compareGlt, maxGlt, type Glt } from '../glts/glt.js';
import { checkKey, checkLimit, checkOrigin, checkReadable, checkValue, checkVersion, storeClosedError } from './checks.js';
import type { KeyRange, ReadResult, Store } from './store.js';
import { compareVersions, type Version } from './version.js';

/** Byte order of keys kept as latin1 strings (one char per byte, so `<` is byte-wise order). */
type KeyId = string;

function keyId(key: Buffer): KeyId {
  return key.toString('latin1');
}

/** Change-index order: (ts, origin, key), as LevelStore's 'c' keys sort. */
function compareChanges(a: Version, b: Version): number {
  return compareVersions(a, b) || Buffer.compare(a.key, b.key);
}

/** First index of a sorted `arr` whose element is not `before` the probe. */
function lowerBound<T>(arr: readonly T[], before: (x: T) => boolean): number {
  let lo = 0;
  let hi = arr.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (before(arr[mid]!)) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/**
 * What a MemoryStore keeps "on disk": hand it to a new MemoryStore to simulate a
 * restart. Everything a resolved call wrote is here (memory writes are synchronous).
 */
export class MemoryDisk {
  /** Version chains by key, newest first (descending compareVersions). */
  readonly chains = new Map<KeyId, Version[]>();
  /** Keys that have a chain, in byte order. */
  readonly keys: KeyId[] = [];
  /** Every version, in change-index order (ts, origin, key). */
  readonly changes: Version[] = [];
  readonly meta = new Map<string, Glt>();
  /** The greatest T passed to close(). */
  closed: Glt = GLT_ZERO;
  /** The greatest timestamp this node stamped. */
  stamped: Glt = GLT_ZERO;
  /** The GC horizon: never moves back. */
  horizon: Glt = GLT_ZERO;

  /** The floor a reopening store's clock must start from: no stamp may repeat or fall ≤ a closed T. */
  floor(): Glt {
    return maxGlt(maxGlt(this.closed, this.stamped), this.horizon);
  }
}

export interface MemoryStoreOptions {
  readonly origin: string;
  /** Injected so a simulator drives time; on reopen it must be floored at `disk.floor()`. */
  readonly clock: Clock;
  /** The state of a previous store of this node (a restart); a fresh one when omitted. */
  readonly disk?: MemoryDisk;
}

/**
 * The Store in memory, for the deterministic simulator: same semantics as LevelStore
 * (both pass test/datanode/conformance.ts), synchronous underneath, no I/O.
 */
export class MemoryStore implements Store {
  readonly origin: string;
  readonly clock: Clock;
  readonly disk: MemoryDisk;
  /** open → shut, once; every call on a shut store fails STORE_CLOSED. */
  private state: 'open' | 'shut' = 'open';

  constructor(options: MemoryStoreOptions) {
    checkOrigin(options.origin);
    this.origin = options.origin;
    this.clock = options.clock;
    this.disk = options.disk ?? new MemoryDisk();
    assert(compareGlt(this.clock.last(), this.disk.floor()) >= 0, 'the clock of a reopened MemoryStore must be floored at disk.floor()');
  }

  async put(key: Buffer, value: Buffer): Promise<Version> {
    this.checkOpen();
    checkKey(key);
    checkValue(value);
    return this.writeLocal(key, Buffer.from(value));
  }

  async delete(key: Buffer): Promise<Version> {
    this.checkOpen();
    checkKey(key);
    return this.writeLocal(key, null);
  }

  async get(key: Buffer, t: Glt): Promise<ReadResult | undefined> {
    this.checkOpen();
    checkKey(key);
    checkReadable(t, this.disk.horizon);
    const chain = this.disk.chains.get(keyId(key));
    return chain ? winner(chain, t) : undefined;
  }

  async scan(range: KeyRange, t: Glt, limit?: number): Promise<ReadResult[]> {
    this.checkOpen();
    checkLimit(limit);
    checkReadable(t, this.disk.horizon);
    const max = limit ?? Infinity;
    const out: ReadResult[] = [];
    const keys = this.disk.keys;
    let lo: KeyId;
    let inRange: (id: KeyId) => boolean;
    if ('prefix' in range) {
      const p = keyId(range.prefix);
      lo = p;
      inRange = (id) => id.startsWith(p);
    } else {
      lo = keyId(range.start);
      const hi = range.end === undefined ? undefined : keyId(range.end);
      inRange = (id) => hi === undefined || id < hi;
    }
    for (let i = lowerBound(keys, (id) => id < lo); i < keys.length && out.length < max; i++) {
      const id = keys[i]!;
      if (!inRange(id)) break;
      const w = winner(this.disk.chains.get(id)!, t);
      if (w) out.push(w);
    }
    return out;
  }

  async changes(from: Glt, to: Glt, options: { readonly origin?: string; readonly limit?: number } = {}): Promise<Version[]> {
    this.checkOpen();
    checkLimit(options.limit);
    const max = options.limit ?? Infinity;
    const all = this.disk.changes;
    const out: Version[] = [];
    for (let i = lowerBound(all, (v) => compareGlt(v.ts, from) <= 0); i < all.length && out.length < max; i++) {
      const v = all[i]!;
      if (compareGlt(v.ts, to) > 0) break;
      if (options.origin === undefined || v.origin === options.origin) out.push(v);
    }
    return out;
  }

  async applyRemote(versions: readonly Version[]): Promise<void> {
    this.checkOpen();
    for (const v of versions) checkVersion(v);
    for (const v of versions) {
      const copy: Version = { key: Buffer.from(v.key), value: v.value === null ? null : Buffer.from(v.value), ts: v.ts, origin: v.origin };
      if (this.insert(copy)) this.collectKey(keyId(copy.key), this.disk.horizon);
    }
  }

  async close(t: Glt): Promise<void> {
    this.checkOpen();
    this.clock.advancePast(t);
    this.disk.closed = maxGlt(this.disk.closed, t);
  }

  async gc(horizon: Glt): Promise<number> {
    this.checkOpen();
    if (compareGlt(horizon, this.disk.horizon) <= 0) return 0;
    // No local write may land at or below the horizon, where it would escape collection.
    this.clock.advancePast(horizon);
    this.disk.horizon = horizon;
    let dropped = 0;
    for (const id of [...this.disk.chains.keys()]) dropped += this.collectKey(id, horizon);
    return dropped;
  }

  horizon(): Glt {
    return this.disk.horizon;
  }

  async restamp(after: Glt): Promise<Version[]> {
    this.checkOpen();
    const own = await this.changes(after, GLT_MAX, { origin: this.origin });
    const moved: Version[] = [];
    for (const old of own) {
      this.remove(old);
      moved.push(this.writeLocal(old.key, old.value));
    }
    return moved;
  }

  async getMeta(name: string): Promise<Glt | undefined> {
    this.checkOpen();
    return this.disk.meta.get(name);
  }

  async setMeta(name: string, value: Glt): Promise<void> {
    this.checkOpen();
    this.disk.meta.set(name, value);
  }

  async shutdown(): Promise<void> {
    this.state = 'shut';
  }

  private checkOpen(): void {
    if (this.state !== 'open') throw storeClosedError(this.origin);
  }

  private writeLocal(key: Buffer, value: Buffer | null): Version {
    const v: Version = { key: Buffer.from(key), value, ts: this.clock.stamp(), origin: this.origin };
    this.disk.stamped = maxGlt(this.disk.stamped, v.ts);
    assert(this.insert(v), 'a fresh stamp collided with a stored version');
    return v;
  }

  /** Adds a version to its chain and the change index; false when (key, ts, origin) is already there. */
  private insert(v: Version): boolean {
    const id = keyId(v.key);
    let chain = this.disk.chains.get(id);
    if (!chain) {
      chain = [];
      this.disk.chains.set(id, chain);
      this.disk.keys.splice(lowerBound(this.disk.keys, (k) => k < id), 0, id);
    }
    const at = lowerBound(chain, (x) => compareVersions(x, v) > 0);
    if (at < chain.length && compareVersions(chain[at]!, v) === 0) return false;
    chain.splice(at, 0, v);
    this.disk.changes.splice(lowerBound(this.disk.changes, (x) => compareChanges(x, v) < 0), 0, v);
    return true;
  }

  private remove(v: Version): void {
    const id = keyId(v.key);
    const chain = this.disk.chains.get(id);
    assert(chain, 'removing a version of an unknown key');
    const at = chain.findIndex((x) => compareVersions(x, v) === 0);
    assert(at >= 0, 'removing an unknown version');
    chain.splice(at, 1);
    const c = lowerBound(this.disk.changes, (x) => compareChanges(x, v) < 0);
    assert(c < this.disk.changes.length && compareChanges(this.disk.changes[c]!, v) === 0, 'change entry missing');
    this.disk.changes.splice(c, 1);
    if (chain.length === 0) {
      this.disk.chains.delete(id);
      this.disk.keys.splice(lowerBound(this.disk.keys, (k) => k < id), 1);
    }
  }

  /** Drops the versions of one key older than its newest at or below `horizon`; returns how many. */
  private collectKey(id: KeyId, horizon: Glt): number {
    const chain = this.disk.chains.get(id);
    if (!chain) return 0;
    const newestBelow = chain.findIndex((x) => compareGlt(x.ts, horizon) <= 0);
    if (newestBelow < 0) return 0;
    const doomed = chain.slice(newestBelow + 1);
    for (const v of doomed) this.remove(v);
    return doomed.length;
  }
}

/** The LWW winner ≤ t of a chain (newest first); undefined when none or a tombstone. */
function winner(chain: readonly Version[], t: Glt): ReadResult | undefined {
  const v = chain.find((x) => compareGlt(x.ts, t) <= 0);
  return v && v.value !== null ? (v as ReadResult) : undefined;
}
