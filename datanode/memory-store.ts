import { assert } from '../common/errors.js';
import { Clock, type ClockOptions } from '../glts/clock.js';
import { GLT_ZERO, checkGlt, compareGlt, gltEquals, maxGlt, minGlt, type Glt } from '../glts/glt.js';
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
import type { ApplyRequest, ChangesResult, ChunkResult, KeyRange, ReadResult, RestampRule, Store, StreamState } from './store.js';
import { ChangesCollector, collapseBelowHorizon, compareVersions, type ChainedVersion, decodeApply, planApply, restampKey, restampRuleId, sortedMap, type Version } from './version.js';

/** Byte order of keys kept as latin1 strings (one char per byte, so `<` is byte-wise order). */
type KeyId = string;

function keyId(key: Buffer): KeyId {
  return key.toString('latin1');
}

/** A version in its chain, and its original ts when re-stamped (the ts of its change entry). */
export type ChainEntry = ChainedVersion;

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

/** Change-index order within one origin: (ts, key), as LevelStore's 'o' keys sort. */
function compareChanges(a: Version, b: Version): number {
  return compareGlt(a.ts, b.ts) || Buffer.compare(a.key, b.key);
}

/** Byte order of origins (UTF-8), as esc(origin) sorts. */
function compareOrigins(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

/**
 * What a MemoryStore keeps "on disk": hand it to a new MemoryStore to simulate a
 * restart. Everything a resolved call wrote is here (memory writes are synchronous), the
 * same entries LevelStore keeps (keys.ts).
 */
export class MemoryDisk {
  /** Version chains by key, newest first (descending compareVersions). */
  readonly chains = new Map<KeyId, ChainEntry[]>();
  /** Keys that have a chain, in byte order. */
  readonly keys: KeyId[] = [];
  /** The change index: per origin, every version held at its original ts, in (ts, key) order. */
  readonly changes = new Map<string, Version[]>();
  /** The hidden set: per key, in (ts, origin) order. */
  readonly hidden = new Map<KeyId, Version[]>();
  /** Keys that have hidden versions, in byte order. */
  readonly hiddenKeys: KeyId[] = [];
  readonly applied = new Map<string, Glt>();
  /** Origin → hide bound: its versions above it go to the hidden set. */
  readonly hideRules = new Map<string, Glt>();
  appliedFloor: Glt = GLT_ZERO;
  frontier: Glt = GLT_ZERO;
  membershipApplied = 0;
  epoch = 0n;
  /** The greatest timestamp this node stamped. */
  stamped: Glt = GLT_ZERO;
  /** The greatest closed mark returned: no stamp after a restart may fall at or below it. */
  ceiling: Glt = GLT_ZERO;
  /** The GC horizon: never moves back. */
  horizon: Glt = GLT_ZERO;

  /** The floor a reopening store's clock starts from: no stamp may repeat or fall ≤ a closed mark. */
  floor(): Glt {
    return maxGlt(maxGlt(this.ceiling, this.stamped), this.horizon);
  }
}

export interface MemoryStoreOptions {
  readonly origin: string;
  /** The node's clock, built by the store floored at `disk.floor()` (a simulator restarts a node only after its physical clock passed it). */
  readonly clock: Omit<ClockOptions, 'floor'>;
  /** The state of a previous store of this node (a restart); a fresh one when omitted. */
  readonly disk?: MemoryDisk;
}

/**
 * The Store in memory, for the deterministic simulator: same semantics as LevelStore
 * (both pass test/datanode/conformance.ts), synchronous underneath (no timers, no I/O):
 * every call has done all of its work when it returns its promise.
 */
export class MemoryStore implements Store {
  readonly origin: string;
  readonly clock: Clock;
  readonly disk: MemoryDisk;
  /** open → shut, once; every call on a shut store fails STORE_CLOSED. */
  private state: 'open' | 'shut' = 'open';
  private readonly ownWriteListeners = new Set<() => void>();
  /** Hidden versions per origin, counted when the store opens. */
  private readonly hiddenByOrigin = new Map<string, number>();
  /** Per hidden origin, where `hide` stopped (the last change entry it looked at), for its bound. */
  private readonly hideCursors = new Map<string, { readonly bound: Glt; readonly after: Version }>();
  /** Where `restamp` of a rule stopped in the hidden set: the next key to look at. */
  private restampCursor: { readonly rule: string; readonly next: KeyId } | undefined;

  constructor(options: MemoryStoreOptions) {
    checkOrigin(options.origin);
    this.origin = options.origin;
    this.disk = options.disk ?? new MemoryDisk();
    this.clock = new Clock({ ...options.clock, floor: this.disk.floor() });
    for (const versions of this.disk.hidden.values()) for (const v of versions) this.countHidden(v.origin, 1);
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

  scan(range: KeyRange, t: Glt, limit?: number): AsyncIterable<ReadResult> {
    return this.scanChains(range, t, limit);
  }

  /** Key by key as the consumer pulls; resumes after the last key yielded, so writes in between do not upset it. */
  private async *scanChains(range: KeyRange, t: Glt, limit: number | undefined): AsyncGenerator<ReadResult> {
    this.checkOpen();
    checkLimit(limit);
    checkReadable(t, this.disk.horizon);
    let left = limit ?? Infinity;
    let inRange: (id: KeyId) => boolean;
    let next: (id: KeyId) => boolean;
    if ('prefix' in range) {
      const p = keyId(range.prefix);
      next = (id) => id < p;
      inRange = (id) => id.startsWith(p);
    } else {
      const lo = keyId(range.start);
      const hi = range.end === undefined ? undefined : keyId(range.end);
      next = (id) => id < lo;
      inRange = (id) => hi === undefined || id < hi;
    }
    while (left > 0) {
      this.checkOpen();
      const keys = this.disk.keys;
      const i = lowerBound(keys, next);
      if (i >= keys.length || !inRange(keys[i]!)) return;
      const id = keys[i]!;
      next = (x) => x <= id;
      const w = winner(this.disk.chains.get(id)!, t);
      if (!w) continue;
      yield w;
      checkReadable(t, this.disk.horizon);
      left--;
    }
  }

  async closedMark(): Promise<Glt> {
    this.checkOpen();
    // Every write stamped so far is already on the disk; the mark itself is the ceiling.
    const c = this.clock.stamp();
    this.disk.ceiling = maxGlt(this.disk.ceiling, c);
    return c;
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
    const log = this.disk.changes.get(origin) ?? [];
    const read = new ChangesCollector(maxBytes);
    for (let i = lowerBound(log, (v) => compareGlt(v.ts, from) <= 0); i < log.length && compareGlt(log[i]!.ts, to) <= 0; i++) {
      if (!read.add(log[i]!)) break;
    }
    return read.result(to);
  }

  async origins(): Promise<string[]> {
    this.checkOpen();
    return [...this.disk.changes.keys()].sort(compareOrigins);
  }

  async apply(request: ApplyRequest): Promise<number> {
    this.checkOpen();
    const decoded = decodeApply(request);
    this.fence(decoded.epoch);
    const plan = planApply(decoded, { applied: this.disk.applied, appliedFloor: this.disk.appliedFloor, hideRules: this.disk.hideRules, horizon: this.disk.horizon });
    // Decide first, then write: what is dropped below the horizon is judged on the chains as they were.
    const dropped: ChainEntry[] = [];
    const kept: Version[] = [];
    for (const incoming of plan.belowHorizon.values()) {
      const c = collapseBelowHorizon(atOrBelow(this.disk.chains.get(keyId(incoming[0]!.key)) ?? [], plan.horizon), incoming, this.disk.hideRules);
      dropped.push(...c.dropped);
      if (c.kept) kept.push(c.kept);
    }
    this.disk.horizon = plan.horizon;
    for (const e of dropped) this.drop(e);
    for (const v of plan.hidden) this.insertHidden(copy(v));
    for (const v of [...plan.chained, ...kept]) this.insertChained(copy(v), undefined);
    for (const [region, at] of plan.applied) this.disk.applied.set(region, maxGlt(at, this.disk.applied.get(region) ?? GLT_ZERO));
    if (decoded.frontier) this.disk.frontier = maxGlt(this.disk.frontier, decoded.frontier);
    return plan.hidden.length + plan.chained.length + kept.length;
  }

  async streamState(): Promise<StreamState> {
    this.checkOpen();
    const d = this.disk;
    return { applied: sortedMap(d.applied), appliedFloor: d.appliedFloor, frontier: d.frontier, membershipApplied: d.membershipApplied, epoch: d.epoch, horizon: d.horizon };
  }

  async hide(epoch: bigint, origins: readonly string[], above: Glt, limit: number): Promise<ChunkResult> {
    this.checkOpen();
    checkEpoch(epoch);
    for (const o of origins) checkOrigin(o);
    checkGlt(above.wall, above.logical);
    checkChunkLimit(limit);
    this.fence(epoch);
    let budget = limit;
    let done = true;
    let moved = 0;
    for (const o of origins) {
      // A second exclusion of an origin still hidden keeps the lower bound: hiding more is safe, showing more is not.
      const existing = this.disk.hideRules.get(o);
      this.disk.hideRules.set(o, existing ? minGlt(existing, above) : above);
    }
    for (const o of origins) {
      if (budget === 0) {
        done = false;
        break;
      }
      const bound = this.disk.hideRules.get(o)!;
      const cursor = this.hideCursors.get(o);
      const after = cursor && gltEquals(cursor.bound, bound) ? cursor.after : undefined;
      const log = this.disk.changes.get(o) ?? [];
      const start = lowerBound(log, after ? (v) => compareChanges(v, after) <= 0 : (v) => compareGlt(v.ts, bound) <= 0);
      const entries = log.slice(start, start + budget);
      budget -= entries.length;
      if (budget === 0) done = false;
      if (entries.length === 0) continue;
      for (const v of entries) {
        // Only a version still at its original ts in its chain moves (not one hidden already, nor re-stamped).
        const chain = this.disk.chains.get(keyId(v.key));
        const at = chain ? chain.findIndex((e) => e.orig === undefined && compareVersions(e.version, v) === 0) : -1;
        if (at < 0) continue;
        const e = chain![at]!;
        this.removeChained(e);
        this.insertHidden(e.version);
        moved++;
      }
      this.hideCursors.set(o, { bound, after: entries[entries.length - 1]! });
    }
    return { done, moved };
  }

  async restamp(epoch: bigint, rule: RestampRule, limit: number): Promise<ChunkResult> {
    this.checkOpen();
    checkEpoch(epoch);
    checkRestampRule(rule);
    checkChunkLimit(limit);
    this.fence(epoch);
    const origins = new Set(rule.origins);
    const ruleId = restampRuleId(rule);
    let left = [...origins].reduce((n, o) => n + (this.hiddenByOrigin.get(o) ?? 0), 0);
    let moved = 0;
    if (left > 0) {
      const keys = this.disk.hiddenKeys;
      const next = this.restampCursor?.rule === ruleId ? this.restampCursor.next : undefined;
      const start = next === undefined ? 0 : lowerBound(keys, (id) => id < next);
      const chunk = keys.slice(start, start + limit);
      for (const id of chunk) {
        // A key's hidden versions of the rule's origins, in (ts, origin) order: ranked together.
        const mine = this.disk.hidden.get(id)!.filter((v) => origins.has(v.origin));
        for (const { version, orig } of restampKey(mine, rule)) {
          this.removeHidden({ ...version, ts: orig ?? version.ts });
          this.insertChained(version, orig);
        }
        moved += mine.length;
      }
      left -= moved;
      const last = chunk[chunk.length - 1];
      const after = last === undefined ? undefined : keys[lowerBound(keys, (id) => id <= last)];
      // At the end of the hidden set with versions still hidden (they came in meanwhile): start over.
      this.restampCursor = after === undefined ? undefined : { rule: ruleId, next: after };
    }
    const done = left === 0;
    if (done) {
      for (const o of origins) {
        this.disk.hideRules.delete(o);
        this.hideCursors.delete(o);
      }
      this.restampCursor = undefined;
    }
    return { done, moved };
  }

  hiddenCount(): number {
    let n = 0;
    for (const c of this.hiddenByOrigin.values()) n += c;
    return n;
  }

  async setMembershipApplied(epoch: bigint, version: number): Promise<void> {
    this.checkOpen();
    checkEpoch(epoch);
    checkMembershipVersion(version);
    this.fence(epoch);
    this.disk.membershipApplied = Math.max(this.disk.membershipApplied, version);
  }

  async gc(horizon: Glt): Promise<number> {
    this.checkOpen();
    checkGcHorizon(horizon, this.clock.last());
    const old = this.disk.horizon;
    if (compareGlt(horizon, old) <= 0) return 0;
    this.disk.horizon = horizon;
    // Only keys with a version in (old, horizon] can have gained a collectable version.
    const keys = new Map<KeyId, Buffer>();
    for (const log of this.disk.changes.values()) {
      for (let i = lowerBound(log, (v) => compareGlt(v.ts, old) <= 0); i < log.length && compareGlt(log[i]!.ts, horizon) <= 0; i++) keys.set(keyId(log[i]!.key), log[i]!.key);
    }
    let dropped = 0;
    for (const id of keys.keys()) {
      const doomed = atOrBelow(this.disk.chains.get(id) ?? [], horizon).slice(1);
      for (const e of doomed) this.drop(e);
      dropped += doomed.length;
    }
    return dropped;
  }

  horizon(): Glt {
    return this.disk.horizon;
  }

  async shutdown(): Promise<void> {
    this.state = 'shut';
  }

  private checkOpen(): void {
    if (this.state !== 'open') throw storeClosedError(this.origin);
  }

  private fence(epoch: bigint): void {
    checkFence(epoch, this.disk.epoch);
    if (epoch > this.disk.epoch) this.disk.epoch = epoch;
  }

  private countHidden(origin: string, n: number): void {
    const total = (this.hiddenByOrigin.get(origin) ?? 0) + n;
    assert(total >= 0, 'the hidden count of an origin went below zero');
    if (total === 0) this.hiddenByOrigin.delete(origin);
    else this.hiddenByOrigin.set(origin, total);
  }

  /** While this node's own origin is hidden (its region excluded), its writes above the bound go to the hidden set. */
  private writeLocal(key: Buffer, value: Buffer | null): Version {
    const v: Version = { key: Buffer.from(key), value, ts: this.clock.stamp(), origin: this.origin };
    this.disk.stamped = maxGlt(this.disk.stamped, v.ts);
    const bound = this.disk.hideRules.get(this.origin);
    if (bound && compareGlt(v.ts, bound) > 0) this.insertHidden(v);
    else this.insertChained(v, undefined);
    for (const l of this.ownWriteListeners) l();
    return v;
  }

  /** A version into its chain (at `version.ts`) and the change index (at `orig`, else the same ts); replaces an equal one. */
  private insertChained(version: Version, orig: Glt | undefined): void {
    const id = keyId(version.key);
    let chain = this.disk.chains.get(id);
    if (!chain) {
      chain = [];
      this.disk.chains.set(id, chain);
      this.disk.keys.splice(lowerBound(this.disk.keys, (k) => k < id), 0, id);
    }
    const at = lowerBound(chain, (x) => compareVersions(x.version, version) > 0);
    const same = at < chain.length && compareVersions(chain[at]!.version, version) === 0;
    chain.splice(at, same ? 1 : 0, { version, orig });
    this.indexChange(orig === undefined ? version : { ...version, ts: orig });
  }

  private removeChained(e: ChainEntry): void {
    const id = keyId(e.version.key);
    const chain = this.disk.chains.get(id);
    assert(chain, 'removing a version of a key without a chain');
    const at = lowerBound(chain, (x) => compareVersions(x.version, e.version) > 0);
    assert(at < chain.length && compareVersions(chain[at]!.version, e.version) === 0, 'removing a version not in its chain');
    chain.splice(at, 1);
    if (chain.length === 0) {
      this.disk.chains.delete(id);
      this.disk.keys.splice(lowerBound(this.disk.keys, (k) => k < id), 1);
    }
  }

  /** A collected chain entry: out of its chain and out of the change index. */
  private drop(e: ChainEntry): void {
    this.removeChained(e);
    const log = this.disk.changes.get(e.version.origin);
    const orig = { ...e.version, ts: e.orig ?? e.version.ts };
    assert(log, 'a chained version has a change entry');
    const at = lowerBound(log, (x) => compareChanges(x, orig) < 0);
    assert(at < log.length && compareChanges(log[at]!, orig) === 0, 'a chained version has a change entry');
    log.splice(at, 1);
    if (log.length === 0) this.disk.changes.delete(e.version.origin);
  }

  private insertHidden(v: Version): void {
    const id = keyId(v.key);
    let list = this.disk.hidden.get(id);
    if (!list) {
      list = [];
      this.disk.hidden.set(id, list);
      this.disk.hiddenKeys.splice(lowerBound(this.disk.hiddenKeys, (k) => k < id), 0, id);
    }
    const at = lowerBound(list, (x) => compareVersions(x, v) < 0);
    const same = at < list.length && compareVersions(list[at]!, v) === 0;
    list.splice(at, same ? 1 : 0, v);
    if (!same) this.countHidden(v.origin, 1);
    this.indexChange(v);
  }

  private removeHidden(v: Version): void {
    const id = keyId(v.key);
    const list = this.disk.hidden.get(id);
    assert(list, 'removing a hidden version of a key without any');
    const at = lowerBound(list, (x) => compareVersions(x, v) < 0);
    assert(at < list.length && compareVersions(list[at]!, v) === 0, 'removing a version not hidden');
    list.splice(at, 1);
    this.countHidden(v.origin, -1);
    if (list.length === 0) {
      this.disk.hidden.delete(id);
      this.disk.hiddenKeys.splice(lowerBound(this.disk.hiddenKeys, (k) => k < id), 1);
    }
  }

  /** The change entry of a version at its original ts; replaces an equal one (a blind put). */
  private indexChange(v: Version): void {
    let log = this.disk.changes.get(v.origin);
    if (!log) this.disk.changes.set(v.origin, (log = []));
    const at = lowerBound(log, (x) => compareChanges(x, v) < 0);
    const same = at < log.length && compareChanges(log[at]!, v) === 0;
    log.splice(at, same ? 1 : 0, v);
  }
}

/** The caller may reuse its buffers (a decoded batch is a view into the caller's). */
function copy(v: Version): Version {
  return { key: Buffer.from(v.key), value: v.value === null ? null : Buffer.from(v.value), ts: v.ts, origin: v.origin };
}

/** A chain's entries with ts ≤ t, newest first. */
function atOrBelow(chain: readonly ChainEntry[], t: Glt): ChainEntry[] {
  return chain.filter((e) => compareGlt(e.version.ts, t) <= 0);
}

/** The LWW winner ≤ t of a chain (newest first); undefined when none or a tombstone. */
function winner(chain: readonly ChainEntry[], t: Glt): ReadResult | undefined {
  const e = chain.find((x) => compareGlt(x.version.ts, t) <= 0);
  return e && e.version.value !== null ? (e.version as ReadResult) : undefined;
}
