import test from 'ava';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { AetherError } from '../../common/errors.js';
import { GLT_MAX, GLT_ZERO, LOGICAL_MAX, compareGlt, compareVersionOrder, formatGlt, maxGlt, minGlt, type Glt } from '../../glts/glt.js';
import { decodeVersions, encodeVersions, entryBytes } from '../../datanode/delta.js';
import { LevelStore } from '../../datanode/level-store.js';
import { MemoryDisk, MemoryStore } from '../../datanode/memory-store.js';
import type { ApplyBatch, KeyRange } from '../../datanode/store.js';
import type { Version } from '../../datanode/version.js';
import { collect, type TestStore } from './conformance.js';
import { chainLine, changeLine, diskEntries, dirEntries, hiddenLine, type StoreEntries } from './entries.js';

/**
 * Both stores against a plain model — a flat list of the versions held (in a chain or
 * hidden, at their chain ts and original ts) and the stream state, every answer computed
 * by brute force — over random interleavings of every Store operation.
 */

const ORIGIN = 'node-b';
const MS = 1_000_000n;
const START_NS = 1_763_751_000_000_000_000n;

/** A version the model holds. `ts` is where it sits (its chain ts once re-stamped); `orig` its original ts when re-stamped. */
interface Held extends Version {
  readonly orig?: Glt;
  readonly hidden: boolean;
}

const origTs = (v: Held) => v.orig ?? v.ts;
const sameChain = (a: Version, b: Version) => a.key.equals(b.key) && compareVersionOrder(a.ts, a.origin, b.ts, b.origin) === 0;
const newestFirst = (a: Version, b: Version) => -compareVersionOrder(a.ts, a.origin, b.ts, b.origin);

class Model {
  held: Held[] = [];
  horizon: Glt = GLT_ZERO;
  applied = new Map<string, Glt>();
  frontier: Glt = GLT_ZERO;
  epoch = 0n;
  membershipApplied = 0;
  hideRules = new Map<string, Glt>();

  private chain(key: Buffer): Held[] {
    return this.held.filter((v) => !v.hidden && v.key.equals(key)).sort(newestFirst);
  }

  get(key: Buffer, t: Glt): Version | undefined | 'SNAPSHOT_COLLECTED' {
    if (compareGlt(t, this.horizon) < 0) return 'SNAPSHOT_COLLECTED';
    const w = this.chain(key).find((v) => compareGlt(v.ts, t) <= 0);
    return w && w.value !== null ? w : undefined;
  }

  scan(range: KeyRange, t: Glt, limit: number | undefined): Version[] | 'SNAPSHOT_COLLECTED' {
    if (compareGlt(t, this.horizon) < 0) return 'SNAPSHOT_COLLECTED';
    const inRange = (k: Buffer) =>
      'prefix' in range ? k.subarray(0, range.prefix.length).equals(range.prefix) : Buffer.compare(k, range.start) >= 0 && (range.end === undefined || Buffer.compare(k, range.end) < 0);
    const keys = [...new Map(this.held.filter((v) => !v.hidden && inRange(v.key)).map((v) => [v.key.toString('hex'), v.key])).values()].sort(Buffer.compare);
    const out = keys.map((k) => this.get(k, t) as Version | undefined).filter((v): v is Version => v !== undefined);
    return out.slice(0, limit ?? out.length);
  }

  /** One origin's change entries in (from, to], cut after the entry that reaches maxBytes (and the rest of its ts). */
  changes(origin: string, from: Glt, to: Glt, maxBytes: number): { versions: Version[]; end: Glt } {
    const all = this.held
      .filter((v) => v.origin === origin && compareGlt(origTs(v), from) > 0 && compareGlt(origTs(v), to) <= 0)
      .map((v) => ({ key: v.key, value: v.value, ts: origTs(v), origin }))
      .sort((a, b) => compareGlt(a.ts, b.ts) || Buffer.compare(a.key, b.key));
    let bytes = 0;
    for (let i = 0; i < all.length; i++) {
      bytes += entryBytes(all[i]!);
      if (bytes >= maxBytes) {
        let j = i + 1;
        while (j < all.length && compareGlt(all[j]!.ts, all[i]!.ts) === 0) j++;
        return { versions: all.slice(0, j), end: all[i]!.ts };
      }
    }
    return { versions: all, end: to };
  }

  origins(): string[] {
    return [...new Set(this.held.map((v) => v.origin))].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
  }

  /** Puts a version (a blind write replaces an equal one where it lands). */
  private put(v: Held): void {
    this.held = this.held.filter((x) => !(x.hidden === v.hidden && sameChain(x, v)));
    this.held.push(v);
  }

  own(v: Version): void {
    const bound = this.hideRules.get(v.origin);
    this.put({ ...v, hidden: bound !== undefined && compareGlt(v.ts, bound) > 0 });
  }

  fenced(epoch: bigint): boolean {
    if (epoch < this.epoch) return true;
    this.epoch = epoch;
    return false;
  }

  apply(batches: readonly { region: string; to: Glt; versions: Version[]; horizon?: Glt }[], frontier: Glt | undefined): number {
    const fresh = new Map<string, Version>();
    for (const b of batches) {
      const held = this.applied.get(b.region) ?? GLT_ZERO;
      for (const v of b.versions) if (compareGlt(v.ts, held) > 0) fresh.set(`${v.key.toString('hex')}|${formatGlt(v.ts)}|${v.origin}`, v);
      if (b.horizon) this.horizon = maxGlt(this.horizon, b.horizon);
      this.applied.set(b.region, maxGlt(held, b.to));
    }
    let written = 0;
    const below = new Map<string, Version[]>();
    for (const v of fresh.values()) {
      const bound = this.hideRules.get(v.origin);
      if (bound && compareGlt(v.ts, bound) > 0) {
        this.put({ ...v, hidden: true });
        written++;
      } else if (compareGlt(v.ts, this.horizon) > 0) {
        this.put({ ...v, hidden: false });
        written++;
      } else below.set(v.key.toString('hex'), [...(below.get(v.key.toString('hex')) ?? []), v]);
    }
    for (const incoming of below.values()) {
      const stored = this.chain(incoming[0]!.key).filter((v) => compareGlt(v.ts, this.horizon) <= 0);
      const newest = [...stored, ...incoming].sort(newestFirst)[0]!;
      this.held = this.held.filter((x) => !(stored.includes(x) && !sameChain(x, newest)));
      if (incoming.includes(newest)) {
        this.put({ ...newest, hidden: false });
        written++;
      }
    }
    if (frontier) this.frontier = maxGlt(this.frontier, frontier);
    return written;
  }

  hide(origins: readonly string[], above: Glt): number {
    for (const o of origins) this.hideRules.set(o, minGlt(this.hideRules.get(o) ?? above, above));
    let moved = 0;
    this.held = this.held.map((v) => {
      const bound = this.hideRules.get(v.origin);
      if (v.hidden || v.orig || !origins.includes(v.origin) || !bound || compareGlt(v.ts, bound) <= 0) return v;
      moved++;
      return { ...v, hidden: true };
    });
    return moved;
  }

  restamp(origins: readonly string[], above: Glt, upTo: Glt, floor: Glt): number {
    const mine = this.held.filter((v) => v.hidden && origins.includes(v.origin));
    const rest = this.held.filter((v) => !mine.includes(v));
    const byKey = new Map<string, Held[]>();
    for (const v of mine) byKey.set(v.key.toString('hex'), [...(byKey.get(v.key.toString('hex')) ?? []), v]);
    for (const vs of byKey.values()) {
      vs.sort((a, b) => compareVersionOrder(a.ts, a.origin, b.ts, b.origin));
      let rank = 0;
      for (const v of vs) {
        if (compareGlt(v.ts, above) > 0 && compareGlt(v.ts, upTo) <= 0) rest.push({ ...v, ts: { wall: floor.wall, logical: floor.logical + ++rank }, orig: v.ts, hidden: false });
        else rest.push({ ...v, hidden: false });
      }
    }
    this.held = rest;
    for (const o of origins) this.hideRules.delete(o);
    return mine.length;
  }

  gc(h: Glt): number {
    if (compareGlt(h, this.horizon) <= 0) return 0;
    const old = this.horizon;
    this.horizon = h;
    const keys = new Map(this.held.filter((v) => compareGlt(origTs(v), old) > 0 && compareGlt(origTs(v), h) <= 0).map((v) => [v.key.toString('hex'), v.key]));
    let dropped = 0;
    for (const key of keys.values()) {
      const doomed = this.chain(key)
        .filter((v) => compareGlt(v.ts, h) <= 0)
        .slice(1);
      this.held = this.held.filter((v) => !doomed.includes(v));
      dropped += doomed.length;
    }
    return dropped;
  }

  entries(): StoreEntries {
    return {
      chains: this.held.filter((v) => !v.hidden).map((v) => chainLine(v, v.orig)).sort(),
      changes: this.held.map((v) => changeLine({ ...v, ts: origTs(v) })).sort(),
      hidden: this.held.filter((v) => v.hidden).map(hiddenLine).sort(),
    };
  }

  hiddenCount(): number {
    return this.held.filter((v) => v.hidden).length;
  }
}

// ---- operations

/** A timestamp chosen relative to what exists, so reads, gc and the membership jobs hit the interesting boundaries. */
type TsPick = { readonly kind: 'existing'; readonly index: number; readonly dLogical: -1 | 0 | 1 } | { readonly kind: 'near'; readonly dMs: number; readonly logical: number } | { readonly kind: 'max' } | { readonly kind: 'zero' };
/** An epoch relative to the highest seen: mostly the same, sometimes older (FENCED) or newer. */
type EpochPick = -1 | 0 | 1;

interface ApplyItem {
  readonly key: number;
  readonly value: number | null;
  readonly t: TsPick;
  readonly origin: number;
}

type Op =
  | { readonly op: 'put'; readonly key: number; readonly value: number }
  | { readonly op: 'delete'; readonly key: number }
  | { readonly op: 'get'; readonly key: number; readonly t: TsPick }
  | { readonly op: 'scan'; readonly range: number; readonly t: TsPick; readonly limit: number | undefined }
  | { readonly op: 'changes'; readonly origin: number; readonly from: TsPick; readonly to: TsPick; readonly maxBytes: number }
  | { readonly op: 'apply'; readonly epoch: EpochPick; readonly batches: readonly { region: number; items: readonly ApplyItem[]; toMs: number; horizon: TsPick | undefined }[]; readonly frontier: TsPick | undefined }
  | { readonly op: 'hide'; readonly epoch: EpochPick; readonly group: number; readonly above: TsPick; readonly limit: number }
  | { readonly op: 'restamp'; readonly epoch: EpochPick; readonly group: number; readonly above: TsPick; readonly upTo: TsPick; readonly floorMs: number; readonly limit: number }
  | { readonly op: 'membership'; readonly epoch: EpochPick; readonly version: number }
  | { readonly op: 'gc'; readonly t: TsPick }
  | { readonly op: 'tick'; readonly ms: number }
  | { readonly op: 'mark' }
  | { readonly op: 'reopen' };

/** Adversarial keys: empty, NUL and 0xff bytes, prefixes of each other. */
const KEYS = [[], [0], [0, 0], [0, 0xff], [0xff], [0xff, 0xff], [0x61], [0x61, 0], [0x61, 0x62], [0x61, 0x62, 0x63], [0x62]].map((k) => Buffer.from(k));
const RANGES: KeyRange[] = [
  { prefix: Buffer.alloc(0) },
  { prefix: Buffer.from([0]) },
  { prefix: Buffer.from([0x61]) },
  { prefix: Buffer.from([0xff]) },
  { start: Buffer.from([0]), end: Buffer.from([0x61, 0x62]) },
  { start: Buffer.from([0x61]) },
  { start: Buffer.alloc(0), end: Buffer.from([0]) },
];
/** Remote regions and their data nodes, around ours in byte order so equal (wall, logical) ties go both ways. */
const REGIONS = [
  { name: 'r1', origins: ['node-a'] },
  { name: 'r2', origins: ['node-c', 'node-bb'] },
];
/** Origin groups a membership job works on: each remote region, and this node's own origin. */
const GROUPS = [...REGIONS.map((r) => r.origins), [ORIGIN]];
const ORIGINS = [ORIGIN, ...REGIONS.flatMap((r) => r.origins)];

const tsPick: fc.Arbitrary<TsPick> = fc.oneof(
  { weight: 5, arbitrary: fc.record({ kind: fc.constant('existing' as const), index: fc.nat(), dLogical: fc.constantFrom(-1 as const, 0 as const, 1 as const) }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('near' as const), dMs: fc.integer({ min: -3, max: 3 }), logical: fc.integer({ min: 0, max: 3 }) }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'max' as const }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'zero' as const }) },
);
const epochPick = fc.constantFrom<EpochPick>(-1, 0, 0, 0, 0, 1);
const keyIx = fc.nat({ max: KEYS.length - 1 });
const limit = fc.option(fc.nat({ max: 4 }), { nil: undefined });
const applyItem = fc.record({ key: keyIx, value: fc.option(fc.nat({ max: 99 }), { nil: null }), t: tsPick, origin: fc.nat({ max: 1 }) });

const op: fc.Arbitrary<Op> = fc.oneof(
  { weight: 6, arbitrary: fc.record({ op: fc.constant('put' as const), key: keyIx, value: fc.nat({ max: 99 }) }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('delete' as const), key: keyIx }) },
  { weight: 4, arbitrary: fc.record({ op: fc.constant('get' as const), key: keyIx, t: tsPick }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('scan' as const), range: fc.nat({ max: RANGES.length - 1 }), t: tsPick, limit }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('changes' as const), origin: fc.nat({ max: ORIGINS.length - 1 }), from: tsPick, to: tsPick, maxBytes: fc.integer({ min: 0, max: 80 }) }) },
  {
    weight: 4,
    arbitrary: fc.record({
      op: fc.constant('apply' as const),
      epoch: epochPick,
      batches: fc.array(
        fc.record({
          region: fc.nat({ max: REGIONS.length - 1 }),
          items: fc.array(applyItem, { maxLength: 4 }),
          toMs: fc.integer({ min: 0, max: 2 }),
          horizon: fc.option(tsPick, { nil: undefined, freq: 8 }),
        }),
        { minLength: 1, maxLength: 2 },
      ),
      frontier: fc.option(tsPick, { nil: undefined }),
    }),
  },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('hide' as const), epoch: epochPick, group: fc.nat({ max: GROUPS.length - 1 }), above: tsPick, limit: fc.integer({ min: 1, max: 3 }) }) },
  {
    weight: 1,
    arbitrary: fc.record({ op: fc.constant('restamp' as const), epoch: epochPick, group: fc.nat({ max: GROUPS.length - 1 }), above: tsPick, upTo: tsPick, floorMs: fc.integer({ min: -2, max: 2 }), limit: fc.integer({ min: 1, max: 3 }) }),
  },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('membership' as const), epoch: epochPick, version: fc.nat({ max: 5 }) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('gc' as const), t: tsPick }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('tick' as const), ms: fc.integer({ min: -2, max: 3 }) }) },
  { weight: 1, arbitrary: fc.constant({ op: 'mark' as const }) },
  { weight: 1, arbitrary: fc.constant({ op: 'reopen' as const }) },
);

interface Subject {
  store: TestStore;
  nowNs: bigint;
  reopen(): Promise<void>;
  entries(): Promise<StoreEntries>;
  dispose(): Promise<void>;
}

type MakeSubject = () => Promise<Subject>;

const makeMemory: MakeSubject = async () => {
  const disk = new MemoryDisk();
  const open = () => new MemoryStore({ origin: ORIGIN, disk, clock: { maxOffsetMs: 250, physicalNs: () => s.nowNs } });
  const s: Subject = {
    nowNs: START_NS,
    store: undefined as unknown as TestStore,
    reopen: async () => {
      await s.store.shutdown();
      s.store = open();
    },
    entries: async () => diskEntries(disk),
    dispose: () => s.store.shutdown(),
  };
  s.store = open();
  return s;
};

const makeLevel: MakeSubject = async () => {
  const dir = await mkdtemp(join(tmpdir(), 'aetherflow-model-'));
  const open = () =>
    LevelStore.open({
      path: dir,
      origin: ORIGIN,
      clock: { maxOffsetMs: 250, physicalNs: () => s.nowNs },
      maxBatchWrites: 3,
      waitPhysical: async (ns) => void (s.nowNs += ns),
    });
  const s: Subject = {
    nowNs: START_NS,
    store: undefined as unknown as TestStore,
    reopen: async () => {
      await s.store.shutdown();
      s.store = await open();
    },
    entries: async () => {
      await s.store.shutdown();
      const e = await dirEntries(dir);
      s.store = await open();
      return e;
    },
    dispose: async () => {
      await s.store.shutdown();
      await rm(dir, { recursive: true, force: true });
    },
  };
  s.store = await open();
  return s;
};

const norm = (v: Version | undefined) => (v === undefined ? undefined : `${v.key.toString('hex')}=${v.value === null ? '∅' : v.value.toString('hex')}@${formatGlt(v.ts)}/${v.origin}`);

async function outcome<T>(p: Promise<T>, map: (x: T) => unknown): Promise<unknown> {
  try {
    return map(await p);
  } catch (err) {
    if (err instanceof AetherError) return err.code;
    throw err;
  }
}

/** Runs a chunked job to its end; FENCED (or any code) on its first call. */
async function settle(job: () => Promise<{ done: boolean; moved: number }>): Promise<number | string> {
  let moved = 0;
  for (let calls = 0; ; calls++) {
    assert.ok(calls < 1000, 'a chunked job never finishes');
    const r = await outcome(job(), (x) => x);
    if (typeof r === 'string') return r;
    const { done, moved: m } = r as { done: boolean; moved: number };
    moved += m;
    if (done) return moved;
  }
}

async function run(make: MakeSubject, ops: readonly Op[]): Promise<void> {
  const s = await make();
  const model = new Model();
  let lastOwn: Glt = GLT_ZERO;
  let lastMark: Glt = GLT_ZERO;
  let restamps = 0;
  const resolve = (p: TsPick): Glt => {
    switch (p.kind) {
      case 'max':
        return GLT_MAX;
      case 'zero':
        return GLT_ZERO;
      case 'near':
        return { wall: s.nowNs + BigInt(p.dMs) * MS, logical: p.logical };
      case 'existing': {
        const v = model.held[p.index % Math.max(1, model.held.length)];
        if (!v) return { wall: s.nowNs, logical: 1 };
        const t = p.index % 2 === 0 ? v.ts : origTs(v);
        return { wall: t.wall, logical: Math.min(LOGICAL_MAX, Math.max(0, t.logical + p.dLogical)) };
      }
    }
  };
  const epochOf = (p: EpochPick) => (model.epoch + BigInt(p) < 0n ? 0n : model.epoch + BigInt(p));
  try {
    for (const o of ops) {
      switch (o.op) {
        case 'put':
        case 'delete': {
          const key = KEYS[o.key]!;
          const v = o.op === 'put' ? await s.store.put(key, Buffer.from([o.value])) : await s.store.delete(key);
          assert.ok(compareGlt(v.ts, lastOwn) > 0, 'a local stamp is above every earlier local one');
          assert.ok(compareGlt(v.ts, lastMark) > 0, 'a local stamp is above every closed mark returned before');
          lastOwn = v.ts;
          model.own(v);
          break;
        }
        case 'get': {
          const t = resolve(o.t);
          const m = model.get(KEYS[o.key]!, t);
          assert.deepEqual(await outcome(s.store.get(KEYS[o.key]!, t), norm), typeof m === 'string' ? m : norm(m), `get at ${formatGlt(t)}`);
          break;
        }
        case 'scan': {
          const t = resolve(o.t);
          const m = model.scan(RANGES[o.range]!, t, o.limit);
          assert.deepEqual(await outcome(collect(s.store.scan(RANGES[o.range]!, t, o.limit)), (rs) => rs.map(norm)), typeof m === 'string' ? m : m.map(norm));
          break;
        }
        case 'changes': {
          const [from, to, origin] = [resolve(o.from), resolve(o.to), ORIGINS[o.origin]!];
          const got = await s.store.changes(origin, from, to, o.maxBytes);
          const want = model.changes(origin, from, to, o.maxBytes);
          assert.deepEqual({ versions: decodeVersions(got.versions).map(norm), end: got.end }, { versions: want.versions.map(norm), end: want.end });
          break;
        }
        case 'apply': {
          const epoch = epochOf(o.epoch);
          const batches = o.batches.map((b) => {
            const region = REGIONS[b.region]!;
            const versions: Version[] = b.items.map((i) => ({ key: KEYS[i.key]!, value: i.value === null ? null : Buffer.from([i.value]), ts: resolve(i.t), origin: region.origins[i.origin % region.origins.length]! }));
            // A batch covers its versions: `to` at or above every one of them.
            const top = versions.reduce((m, v) => maxGlt(m, v.ts), { wall: s.nowNs - 3n * MS, logical: 0 });
            const to = top.wall > GLT_MAX.wall - 3n * MS ? GLT_MAX : { wall: top.wall + BigInt(b.toMs) * MS, logical: top.logical };
            // A sender's GC horizon lies below the committed frontier, so below our clock (a reopened store floors its clock there).
            const horizon = b.horizon ? minGlt(resolve(b.horizon), { wall: s.nowNs, logical: 0 }) : undefined;
            return { region: region.name, to, versions, ...(horizon ? { horizon } : {}) };
          });
          const frontier = o.frontier ? resolve(o.frontier) : undefined;
          const request = { epoch, batches: batches.map((b): ApplyBatch => ({ ...b, versions: encodeVersions(b.versions) })), ...(frontier ? { frontier } : {}) };
          const got = await outcome(s.store.apply(request), (n) => n);
          assert.deepEqual(got, model.fenced(epoch) ? 'FENCED' : model.apply(batches, frontier));
          break;
        }
        case 'hide': {
          const epoch = epochOf(o.epoch);
          const origins = GROUPS[o.group]!;
          const above = resolve(o.above);
          const got = await settle(() => s.store.hide(epoch, origins, above, o.limit));
          assert.deepEqual(got, model.fenced(epoch) ? 'FENCED' : model.hide(origins, above));
          assert.equal(s.store.hiddenCount(), model.hiddenCount());
          break;
        }
        case 'restamp': {
          const epoch = epochOf(o.epoch);
          const origins = GROUPS[o.group]!;
          // A floor of its own per re-stamp (a committed GLT), so re-stamped versions never collide with others.
          const floor = { wall: s.nowNs + BigInt(o.floorMs) * MS, logical: 1000 * ++restamps };
          const rule = { origins, above: resolve(o.above), upTo: resolve(o.upTo), floor };
          const got = await settle(() => s.store.restamp(epoch, rule, o.limit));
          assert.deepEqual(got, model.fenced(epoch) ? 'FENCED' : model.restamp(origins, rule.above, rule.upTo, floor));
          assert.equal(s.store.hiddenCount(), model.hiddenCount());
          break;
        }
        case 'membership': {
          const epoch = epochOf(o.epoch);
          const got = await outcome(s.store.setMembershipApplied(epoch, o.version), () => 'ok');
          if (model.fenced(epoch)) assert.equal(got, 'FENCED');
          else {
            assert.equal(got, 'ok');
            model.membershipApplied = Math.max(model.membershipApplied, o.version);
          }
          break;
        }
        case 'gc': {
          const h = resolve(o.t);
          const got = await outcome(s.store.gc(h), (n) => n);
          assert.deepEqual(got, compareGlt(h, s.store.clock.last()) > 0 ? 'INVALID_ARGUMENT' : model.gc(h));
          assert.deepEqual(s.store.horizon(), model.horizon);
          break;
        }
        case 'tick':
          s.nowNs += BigInt(o.ms) * MS;
          break;
        case 'mark': {
          const c = await s.store.closedMark();
          assert.ok(compareGlt(c, lastOwn) > 0 && compareGlt(c, lastMark) > 0, 'a mark is above every earlier stamp and mark');
          lastMark = c;
          break;
        }
        case 'reopen':
          await s.reopen();
          break;
      }
    }
    const st = await s.store.streamState();
    const applied = new Map([...model.applied].sort(([a], [b]) => (a < b ? -1 : 1)));
    assert.deepEqual(st, { applied, appliedFloor: GLT_ZERO, frontier: model.frontier, membershipApplied: model.membershipApplied, epoch: model.epoch, horizon: model.horizon });
    assert.deepEqual(await s.store.origins(), model.origins());
    assert.equal(s.store.hiddenCount(), model.hiddenCount());
    assert.deepEqual(await s.entries(), model.entries());
  } finally {
    await s.dispose();
  }
}

for (const [name, make, numRuns] of [
  ['MemoryStore', makeMemory, 200],
  ['LevelStore', makeLevel, 50],
] as const) {
  test(`${name} behaves as the model over random interleavings of every operation`, async (t) => {
    await fc.assert(
      fc.asyncProperty(fc.array(op, { minLength: 1, maxLength: 60, size: 'max' }), (ops) => run(make, ops)),
      { numRuns },
    );
    t.pass();
  });
}
