import test from 'ava';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { AetherError } from '../../common/errors.js';
import { Clock } from '../../glts/clock.js';
import { GLT_MAX, GLT_ZERO, LOGICAL_MAX, compareGlt, minGlt, compareVersionOrder, formatGlt, type Glt } from '../../glts/glt.js';
import { LevelStore } from '../../datanode/level-store.js';
import { MemoryStore } from '../../datanode/memory-store.js';
import type { KeyRange, Store } from '../../datanode/store.js';
import type { Version } from '../../datanode/version.js';

/**
 * Both stores against a plain model — a flat list of versions and a horizon, every
 * answer computed by brute force — over random interleavings of every Store operation.
 */

const ORIGIN = 'node-b';
const MS = 1_000_000n;
const START_NS = 1_763_751_000_000_000_000n;

class Model {
  versions: Version[] = [];
  horizon: Glt = GLT_ZERO;

  private same(a: Version, b: Version): boolean {
    return a.key.equals(b.key) && compareVersionOrder(a.ts, a.origin, b.ts, b.origin) === 0;
  }

  add(v: Version): void {
    if (this.versions.some((x) => this.same(x, v))) return;
    this.versions.push(v);
    if (compareGlt(v.ts, this.horizon) <= 0) this.collect(v.key, this.horizon);
  }

  remove(v: Version): void {
    this.versions = this.versions.filter((x) => !this.same(x, v));
  }

  private winner(key: Buffer, t: Glt): Version | undefined {
    let best: Version | undefined;
    for (const v of this.versions) {
      if (!v.key.equals(key) || compareGlt(v.ts, t) > 0) continue;
      if (!best || compareVersionOrder(v.ts, v.origin, best.ts, best.origin) > 0) best = v;
    }
    return best;
  }

  get(key: Buffer, t: Glt): Version | undefined | 'SNAPSHOT_COLLECTED' {
    if (compareGlt(t, this.horizon) < 0) return 'SNAPSHOT_COLLECTED';
    const w = this.winner(key, t);
    return w && w.value !== null ? w : undefined;
  }

  scan(range: KeyRange, t: Glt, limit: number | undefined): Version[] | 'SNAPSHOT_COLLECTED' {
    if (compareGlt(t, this.horizon) < 0) return 'SNAPSHOT_COLLECTED';
    const inRange = (k: Buffer) =>
      'prefix' in range
        ? k.subarray(0, range.prefix.length).equals(range.prefix)
        : Buffer.compare(k, range.start) >= 0 && (range.end === undefined || Buffer.compare(k, range.end) < 0);
    const keys = [...new Map(this.versions.filter((v) => inRange(v.key)).map((v) => [v.key.toString('hex'), v.key])).values()].sort(Buffer.compare);
    const out = keys.map((k) => this.get(k, t) as Version | undefined).filter((v): v is Version => v !== undefined);
    return out.slice(0, limit ?? out.length);
  }

  changes(from: Glt, to: Glt, origin: string | undefined, limit: number | undefined): Version[] {
    const out = this.versions
      .filter((v) => compareGlt(v.ts, from) > 0 && compareGlt(v.ts, to) <= 0 && (origin === undefined || v.origin === origin))
      .sort((a, b) => compareVersionOrder(a.ts, a.origin, b.ts, b.origin) || Buffer.compare(a.key, b.key));
    return out.slice(0, limit ?? out.length);
  }

  private collect(key: Buffer, h: Glt): number {
    const newest = this.winner(key, h);
    if (!newest) return 0;
    const doomed = this.versions.filter((v) => v.key.equals(key) && compareGlt(v.ts, h) <= 0 && v !== newest);
    for (const v of doomed) this.remove(v);
    return doomed.length;
  }

  gc(h: Glt): number {
    if (compareGlt(h, this.horizon) <= 0) return 0;
    this.horizon = h;
    const keys = [...new Map(this.versions.map((v) => [v.key.toString('hex'), v.key])).values()];
    return keys.reduce((n, k) => n + this.collect(k, h), 0);
  }
}

// ---- operations

/** A timestamp chosen relative to what exists, so reads, gc and restamp hit the interesting boundaries. */
type TsPick = { readonly kind: 'existing'; readonly index: number; readonly dLogical: -1 | 0 | 1 } | { readonly kind: 'near'; readonly dMs: number; readonly logical: number } | { readonly kind: 'max' } | { readonly kind: 'zero' };

type Op =
  | { readonly op: 'put'; readonly key: number; readonly value: number }
  | { readonly op: 'delete'; readonly key: number }
  | { readonly op: 'get'; readonly key: number; readonly t: TsPick }
  | { readonly op: 'scan'; readonly range: number; readonly t: TsPick; readonly limit: number | undefined }
  | { readonly op: 'changes'; readonly from: TsPick; readonly to: TsPick; readonly origin: number; readonly limit: number | undefined }
  | { readonly op: 'remote'; readonly items: readonly { key: number; value: number | null; t: TsPick; origin: number }[] }
  | { readonly op: 'gc'; readonly t: TsPick }
  | { readonly op: 'restamp'; readonly t: TsPick }
  | { readonly op: 'tick'; readonly ms: number }
  | { readonly op: 'close'; readonly aheadMs: number }
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
/** Remote origins around ours in byte order, so equal (wall, logical) ties go both ways. */
const REMOTE_ORIGINS = ['node-a', 'node-c', 'node-bb'];
const ORIGINS = [...REMOTE_ORIGINS, ORIGIN];

const tsPick: fc.Arbitrary<TsPick> = fc.oneof(
  { weight: 5, arbitrary: fc.record({ kind: fc.constant('existing' as const), index: fc.nat(), dLogical: fc.constantFrom(-1 as const, 0 as const, 1 as const) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('near' as const), dMs: fc.integer({ min: -3, max: 3 }), logical: fc.integer({ min: 0, max: 3 }) }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'max' as const }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'zero' as const }) },
);
const keyIx = fc.nat({ max: KEYS.length - 1 });
const limit = fc.option(fc.nat({ max: 4 }), { nil: undefined });

const op: fc.Arbitrary<Op> = fc.oneof(
  { weight: 6, arbitrary: fc.record({ op: fc.constant('put' as const), key: keyIx, value: fc.nat({ max: 99 }) }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('delete' as const), key: keyIx }) },
  { weight: 4, arbitrary: fc.record({ op: fc.constant('get' as const), key: keyIx, t: tsPick }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('scan' as const), range: fc.nat({ max: RANGES.length - 1 }), t: tsPick, limit }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('changes' as const), from: tsPick, to: tsPick, origin: fc.integer({ min: -1, max: ORIGINS.length - 1 }), limit }) },
  {
    weight: 3,
    arbitrary: fc.record({
      op: fc.constant('remote' as const),
      items: fc.array(fc.record({ key: keyIx, value: fc.option(fc.nat({ max: 99 }), { nil: null }), t: tsPick, origin: fc.nat({ max: REMOTE_ORIGINS.length - 1 }) }), { minLength: 1, maxLength: 4 }),
    }),
  },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('gc' as const), t: tsPick }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('restamp' as const), t: tsPick }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('tick' as const), ms: fc.integer({ min: -2, max: 3 }) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('close' as const), aheadMs: fc.integer({ min: -5, max: 400 }) }) },
  { weight: 1, arbitrary: fc.constant({ op: 'reopen' as const }) },
);

interface Subject {
  store: Store;
  nowNs: bigint;
  reopen(): Promise<void>;
  dispose(): Promise<void>;
}

type MakeSubject = () => Promise<Subject>;

const makeMemory: MakeSubject = async () => {
  const { MemoryDisk } = await import('../../datanode/memory-store.js');
  const disk = new MemoryDisk();
  const s: Subject = {
    nowNs: START_NS,
    store: undefined as unknown as Store,
    reopen: async () => {
      await s.store.shutdown();
      s.store = new MemoryStore({ origin: ORIGIN, disk, clock: new Clock({ maxOffsetMs: 250, physicalNs: () => s.nowNs, floor: disk.floor() }) });
    },
    dispose: () => s.store.shutdown(),
  };
  s.store = new MemoryStore({ origin: ORIGIN, disk, clock: new Clock({ maxOffsetMs: 250, physicalNs: () => s.nowNs }) });
  return s;
};

const makeLevel: MakeSubject = async () => {
  const dir = await mkdtemp(join(tmpdir(), 'aetherflow-model-'));
  const open = () => LevelStore.open({ path: dir, origin: ORIGIN, clock: { maxOffsetMs: 250, physicalNs: () => s.nowNs }, maxBatchWrites: 3 });
  const s: Subject = {
    nowNs: START_NS,
    store: undefined as unknown as Store,
    reopen: async () => {
      await s.store.shutdown();
      s.store = await open();
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

async function run(make: MakeSubject, ops: readonly Op[]): Promise<void> {
  const s = await make();
  const model = new Model();
  const resolve = (p: TsPick): Glt => {
    switch (p.kind) {
      case 'max':
        return GLT_MAX;
      case 'zero':
        return GLT_ZERO;
      case 'near':
        return { wall: s.nowNs + BigInt(p.dMs) * MS, logical: p.logical };
      case 'existing': {
        const v = model.versions[p.index % Math.max(1, model.versions.length)];
        if (!v) return { wall: s.nowNs, logical: 1 };
        const logical = v.ts.logical + p.dLogical;
        return { wall: v.ts.wall, logical: Math.min(LOGICAL_MAX, Math.max(0, logical)) };
      }
    }
  };
  try {
    for (const o of ops) {
      switch (o.op) {
        case 'put':
        case 'delete': {
          const key = KEYS[o.key]!;
          const v = o.op === 'put' ? await s.store.put(key, Buffer.from([o.value])) : await s.store.delete(key);
          const mine = model.versions.filter((x) => x.origin === ORIGIN);
          assert.ok(mine.every((x) => compareGlt(v.ts, x.ts) > 0), 'a local stamp is above every earlier local one');
          model.add(v);
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
          assert.deepEqual(await outcome(s.store.scan(RANGES[o.range]!, t, o.limit), (rs) => rs.map(norm)), typeof m === 'string' ? m : m.map(norm));
          break;
        }
        case 'changes': {
          const from = resolve(o.from);
          const to = resolve(o.to);
          const origin = o.origin < 0 ? undefined : ORIGINS[o.origin];
          const options = { ...(origin === undefined ? {} : { origin }), ...(o.limit === undefined ? {} : { limit: o.limit }) };
          assert.deepEqual((await s.store.changes(from, to, options)).map(norm), model.changes(from, to, origin, o.limit).map(norm));
          break;
        }
        case 'remote': {
          const vs: Version[] = o.items.map((i) => ({ key: KEYS[i.key]!, value: i.value === null ? null : Buffer.from([i.value]), ts: resolve(i.t), origin: REMOTE_ORIGINS[i.origin]! }));
          // The model keeps the first of duplicates, as the stores do.
          await s.store.applyRemote(vs);
          for (const v of vs) model.add(v);
          break;
        }
        case 'gc': {
          // Horizons stay within the clock's reach (gc advances the clock past them), as a frontier minus retention does.
          const h = minGlt(resolve(o.t), { wall: s.nowNs + 3n * MS, logical: 0 });
          assert.equal(await s.store.gc(h), model.gc(h));
          assert.deepEqual(s.store.horizon(), model.horizon);
          break;
        }
        case 'restamp': {
          const after = resolve(o.t);
          const old = model.changes(after, GLT_MAX, ORIGIN, undefined);
          const moved = await s.store.restamp(after);
          assert.deepEqual(moved.map((v) => `${v.key.toString('hex')}=${v.value?.toString('hex')}/${v.origin}`), old.map((v) => `${v.key.toString('hex')}=${v.value?.toString('hex')}/${v.origin}`));
          const ownTop = model.versions.filter((v) => v.origin === ORIGIN).reduce((m, v) => (compareGlt(v.ts, m) > 0 ? v.ts : m), GLT_ZERO);
          for (const v of old) model.remove(v);
          let prev = ownTop;
          for (const v of moved) {
            assert.ok(compareGlt(v.ts, prev) > 0, 'restamped above every own stamp, in order');
            prev = v.ts;
            model.add(v);
          }
          break;
        }
        case 'tick':
          s.nowNs += BigInt(o.ms) * MS;
          break;
        case 'close': {
          const t = { wall: s.nowNs + BigInt(o.aheadMs) * MS, logical: 0 };
          await s.store.close(t);
          const v = await s.store.put(KEYS[0]!, Buffer.from('after-close'));
          assert.ok(compareGlt(v.ts, t) > 0, 'a write after close(T) is stamped above T');
          model.add(v);
          break;
        }
        case 'reopen':
          await s.reopen();
          break;
      }
    }
    assert.deepEqual((await s.store.changes(GLT_ZERO, GLT_MAX)).map(norm), model.changes(GLT_ZERO, GLT_MAX, undefined, undefined).map(norm));
  } finally {
    await s.dispose();
  }
}

for (const [name, make, numRuns] of [
  ['MemoryStore', makeMemory, 150],
  ['LevelStore', makeLevel, 40],
] as const) {
  test(`${name} behaves as the model over random interleavings of every operation`, async (t) => {
    await fc.assert(
      fc.asyncProperty(fc.array(op, { minLength: 1, maxLength: 60 }), (ops) => run(make, ops)),
      { numRuns },
    );
    t.pass();
  });
}
