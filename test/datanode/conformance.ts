import test from 'ava';
import type { ExecutionContext } from 'ava';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { AetherError } from '../../common/errors.js';
import type { Clock } from '../../glts/clock.js';
import { GLT_MAX, GLT_ZERO, compareGlt, glt, nextGlt, type Glt } from '../../glts/glt.js';
import { decodeVersions, encodeVersions, entryBytes, type VersionBatch } from '../../datanode/delta.js';
import type { ApplyBatch, ReadResult, RestampRule, Store } from '../../datanode/store.js';
import { compareVersions, type Version } from '../../datanode/version.js';
import { chainLine, type StoreEntries } from './entries.js';

/**
 * The contract of datanode/store.ts, as tests any Store implementation must pass.
 * `conformance(name, makeStore)` registers them with ava under `name`.
 */

/** A store of either kind: both build their node's clock and expose it. */
export type TestStore = Store & { readonly clock: Clock };

/** A store under test, with control of its node's physical clock and of restarts. */
export interface StoreHarness {
  store: TestStore;
  /** Moves the node's physical clock (ns; negative goes back). */
  advanceNs(ns: bigint): void;
  /** The node's physical clock now (ns). */
  physicalNs(): bigint;
  /** Clean restart on the same data: shuts the store down, reopens it, and sets `store`. */
  reopen(): Promise<TestStore>;
  /** Every entry on disk (a LevelStore is restarted to read them). */
  entries(): Promise<StoreEntries>;
  /** Shuts down and removes everything the harness created. */
  dispose(): Promise<void>;
}

/** Builds a fresh, empty store of node `origin` whose clock has maxOffsetMs 250. */
export type MakeStore = (origin: string) => Promise<StoreHarness>;

export const MAX_OFFSET_MS = 250;
const MS = 1_000_000n;
const ALL = 1 << 30;

const hex = (b: Buffer) => b.toString('hex');

const b = (s: string) => Buffer.from(s, 'utf8');
const str = (v: { value: Buffer | null } | undefined) => (v && v.value ? v.value.toString('utf8') : undefined);

export async function code(p: Promise<unknown> | (() => unknown)): Promise<string | undefined> {
  try {
    await (typeof p === 'function' ? p() : p);
    return undefined;
  } catch (err) {
    return err instanceof AetherError ? err.code : `foreign:${String(err)}`;
  }
}

export async function collect<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
}

export function remote(key: string, value: string | null, ts: Glt, origin: string): Version {
  return { key: b(key), value: value === null ? null : b(value), ts, origin };
}

export function batchOf(region: string, to: Glt, versions: readonly Version[], horizon?: Glt): ApplyBatch {
  return { region, to, versions: encodeVersions(versions), ...(horizon ? { horizon } : {}) };
}

/** Every change entry of `origin`, decoded. */
export async function allChanges(s: Store, origin: string, from: Glt = GLT_ZERO, to: Glt = GLT_MAX): Promise<Version[]> {
  const r = await s.changes(origin, from, to, ALL);
  assert.deepEqual(r.end, to);
  return decodeVersions(r.versions);
}

const keyAt = (vs: readonly Version[]) => vs.map((v) => `${v.key.toString('utf8')}@${v.origin}:${v.value === null ? '-' : v.value.toString('utf8')}`);
const tsOf = (vs: readonly { ts: Glt }[]) => vs.map((v) => v.ts);
const before = (t: Glt): Glt => (t.logical > 0 ? { wall: t.wall, logical: t.logical - 1 } : { wall: t.wall - 1n, logical: 0xffff_ffff });

export function conformance(name: string, makeStore: MakeStore): void {
  const it = (title: string, body: (t: ExecutionContext, h: StoreHarness) => Promise<void>) =>
    test(`${name}: ${title}`, async (t) => {
      const h = await makeStore('node-a');
      try {
        await body(t, h);
      } finally {
        await h.dispose();
      }
    });

  // ---- local writes and reads

  it('put stamps increasing versions of this origin, readable at and after their ts only', async (t, h) => {
    const s = h.store;
    const v1 = await s.put(b('k'), b('one'));
    const v2 = await s.put(b('k'), b('two'));
    t.is(v1.origin, 'node-a');
    t.true(compareGlt(v2.ts, v1.ts) > 0);
    t.deepEqual(v1.key, b('k'));
    t.is(str(await s.get(b('k'), v1.ts)), 'one');
    t.is(str(await s.get(b('k'), v2.ts)), 'two');
    t.is(await s.get(b('k'), before(v1.ts)), undefined);
    t.is(await s.get(b('other'), v2.ts), undefined);
    const r = await s.get(b('k'), GLT_MAX);
    t.deepEqual(r && { ts: r.ts, origin: r.origin }, { ts: v2.ts, origin: 'node-a' });
  });

  it('stamps run at real time: never ahead of the physical clock, on the physical reading once it moved', async (t, h) => {
    const s = h.store;
    let prev = GLT_ZERO;
    for (let i = 0; i < 30; i++) {
      if (i % 3 === 0) h.advanceNs(BigInt(i) * 1000n);
      const ts = i % 5 === 4 ? await s.closedMark() : (await s.put(b(`k${i % 4}`), b(`v${i}`))).ts;
      t.true(compareGlt(ts, prev) > 0, 'strictly increasing, closed marks included');
      t.true(ts.wall <= h.physicalNs(), 'not ahead of the physical clock');
      if (i % 3 === 0 && i > 0) t.is(ts.wall, h.physicalNs(), 'on the physical reading right after it moved');
      prev = ts;
    }
  });

  it('the caller may reuse its buffers after put and apply', async (t, h) => {
    const key = b('k');
    const value = b('vv');
    const v = await h.store.put(key, value);
    key.fill(0);
    value.fill(0);
    t.is(str(await h.store.get(b('k'), v.ts)), 'vv');
    const batch = batchOf('eu', v.ts, [remote('r', 'rv', before(v.ts), 'node-b')]);
    await h.store.apply({ epoch: 1n, batches: [batch] });
    batch.versions.raw.fill(0);
    t.is(str(await h.store.get(b('r'), v.ts)), 'rv');
  });

  it('delete writes a tombstone that hides the key from that ts on', async (t, h) => {
    const s = h.store;
    const v1 = await s.put(b('k'), b('one'));
    const d = await s.delete(b('k'));
    t.is(d.value, null);
    t.true(compareGlt(d.ts, v1.ts) > 0);
    t.is(await s.get(b('k'), d.ts), undefined);
    t.is(str(await s.get(b('k'), v1.ts)), 'one');
    t.deepEqual(await collect(s.scan({ prefix: b('') }, GLT_MAX)), []);
    const v3 = await s.put(b('k'), b('three'));
    t.is(str(await s.get(b('k'), v3.ts)), 'three');
  });

  it('equal (wall, logical) from different origins: the greater origin wins', async (t, h) => {
    const s = h.store;
    const ts = glt(h.physicalNs() - 1000n * MS, 7);
    const vs = [remote('k', 'from-b', ts, 'node-b'), remote('k', 'from-c', ts, 'node-c'), remote('k', 'from-ab', ts, 'node-ab')];
    t.is(await s.apply({ epoch: 1n, batches: [batchOf('eu', ts, vs)] }), 3);
    const r = await s.get(b('k'), ts);
    t.is(str(r), 'from-c');
    t.is(r?.origin, 'node-c');
  });

  it('scan: key order, prefix and [start, end) ranges, limit, tombstones skipped, at T', async (t, h) => {
    const s = h.store;
    for (const k of ['b/2', 'a/1', 'b/1', 'c', 'b/3', 'b']) await s.put(b(k), b(`v-${k}`));
    const mid = (await s.delete(b('b/2'))).ts;
    await s.put(b('b/4'), b('late'));
    const keys = async (it: AsyncIterable<ReadResult>) => (await collect(it)).map((r) => r.key.toString('utf8'));
    t.deepEqual(await keys(s.scan({ prefix: b('b/') }, mid)), ['b/1', 'b/3']);
    t.deepEqual(await keys(s.scan({ prefix: b('b') }, GLT_MAX)), ['b', 'b/1', 'b/3', 'b/4']);
    t.deepEqual(await keys(s.scan({ start: b('a/1'), end: b('b/3') }, GLT_MAX)), ['a/1', 'b', 'b/1']);
    t.deepEqual(await keys(s.scan({ start: b('b/3') }, GLT_MAX)), ['b/3', 'b/4', 'c']);
    t.deepEqual(await keys(s.scan({ prefix: b('') }, GLT_MAX, 2)), ['a/1', 'b']);
    t.deepEqual(await keys(s.scan({ prefix: b('') }, GLT_MAX, 0)), []);
    const all = await collect(s.scan({ prefix: b('') }, GLT_MAX));
    t.deepEqual(all.map((r) => str(r)), ['v-a/1', 'v-b', 'v-b/1', 'v-b/3', 'late', 'v-c']);
    t.is(await code(collect(s.scan({ prefix: b('') }, GLT_MAX, -1))), 'INVALID_ARGUMENT');
  });

  it('scan streams: results come as the consumer pulls, and a consumer that stops early releases the read', async (t, h) => {
    const s = h.store;
    await Promise.all(Array.from({ length: 2500 }, (_, i) => s.put(b(`k${String(i).padStart(5, '0')}`), b(`v${i}`))));
    const at = await s.closedMark();
    const it = s.scan({ prefix: b('k') }, at)[Symbol.asyncIterator]();
    const first = await it.next();
    t.is(first.done, false);
    t.is(first.value?.key.toString(), 'k00000');
    // A write between pulls does not upset the read (it is above `at`).
    await s.put(b('k00001'), b('later'));
    t.is(str((await it.next()).value), 'v1');
    await it.return?.();
    let n = 0;
    for await (const r of s.scan({ prefix: b('k') }, at)) {
      if (++n === 1500) {
        t.is(r.key.toString(), 'k01499');
        break;
      }
    }
    t.is((await collect(s.scan({ prefix: b('k') }, at))).length, 2500);
    t.is(await code(collect(s.scan({ prefix: b('k') }, at, 1.5))), 'INVALID_ARGUMENT');
  });

  it('adversarial keys: empty, 0x00 and 0xff bytes, prefixes of each other sort and scan byte-wise', async (t, h) => {
    const s = h.store;
    const raw = [[], [0], [0, 0], [0, 1], [0, 0xff], [1], [0xff], [0xff, 0], [0xff, 0xff], [0xff, 0xff, 0xff], [0x61], [0x61, 0], [0x61, 0x62], [0x61, 0xff]];
    const keys = raw.map((k) => Buffer.from(k));
    for (const k of [...keys].reverse()) await s.put(k, Buffer.concat([b('='), k]));
    const sorted = [...keys].sort(Buffer.compare);
    const all = await collect(s.scan({ prefix: Buffer.alloc(0) }, GLT_MAX));
    t.deepEqual(all.map((r) => hex(r.key)), sorted.map(hex));
    for (const r of all) t.deepEqual(r.value, Buffer.concat([b('='), r.key]));
    for (const p of keys) {
      const want = sorted.filter((k) => k.subarray(0, p.length).equals(p)).map(hex);
      t.deepEqual((await collect(s.scan({ prefix: p }, GLT_MAX))).map((r) => hex(r.key)), want, `prefix ${hex(p)}`);
      for (const e of keys) {
        const wantR = sorted.filter((k) => Buffer.compare(k, p) >= 0 && Buffer.compare(k, e) < 0).map(hex);
        t.deepEqual((await collect(s.scan({ start: p, end: e }, GLT_MAX))).map((r) => hex(r.key)), wantR, `range ${hex(p)}..${hex(e)}`);
      }
      t.deepEqual((await s.get(p, GLT_MAX))?.value, Buffer.concat([b('='), p]));
    }
  });

  it('concurrent writes all resolve with distinct increasing stamps and are all readable', async (t, h) => {
    const s = h.store;
    const vs = await Promise.all(Array.from({ length: 200 }, (_, i) => (i % 10 === 9 ? s.delete(b(`k${i % 17}`)) : s.put(b(`k${i % 17}`), b(`v${i}`)))));
    t.deepEqual([...vs].sort(compareVersions), vs, 'stamped in call order');
    for (let i = 1; i < vs.length; i++) t.true(compareGlt(vs[i]!.ts, vs[i - 1]!.ts) > 0);
    t.is((await allChanges(s, 'node-a')).length, 200);
    for (let k = 0; k < 17; k++) {
      const last = [...vs].reverse().find((v) => v.key.equals(b(`k${k}`)));
      t.deepEqual((await s.get(b(`k${k}`), GLT_MAX))?.value, last?.value ?? undefined);
    }
  });

  it('onOwnWrites: called after each batch of own writes, once they are in the change index; unsubscribe stops it', async (t, h) => {
    const s = h.store;
    let durable: Promise<number> | undefined;
    const off = s.onOwnWrites(() => void (durable ??= allChanges(s, 'node-a').then((vs) => vs.length)));
    let calls = 0;
    const off2 = s.onOwnWrites(() => calls++);
    await s.put(b('a'), b('1'));
    t.is(calls, 1, 'called by the time the write resolves');
    t.is(await durable, 1);
    await Promise.all([s.put(b('b'), b('2')), s.delete(b('a'))]);
    t.true(calls === 2 || calls === 3, 'once per batch');
    off();
    off2();
    const before = calls;
    await s.put(b('c'), b('3'));
    t.is(calls, before);
    const off3 = s.onOwnWrites(() => calls++);
    await s.apply({ epoch: 1n, batches: [batchOf('eu', GLT_MAX, [remote('r', 'x', glt(1n), 'node-b')])] });
    t.is(calls, before, 'applies are not own writes');
    off3();
  });

  // ---- closed marks and the ceiling

  it('closedMark is ≥ every acknowledged stamp, and every write after it is stamped above it', async (t, h) => {
    const s = h.store;
    const acked: Version[] = [];
    const pending = Array.from({ length: 300 }, (_, i) => s.put(b(`k${i}`), b(`v${i}`)).then((v) => (acked.push(v), v)));
    await new Promise((r) => setImmediate(r));
    const ackedBefore = acked.length;
    const c = await s.closedMark();
    for (const v of acked.slice(0, ackedBefore)) t.true(compareGlt(v.ts, c) <= 0);
    // Every own write stamped ≤ c is in the change index once the mark is returned.
    const upToC = await allChanges(s, 'node-a', GLT_ZERO, c);
    const all = await Promise.all(pending);
    t.deepEqual(upToC.map((v) => v.key.toString()), all.filter((v) => compareGlt(v.ts, c) <= 0).map((v) => v.key.toString()));
    const after = await s.put(b('after'), b('x'));
    t.true(compareGlt(after.ts, c) > 0);
    const c2 = await s.closedMark();
    t.true(compareGlt(c2, after.ts) > 0, 'marks increase, above every write before them');
    t.true(c2.wall <= h.physicalNs(), 'a mark never moves the clock ahead');
  });

  it('closed marks advance with no writes, and survive a reopen: no stamp at or below one, even when the physical clock went back', async (t, h) => {
    const c1 = await h.store.closedMark();
    h.advanceNs(1000n);
    const c2 = await h.store.closedMark();
    t.true(compareGlt(c2, c1) > 0);
    h.advanceNs(-100n * MS);
    let s = await h.reopen();
    const v = await s.put(b('k'), b('1'));
    t.true(compareGlt(v.ts, c2) > 0);
    const c3 = await s.closedMark();
    t.true(compareGlt(c3, v.ts) > 0);
    h.advanceNs(-5000n * MS);
    s = await h.reopen();
    const w = await s.put(b('k'), b('2'));
    t.true(compareGlt(w.ts, c3) > 0, 'above the last mark even 5 s back');
    t.true(compareGlt(await s.closedMark(), w.ts) > 0);
  });

  it('stamps after a restart are above every earlier stamp even when physical time went back', async (t, h) => {
    const v = await h.store.put(b('k'), b('1'));
    h.advanceNs(-5000n * MS);
    const s = await h.reopen();
    const w = await s.put(b('k'), b('2'));
    t.true(compareGlt(w.ts, v.ts) > 0);
    t.is(str(await s.get(b('k'), GLT_MAX)), '2');
    t.is((await allChanges(s, 'node-a')).length, 2);
  });

  // ---- the change index

  it('changes(origin, from, to]: one origin, original ts order, tombstones, exclusive from, inclusive to', async (t, h) => {
    const s = h.store;
    const v1 = await s.put(b('x'), b('1'));
    const v2 = await s.put(b('y'), b('2'));
    const d3 = await s.delete(b('x'));
    const v4 = await s.put(b('z'), b('4'));
    await s.apply({ epoch: 1n, batches: [batchOf('eu', v2.ts, [remote('w', 'r', v2.ts, 'node-b'), remote('q', 'r0', v1.ts, 'node-b')])] });
    t.deepEqual(keyAt(await allChanges(s, 'node-a')), ['x@node-a:1', 'y@node-a:2', 'x@node-a:-', 'z@node-a:4']);
    t.deepEqual(keyAt(await allChanges(s, 'node-b')), ['q@node-b:r0', 'w@node-b:r']);
    t.deepEqual(keyAt(await allChanges(s, 'node-a', v1.ts, d3.ts)), ['y@node-a:2', 'x@node-a:-']);
    t.deepEqual(await allChanges(s, 'node-a', v4.ts), []);
    t.deepEqual(await allChanges(s, 'node-c'), []);
    const empty = await s.changes('node-a', d3.ts, v1.ts, ALL);
    t.is(empty.versions.count, 0);
    const got = await allChanges(s, 'node-a', d3.ts, v4.ts);
    t.deepEqual(got, [{ key: b('z'), value: b('4'), ts: v4.ts, origin: 'node-a' }]);
    t.is(await code(s.changes('', GLT_ZERO, GLT_MAX, 1)), 'INVALID_ARGUMENT');
    t.is(await code(s.changes('node-a', GLT_ZERO, GLT_MAX, -1)), 'INVALID_ARGUMENT');
  });

  it('changes: a byte limit cuts after the entry that reaches it (at least one), `end` says where; paging reads everything once', async (t, h) => {
    const s = h.store;
    const vs: Version[] = [];
    for (let i = 0; i < 20; i++) vs.push(i % 4 === 3 ? await s.delete(b(`k${i}`)) : await s.put(b(`k${i}`), b('x'.repeat(i * 3))));
    const one = await s.changes('node-a', GLT_ZERO, GLT_MAX, 0);
    t.is(one.versions.count, 1, 'at least one entry');
    t.deepEqual(one.end, vs[0]!.ts);
    const r = await s.changes('node-a', GLT_ZERO, GLT_MAX, 50);
    const got = decodeVersions(r.versions);
    t.deepEqual(r.end, got[got.length - 1]!.ts);
    t.true(r.versions.raw.length >= 50, 'reaches the limit');
    t.true(r.versions.raw.length - entryBytes(got[got.length - 1]!) < 50, 'stops right after the entry that reaches it');
    const whole = await s.changes('node-a', vs[4]!.ts, vs[9]!.ts, ALL);
    t.deepEqual(whole.end, vs[9]!.ts, 'end = to when everything in (from, to] was read');
    t.deepEqual(tsOf(decodeVersions(whole.versions)), tsOf(vs.slice(5, 10)));
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 0, max: 400 }), fc.nat({ max: 19 }), async (maxBytes, fromIx) => {
        const from = fromIx === 0 ? GLT_ZERO : vs[fromIx - 1]!.ts;
        const paged: Version[] = [];
        for (let at = from; ; ) {
          const page = await s.changes('node-a', at, GLT_MAX, maxBytes);
          const got = decodeVersions(page.versions);
          assert.ok(got.length >= 1 || compareGlt(page.end, GLT_MAX) === 0);
          paged.push(...got);
          if (compareGlt(page.end, GLT_MAX) === 0) break;
          assert.ok(compareGlt(page.end, at) > 0, 'each page moves on');
          at = page.end;
        }
        assert.deepEqual(paged, vs.slice(fromIx));
      }),
      { numRuns: 40 },
    );
  });

  it('origins(): every origin in the change index, own and remote, once each, byte order', async (t, h) => {
    const s = h.store;
    t.deepEqual(await s.origins(), []);
    const ts = glt(h.physicalNs() - 1000n * MS, 0);
    const vs = ['node-c', 'node-b', 'node-ab', 'node-b\u0001', 'é'].flatMap((o, i) => [remote(`k${i}`, 'v', ts, o), remote(`j${i}`, 'w', nextGlt(ts), o)]);
    await s.apply({ epoch: 1n, batches: [batchOf('eu', nextGlt(ts), vs)] });
    await s.put(b('own'), b('1'));
    t.deepEqual(await s.origins(), ['node-a', 'node-ab', 'node-b', 'node-b\u0001', 'node-c', 'é']);
  });

  // ---- apply

  it('apply: writes the versions, raises positions and the frontier, persisted together; streamState reads them back', async (t, h) => {
    const s = h.store;
    const base = h.physicalNs() - 10_000n * MS;
    const st0 = await s.streamState();
    t.deepEqual(st0, { applied: new Map(), appliedFloor: GLT_ZERO, frontier: GLT_ZERO, membershipApplied: 0, epoch: 0n, horizon: GLT_ZERO });
    const n = await s.apply({
      epoch: 3n,
      batches: [batchOf('eu', glt(base + 5n * MS), [remote('a', '1', glt(base + MS), 'node-b'), remote('b', null, glt(base + 2n * MS), 'node-b')]), batchOf('us', glt(base + 7n * MS), [remote('a', '2', glt(base + 3n * MS), 'node-c')])],
      frontier: glt(base + 4n * MS),
    });
    t.is(n, 3);
    t.is(str(await s.get(b('a'), glt(base + 2n * MS))), '1');
    t.is(str(await s.get(b('a'), glt(base + 3n * MS))), '2');
    const st = await s.streamState();
    t.deepEqual(st.applied, new Map([['eu', glt(base + 5n * MS)], ['us', glt(base + 7n * MS)]]));
    t.deepEqual(st.frontier, glt(base + 4n * MS));
    t.is(st.epoch, 3n);
    // Positions never move back; the frontier is never lowered; an empty batch still raises its position.
    await s.apply({ epoch: 3n, batches: [batchOf('eu', glt(base + 2n * MS), []), batchOf('ap', glt(base + 9n * MS), [])], frontier: glt(base + MS) });
    const st2 = await s.streamState();
    t.deepEqual(st2.applied, new Map([['ap', glt(base + 9n * MS)], ['eu', glt(base + 5n * MS)], ['us', glt(base + 7n * MS)]]), 'in region order');
    t.deepEqual(st2.frontier, glt(base + 4n * MS));
    const r = await h.reopen();
    t.deepEqual(await r.streamState(), st2);
    t.deepEqual(keyAt(await allChanges(r, 'node-b')), ['a@node-b:1', 'b@node-b:-']);
  });

  it('apply skips versions at or below applied[region] (applied before, maybe moved since) and is idempotent', async (t, h) => {
    // h.entries() restarts the store: every call goes through h.store.
    const base = h.physicalNs() - 10_000n * MS;
    const vs = Array.from({ length: 10 }, (_, i) => remote(`k${i % 3}`, `v${i}`, glt(base + BigInt(i) * MS), 'node-b'));
    const first = batchOf('eu', glt(base + 5n * MS), vs.slice(0, 6));
    t.is(await h.store.apply({ epoch: 1n, batches: [first] }), 6);
    const entries = await h.entries();
    t.is(await h.store.apply({ epoch: 1n, batches: [first] }), 0, 'the same batch again writes nothing');
    t.deepEqual(await h.entries(), entries);
    // An overlapping batch: only what lies above applied[eu] is written.
    t.is(await h.store.apply({ epoch: 1n, batches: [batchOf('eu', glt(base + 9n * MS), vs.slice(3))] }), 4);
    t.deepEqual(tsOf(await allChanges(h.store, 'node-b')), tsOf(vs));
    // A version of a region that was applied, then moved (here: collected), does not come back.
    await h.store.put(b('tick'), b('t'));
    t.is(await h.store.gc(glt(base + 9n * MS)), 7);
    const held = await h.entries();
    t.is(await h.store.apply({ epoch: 1n, batches: [batchOf('eu', glt(base + 9n * MS), vs)] }), 0);
    t.deepEqual(await h.entries(), held);
    // Positions are per region: another region's versions at the same ts are written.
    t.is(await h.store.apply({ epoch: 1n, batches: [batchOf('us', glt(base + MS), [remote('u', 'x', glt(base + MS), 'node-c')])] }), 1);
  });

  it('apply: duplicates in one call are written once; apply order does not matter', async (t, h) => {
    const other = await makeStore('node-a');
    try {
      const base = h.physicalNs() - 10_000n * MS;
      const vs: Version[] = [];
      for (let i = 0; i < 30; i++) vs.push(remote(`k${i % 7}`, i % 5 === 0 ? null : `v${i}`, glt(base + BigInt(i) * MS, i % 3), ['node-b', 'node-c'][i % 2]!));
      const to = glt(base + 40n * MS);
      t.is(await h.store.apply({ epoch: 1n, batches: [batchOf('eu', to, [...vs, ...vs.slice(2, 9)])] }), 30);
      await other.store.apply({ epoch: 1n, batches: [batchOf('eu', glt(base - MS), []), batchOf('eu', to, [...vs].reverse())] });
      t.deepEqual(await h.entries(), await other.entries());
    } finally {
      await other.dispose();
    }
  });

  it('apply: FENCED for an epoch older than one seen, nothing written; a newer epoch is persisted', async (t, h) => {
    const s = h.store;
    const ts = glt(h.physicalNs() - 1000n * MS);
    await s.apply({ epoch: 5n, batches: [] });
    t.is(await code(s.apply({ epoch: 4n, batches: [batchOf('eu', ts, [remote('k', 'v', ts, 'node-b')])], frontier: ts })), 'FENCED');
    t.is(await s.get(b('k'), GLT_MAX), undefined);
    t.deepEqual((await s.streamState()).frontier, GLT_ZERO);
    t.deepEqual((await s.streamState()).applied, new Map());
    const r = await h.reopen();
    t.is((await r.streamState()).epoch, 5n);
    t.is(await code(r.apply({ epoch: 4n, batches: [] })), 'FENCED');
    t.is(await r.apply({ epoch: 5n, batches: [batchOf('eu', ts, [remote('k', 'v', ts, 'node-b')])] }), 1);
    t.is(await code(r.setMembershipApplied(4n, 1)), 'FENCED');
    t.is(await code(r.hide(4n, ['node-b'], ts, 10)), 'FENCED');
    t.is(await code(r.restamp(4n, { origins: ['node-b'], above: ts, upTo: ts, floor: ts }, 10)), 'FENCED');
  });

  it('apply refuses a malformed request whole, with a code, before anything is written', async (t, h) => {
    const s = h.store;
    const ts = glt(h.physicalNs() - 1000n * MS);
    const good = batchOf('eu', ts, [remote('ok', 'v', ts, 'node-b')]);
    const truncated: VersionBatch = { raw: good.versions.raw.subarray(0, good.versions.raw.length - 1), count: 1 };
    t.is(await code(s.apply({ epoch: 1n, batches: [good, { region: 'us', to: ts, versions: truncated }] })), 'DELTA_CORRUPT');
    t.is(await code(s.apply({ epoch: 1n, batches: [good, { ...good, region: '' }] })), 'INVALID_ARGUMENT');
    t.is(await code(s.apply({ epoch: -1n, batches: [good] })), 'INVALID_ARGUMENT');
    t.is(await code(s.apply({ epoch: 1n, batches: [{ ...good, to: { wall: -1n, logical: 0 } }] })), 'GLT_PARSE');
    t.deepEqual(await s.origins(), []);
    t.deepEqual(await s.streamState(), { applied: new Map(), appliedFloor: GLT_ZERO, frontier: GLT_ZERO, membershipApplied: 0, epoch: 0n, horizon: GLT_ZERO });
  });

  it('apply with a state-transfer horizon raises the node horizon; below the horizon only the newest version per key stays', async (t, h) => {
    const s = h.store;
    const base = h.physicalNs() - 10_000n * MS;
    await s.apply({ epoch: 1n, batches: [batchOf('eu', glt(base + 5n * MS), [remote('k', 'mid', glt(base + 5n * MS), 'node-b')])] });
    const H = glt(base + 10n * MS);
    t.is(await s.apply({ epoch: 1n, batches: [batchOf('us', glt(base + 20n * MS), [remote('k', 'newer', glt(base + 7n * MS), 'node-c'), remote('k', 'older', glt(base + 6n * MS), 'node-c'), remote('k', 'above', glt(base + 20n * MS), 'node-c'), remote('j', 'only', glt(base + 2n * MS), 'node-c')], H)] }), 3);
    t.deepEqual(s.horizon(), H);
    t.deepEqual((await s.streamState()).horizon, H);
    t.is(await code(s.get(b('k'), glt(base + 9n * MS))), 'SNAPSHOT_COLLECTED');
    t.is(str(await s.get(b('k'), H)), 'newer');
    t.is(str(await s.get(b('j'), H)), 'only');
    t.is(str(await s.get(b('k'), GLT_MAX)), 'above');
    // The replaced version left the change index with its chain.
    t.deepEqual(keyAt(await allChanges(s, 'node-b')), []);
    t.deepEqual(keyAt(await allChanges(s, 'node-c')), ['j@node-c:only', 'k@node-c:newer', 'k@node-c:above']);
    const r = await h.reopen();
    t.deepEqual(r.horizon(), H);
  });

  // ---- hide and restamp

  const settle = async (job: () => Promise<{ done: boolean; moved: number }>) => {
    let moved = 0;
    let calls = 0;
    for (;;) {
      const r = await job();
      moved += r.moved;
      calls++;
      if (r.done) return { moved, calls };
      assert.ok(calls < 10_000, 'a chunked job never finishes');
    }
  };

  it('a state transfer keeps the versions a hide rule covers that the hide job has not moved yet', async (t, h) => {
    const s = h.store;
    const base = h.physicalNs() - 10_000n * MS;
    await s.apply({ epoch: 1n, batches: [batchOf('eu', glt(base + 8n * MS), [remote('k', 'k-eu', glt(base + 7n * MS), 'node-b'), remote('j', 'j-eu', glt(base + 8n * MS), 'node-b')])] });
    // The first chunk moves k's version; j's waits in its chain, above the bound.
    t.deepEqual(await s.hide(2n, ['node-b'], glt(base + 6n * MS), 1), { done: false, moved: 1 });
    const H = glt(base + 10n * MS);
    await s.apply({ epoch: 2n, batches: [batchOf('us', H, [remote('j', 'j-us', glt(base + 9n * MS), 'node-c')], H)] });
    t.is(str(await s.get(b('j'), H)), 'j-us');
    t.is((await settle(() => s.hide(2n, ['node-b'], glt(base + 6n * MS), 10))).moved, 1, 'the hide job still finds it');
    t.is(s.hiddenCount(), 2);
  });

  it('hide: versions above the bound leave the reads, later ones (remote and own) arrive hidden; chunks are idempotent', async (t, h) => {
    const s = h.store;
    const base = h.physicalNs() - 10_000n * MS;
    const W = glt(base + 5n * MS);
    const early = Array.from({ length: 10 }, (_, i) => remote(`k${i % 4}`, `b${i}`, glt(base + BigInt(i + 1) * MS), 'node-b'));
    await s.apply({ epoch: 1n, batches: [batchOf('eu', glt(base + 10n * MS), early)] });
    const own = await s.put(b('k0'), b('own-before'));
    t.is(str(await s.get(b('k1'), GLT_MAX)), 'b9');
    const first = await s.hide(2n, ['node-b', 'node-a'], W, 2);
    t.false(first.done);
    t.true(first.moved <= 2);
    const rest = await settle(() => s.hide(2n, ['node-b', 'node-a'], W, 2));
    t.is(first.moved + rest.moved, 6, "node-b's versions above W, and node-a's own write");
    t.is(s.hiddenCount(), 6);
    t.deepEqual(await s.hide(2n, ['node-b', 'node-a'], W, 100), { done: true, moved: 0 }, 'idempotent');
    // Reads see only what lies at or below W of the hidden origins.
    t.is(str(await s.get(b('k1'), GLT_MAX)), 'b1');
    t.is(str(await s.get(b('k0'), GLT_MAX)), 'b4');
    t.is(str(await s.get(b('k0'), own.ts)), 'b4');
    // The change index still has every version, at its original ts.
    t.deepEqual(tsOf(await allChanges(s, 'node-b')), tsOf(early));
    // Later versions of hidden origins go to the hidden set: remote ones and own writes.
    await s.apply({ epoch: 2n, batches: [batchOf('eu', glt(base + 12n * MS), [remote('k9', 'late', glt(base + 11n * MS), 'node-b')]), batchOf('us', glt(base + 12n * MS), [remote('k9', 'c', glt(base + 11n * MS), 'node-c')])] });
    const ownLate = await s.put(b('k9'), b('own-late'));
    t.is(str(await s.get(b('k9'), GLT_MAX)), 'c');
    t.is(s.hiddenCount(), 8);
    t.deepEqual(keyAt(await allChanges(s, 'node-a', own.ts)), ['k9@node-a:own-late']);
    t.true(compareGlt(ownLate.ts, own.ts) > 0);
    // The rules and the hidden set survive a restart (the count is recounted).
    const r = await h.reopen();
    t.is(r.hiddenCount(), 8);
    t.is(str(await r.get(b('k9'), GLT_MAX)), 'c');
    await r.put(b('k9'), b('own-later'));
    t.is(r.hiddenCount(), 9);
    t.is((await settle(() => r.hide(2n, ['node-b', 'node-a'], W, 3))).moved, 0, 'after a restart the scan starts over, and finds nothing to move');
  });

  it('restamp: hidden versions in (above, upTo] move to floor + rank per key, those above upTo keep their ts; the rules go when done', async (t, h) => {
    const s = h.store;
    const base = h.physicalNs() - 10_000n * MS;
    const W = glt(base + 2n * MS);
    const upTo = glt(base + 6n * MS);
    const F = glt(base + 20n * MS, 5);
    await s.hide(1n, ['node-b', 'node-c'], W, 100);
    const vs = [
      remote('k', 'b1', glt(base + MS), 'node-b'), // ≤ W: never hidden
      remote('k', 'b3', glt(base + 3n * MS), 'node-b'),
      remote('k', 'c3', glt(base + 3n * MS), 'node-c'),
      remote('k', null, glt(base + 4n * MS), 'node-b'),
      remote('k', 'b8', glt(base + 8n * MS), 'node-b'), // above upTo
      remote('j', 'c5', glt(base + 5n * MS), 'node-c'),
      remote('x', 'd4', glt(base + 4n * MS), 'node-d'), // another origin: untouched
    ];
    await s.apply({ epoch: 1n, batches: [batchOf('eu', glt(base + 9n * MS), vs)] });
    t.is(s.hiddenCount(), 5);
    t.is(str(await s.get(b('k'), GLT_MAX)), 'b1');
    const rule: RestampRule = { origins: ['node-b', 'node-c'], above: W, upTo, floor: F };
    const { moved } = await settle(() => s.restamp(1n, rule, 1));
    t.is(moved, 5);
    t.is(s.hiddenCount(), 0);
    const e = await h.entries();
    t.deepEqual(
      e.chains.filter((l) => l.startsWith(hex(b('k'))) || l.startsWith(hex(b('j')))),
      [
        chainLine(remote('j', 'c5', glt(F.wall, F.logical + 1), 'node-c'), glt(base + 5n * MS)),
        chainLine(remote('k', 'b1', glt(base + MS), 'node-b')),
        chainLine(remote('k', 'b3', glt(F.wall, F.logical + 1), 'node-b'), glt(base + 3n * MS)),
        chainLine(remote('k', 'c3', glt(F.wall, F.logical + 2), 'node-c'), glt(base + 3n * MS)),
        chainLine(remote('k', null, glt(F.wall, F.logical + 3), 'node-b'), glt(base + 4n * MS)),
        chainLine(remote('k', 'b8', glt(base + 8n * MS), 'node-b')),
      ].sort(),
    );
    t.deepEqual(e.hidden, []);
    // Reads: the re-stamped versions sit above F, the one above upTo keeps its (lower) ts.
    t.is(str(await h.store.get(b('k'), glt(base + 8n * MS))), 'b8');
    t.is(await h.store.get(b('k'), GLT_MAX), undefined, 'the tombstone re-stamped at F+3 wins above F');
    t.is(str(await h.store.get(b('k'), glt(F.wall, F.logical + 2))), 'c3');
    t.is(str(await h.store.get(b('j'), GLT_MAX)), 'c5');
    t.is(await h.store.get(b('j'), F), undefined);
    // The change index keeps the original ts.
    t.deepEqual(keyAt(await allChanges(h.store, 'node-c')), ['k@node-c:c3', 'j@node-c:c5']);
    t.deepEqual(tsOf(await allChanges(h.store, 'node-c')), [glt(base + 3n * MS), glt(base + 5n * MS)]);
    // The rules are gone: later versions of those origins go to the chains.
    await h.store.apply({ epoch: 1n, batches: [batchOf('eu', glt(base + 30n * MS), [remote('m', 'new', glt(base + 30n * MS), 'node-b')])] });
    t.is(str(await h.store.get(b('m'), GLT_MAX)), 'new');
    t.is(h.store.hiddenCount(), 0);
    t.deepEqual(await h.store.restamp(1n, rule, 1), { done: true, moved: 0 }, 'idempotent');
  });

  it("restamp of this node's own origin brings its writes back; a rule with nothing hidden is done at once", async (t, h) => {
    const s = h.store;
    const v0 = await s.put(b('k'), b('0'));
    await settle(() => s.hide(1n, ['node-a'], v0.ts, 10));
    const v1 = await s.put(b('k'), b('1'));
    const v2 = await s.put(b('k'), b('2'));
    t.is(str(await s.get(b('k'), GLT_MAX)), '0');
    t.is(s.hiddenCount(), 2);
    const F = await s.closedMark();
    t.deepEqual(await settle(() => s.restamp(1n, { origins: ['node-a'], above: v0.ts, upTo: v1.ts, floor: F }, 5)), { moved: 2, calls: 1 });
    t.is(str(await s.get(b('k'), glt(F.wall, F.logical + 1))), '1');
    t.is(str(await s.get(b('k'), v2.ts)), '2', 'above upTo: its own ts');
    // (A floor is a GLT committed in the past; here it is this clock's last reading, so move on before stamping.)
    h.advanceNs(1000n);
    const v3 = await s.put(b('k'), b('3'));
    t.is(str(await s.get(b('k'), GLT_MAX)), '3', 'own writes go to the chains again');
    t.true(compareGlt(v3.ts, F) > 0);
    t.deepEqual(await s.restamp(1n, { origins: ['node-x'], above: v0.ts, upTo: v1.ts, floor: F }, 5), { done: true, moved: 0 });
  });

  it('restamp is deterministic: two stores holding the same hidden versions end identical, whatever the chunking and arrival order', async (t, h) => {
    const base = h.physicalNs() - 10_000n * MS;
    const W = glt(base + 10n * MS);
    const upTo = glt(base + 60n * MS);
    const F = glt(base + 100n * MS, 1);
    const origins = ['node-b', 'node-c', 'node-bb'];
    const version = fc.record({ key: fc.nat({ max: 5 }), value: fc.option(fc.nat({ max: 9 }), { nil: null }), ms: fc.integer({ min: 0, max: 80 }), logical: fc.nat({ max: 2 }), origin: fc.nat({ max: 2 }) });
    // One value per (key, ts, origin): a version is one write.
    const versions = fc.uniqueArray(version, { minLength: 1, maxLength: 40, selector: (v) => `${v.key}/${v.ms}.${v.logical}/${v.origin}` });
    await fc.assert(
      fc.asyncProperty(versions, fc.integer({ min: 1, max: 4 }), fc.integer({ min: 1, max: 4 }), fc.boolean(), async (raw, limitA, limitB, hideFirst) => {
        const vs = raw.map((r) => remote(`k${r.key}`, r.value === null ? null : `v${r.value}`, glt(base + BigInt(r.ms) * MS, r.logical), origins[r.origin]!));
        const a = await makeStore('node-a');
        const c = await makeStore('node-a');
        try {
          const to = glt(base + 90n * MS);
          // a: everything arrives, then the hide moves the versions; c: the hide first, versions arrive hidden, in reverse and twice.
          await a.store.apply({ epoch: 1n, batches: [batchOf('eu', to, vs)] });
          await settle(() => a.store.hide(1n, origins, W, limitA));
          if (hideFirst) await settle(() => c.store.hide(1n, origins, W, limitB));
          await c.store.apply({ epoch: 1n, batches: [batchOf('eu', glt(base + 30n * MS), [...vs].reverse()), batchOf('eu', to, vs)] });
          if (!hideFirst) await settle(() => c.store.hide(1n, origins, W, limitB));
          assert.deepEqual(await a.entries(), await c.entries());
          assert.equal(a.store.hiddenCount(), c.store.hiddenCount());
          const rule: RestampRule = { origins, above: W, upTo, floor: F };
          await settle(() => a.store.restamp(2n, rule, limitA));
          await settle(() => c.store.restamp(2n, rule, limitB));
          const ea = await a.entries();
          assert.deepEqual(ea, await c.entries());
          assert.deepEqual(ea.hidden, []);
          assert.equal(a.store.hiddenCount(), 0);
        } finally {
          await a.dispose();
          await c.dispose();
        }
      }),
      { numRuns: 25 },
    );
    t.pass();
  });

  it('restamp asserts the re-stamped logical counter does not overflow', async (t, h) => {
    const s = h.store;
    const base = h.physicalNs() - 10_000n * MS;
    const W = glt(base);
    await s.hide(1n, ['node-b'], W, 10);
    await s.apply({ epoch: 1n, batches: [batchOf('eu', glt(base + 9n * MS), [remote('k', '1', glt(base + MS), 'node-b'), remote('k', '2', glt(base + 2n * MS), 'node-b')])] });
    const err = await t.throwsAsync(s.restamp(1n, { origins: ['node-b'], above: W, upTo: glt(base + 9n * MS), floor: glt(base + 50n * MS, 0xffff_fffe) }, 10));
    t.is(err?.name, 'AssertionFailure');
  });

  it('setMembershipApplied: raised only, persisted', async (t, h) => {
    await h.store.setMembershipApplied(1n, 4);
    await h.store.setMembershipApplied(1n, 2);
    t.is((await h.store.streamState()).membershipApplied, 4);
    t.is(await code(h.store.setMembershipApplied(1n, -1)), 'INVALID_ARGUMENT');
    const r = await h.reopen();
    t.is((await r.streamState()).membershipApplied, 4);
    await r.setMembershipApplied(2n, 7);
    t.deepEqual(await r.streamState(), { applied: new Map(), appliedFloor: GLT_ZERO, frontier: GLT_ZERO, membershipApplied: 7, epoch: 2n, horizon: GLT_ZERO });
  });

  // ---- GC

  it('gc drops versions older than the newest at or below the horizon; reads below it fail SNAPSHOT_COLLECTED', async (t, h) => {
    const s = h.store;
    const a1 = await s.put(b('a'), b('1'));
    const a2 = await s.put(b('a'), b('2'));
    const b1 = await s.put(b('b'), b('1'));
    const a3 = await s.put(b('a'), b('3'));
    const bDel = await s.delete(b('b'));
    const a4 = await s.put(b('a'), b('4'));
    const H = a3.ts;
    t.deepEqual(s.horizon(), GLT_ZERO);
    t.is(await s.gc(H), 2); // a1, a2
    t.deepEqual(s.horizon(), H);
    t.is(str(await s.get(b('a'), H)), '3');
    t.is(str(await s.get(b('b'), H)), '1');
    t.is(await s.get(b('b'), bDel.ts), undefined);
    t.is(str(await s.get(b('a'), a4.ts)), '4');
    t.is(await code(s.get(b('a'), a2.ts)), 'SNAPSHOT_COLLECTED');
    t.is(await code(s.get(b('a'), a1.ts)), 'SNAPSHOT_COLLECTED');
    t.is(await code(collect(s.scan({ prefix: b('') }, b1.ts))), 'SNAPSHOT_COLLECTED');
    t.deepEqual(tsOf(await allChanges(s, 'node-a')), [b1.ts, a3.ts, bDel.ts, a4.ts]);
    t.is(await s.gc(a2.ts), 0, 'the horizon never moves back');
    t.deepEqual(s.horizon(), H);
    const c = await s.closedMark();
    t.is(await s.gc(c), 2); // a3, b1 (the tombstone stays: it is the newest of b)
    t.deepEqual(tsOf(await allChanges(s, 'node-a')), [bDel.ts, a4.ts]);
    const r = await h.reopen();
    t.deepEqual(r.horizon(), c);
    t.is(await code(r.get(b('a'), a4.ts)), 'SNAPSHOT_COLLECTED');
    t.is(str(await r.get(b('a'), GLT_MAX)), '4');
  });

  it("gc refuses a horizon above the clock's last stamp (it never moves the clock)", async (t, h) => {
    const v = await h.store.put(b('k'), b('1'));
    t.is(await code(h.store.gc(nextGlt(h.store.clock.last()))), 'INVALID_ARGUMENT');
    t.deepEqual(h.store.horizon(), GLT_ZERO);
    t.is(await h.store.gc(v.ts), 0);
    t.deepEqual(h.store.horizon(), v.ts);
  });

  it('gc keeps hidden versions, and collects a re-stamped version with its change entry at the original ts', async (t, h) => {
    const s = h.store;
    const base = h.physicalNs() - 10_000n * MS;
    const W = glt(base + 2n * MS);
    await s.hide(1n, ['node-b'], W, 10);
    await s.apply({
      epoch: 1n,
      batches: [batchOf('eu', glt(base + 9n * MS), [remote('k', 'old', glt(base + MS), 'node-b'), remote('k', 'hid', glt(base + 3n * MS), 'node-b'), remote('j', 'hid', glt(base + 4n * MS), 'node-b')])],
    });
    await s.put(b('k'), b('own'));
    const mark = await s.closedMark();
    t.is(await s.gc(mark), 1, "k's old version, below its own write; hidden versions are never collected");
    t.is(s.hiddenCount(), 2);
    const F = glt(mark.wall, mark.logical);
    await settle(() => s.restamp(1n, { origins: ['node-b'], above: W, upTo: glt(base + 9n * MS), floor: F }, 10));
    t.is(str(await s.get(b('k'), nextGlt(F))), 'hid');
    h.advanceNs(10n * MS);
    const own2 = await s.put(b('k'), b('own2'));
    t.is(await s.gc(own2.ts), 2, "k's first own write and its re-stamped version");
    t.deepEqual(keyAt(await allChanges(s, 'node-b')), ['j@node-b:hid'], "the re-stamped version's change entry went at its original ts");
    t.is(str(await s.get(b('j'), GLT_MAX)), 'hid');
    t.is(str(await s.get(b('k'), own2.ts)), 'own2');
  });

  // ---- lifecycle and limits

  it('data survives a restart', async (t, h) => {
    const v = await h.store.put(b('k'), b('v'));
    const d = await h.store.delete(b('gone'));
    const s = await h.reopen();
    t.is(str(await s.get(b('k'), v.ts)), 'v');
    t.deepEqual(tsOf(await allChanges(s, 'node-a')), [v.ts, d.ts]);
  });

  it('oversize keys and values and bad arguments are refused with their codes', async (t, h) => {
    t.is(await code(h.store.put(Buffer.alloc(4097), b('v'))), 'KEY_TOO_LARGE');
    t.is(await code(h.store.put(b('k'), Buffer.alloc((1 << 20) + 1))), 'VALUE_TOO_LARGE');
    t.is(await code(h.store.delete(Buffer.alloc(4097))), 'KEY_TOO_LARGE');
    t.is(await code(h.store.hide(1n, ['node-b'], GLT_ZERO, 0)), 'INVALID_ARGUMENT');
    t.is(await code(h.store.hide(1n, [''], GLT_ZERO, 1)), 'INVALID_ARGUMENT');
    t.is(await code(h.store.restamp(1n, { origins: ['node-b'], above: GLT_ZERO, upTo: GLT_ZERO, floor: GLT_ZERO }, 0)), 'INVALID_ARGUMENT');
    t.deepEqual(await h.store.origins(), []);
  });

  it('every call after shutdown fails STORE_CLOSED', async (t, h) => {
    const s = h.store;
    await s.shutdown();
    t.is(await code(s.put(b('k'), b('v'))), 'STORE_CLOSED');
    t.is(await code(s.delete(b('k'))), 'STORE_CLOSED');
    t.is(await code(s.get(b('k'), GLT_MAX)), 'STORE_CLOSED');
    t.is(await code(collect(s.scan({ prefix: b('') }, GLT_MAX))), 'STORE_CLOSED');
    t.is(await code(s.closedMark()), 'STORE_CLOSED');
    t.is(await code(s.changes('node-a', GLT_ZERO, GLT_MAX, 1)), 'STORE_CLOSED');
    t.is(await code(s.origins()), 'STORE_CLOSED');
    t.is(await code(s.apply({ epoch: 1n, batches: [] })), 'STORE_CLOSED');
    t.is(await code(s.streamState()), 'STORE_CLOSED');
    t.is(await code(s.hide(1n, [], GLT_ZERO, 1)), 'STORE_CLOSED');
    t.is(await code(s.restamp(1n, { origins: [], above: GLT_ZERO, upTo: GLT_ZERO, floor: GLT_ZERO }, 1)), 'STORE_CLOSED');
    t.is(await code(s.setMembershipApplied(1n, 1)), 'STORE_CLOSED');
    t.is(await code(s.gc(GLT_ZERO)), 'STORE_CLOSED');
  });
}
