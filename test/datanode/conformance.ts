import test from 'ava';
import type { ExecutionContext } from 'ava';
import { AetherError } from '../../common/errors.js';
import { GLT_MAX, GLT_ZERO, compareGlt, glt, nextGlt, type Glt } from '../../glts/glt.js';
import type { Store } from '../../datanode/store.js';
import { compareVersions, type Version } from '../../datanode/version.js';

/**
 * The contract of datanode/store.ts, as tests any Store implementation must pass.
 * `conformance(name, makeStore)` registers them with ava under `name`.
 */

/** A store under test, with control of its node's physical clock and of restarts. */
export interface StoreHarness {
  store: Store;
  /** Moves the node's physical clock (ns; negative goes back). */
  advanceNs(ns: bigint): void;
  /** The node's physical clock now (ns). */
  physicalNs(): bigint;
  /** Clean restart on the same data: shuts the store down, reopens it, and sets `store`. */
  reopen(): Promise<Store>;
  /** Shuts down and removes everything the harness created. */
  dispose(): Promise<void>;
}

/** Builds a fresh, empty store of node `origin` whose clock has maxOffsetMs 250. */
export type MakeStore = (origin: string) => Promise<StoreHarness>;

export const MAX_OFFSET_MS = 250;
const MS = 1_000_000n;

const b = (s: string) => Buffer.from(s, 'utf8');
const str = (v: { value: Buffer | null } | undefined) => (v && v.value ? v.value.toString('utf8') : undefined);

async function code(p: Promise<unknown> | (() => unknown)): Promise<string | undefined> {
  try {
    await (typeof p === 'function' ? p() : p);
    return undefined;
  } catch (err) {
    return err instanceof AetherError ? err.code : `foreign:${String(err)}`;
  }
}

function remote(key: string, value: string | null, ts: Glt, origin: string): Version {
  return { key: b(key), value: value === null ? null : b(value), ts, origin };
}

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

  it('put stamps increasing versions of this origin, readable at and after their ts only', async (t, h) => {
    const s = h.store;
    const v1 = await s.put(b('k'), b('one'));
    const v2 = await s.put(b('k'), b('two'));
    t.is(v1.origin, 'node-a');
    t.true(compareGlt(v2.ts, v1.ts) > 0);
    t.deepEqual(v1.key, b('k'));
    t.is(str(await s.get(b('k'), v1.ts)), 'one');
    t.is(str(await s.get(b('k'), v2.ts)), 'two');
    t.is(await s.get(b('k'), { wall: v1.ts.wall, logical: v1.ts.logical - 1 }), undefined);
    t.is(await s.get(b('other'), v2.ts), undefined);
    const r = await s.get(b('k'), GLT_MAX);
    t.deepEqual(r && { ts: r.ts, origin: r.origin }, { ts: v2.ts, origin: 'node-a' });
  });

  it('the caller may reuse its buffers after put', async (t, h) => {
    const key = b('k');
    const value = b('vv');
    const v = await h.store.put(key, value);
    key.fill(0);
    value.fill(0);
    t.is(str(await h.store.get(b('k'), v.ts)), 'vv');
  });

  it('delete writes a tombstone that hides the key from that ts on', async (t, h) => {
    const s = h.store;
    const v1 = await s.put(b('k'), b('one'));
    const d = await s.delete(b('k'));
    t.is(d.value, null);
    t.true(compareGlt(d.ts, v1.ts) > 0);
    t.is(await s.get(b('k'), d.ts), undefined);
    t.is(str(await s.get(b('k'), v1.ts)), 'one');
    t.deepEqual(await s.scan({ prefix: b('') }, GLT_MAX), []);
    const v3 = await s.put(b('k'), b('three'));
    t.is(str(await s.get(b('k'), v3.ts)), 'three');
  });

  it('equal (wall, logical) from different origins: the greater origin wins', async (t, h) => {
    const s = h.store;
    const ts = glt(h.physicalNs() - 1000n * MS, 7);
    await s.applyRemote([remote('k', 'from-b', ts, 'node-b'), remote('k', 'from-c', ts, 'node-c'), remote('k', 'from-ab', ts, 'node-ab')]);
    const r = await s.get(b('k'), ts);
    t.is(str(r), 'from-c');
    t.is(r?.origin, 'node-c');
    const ch = await s.changes(GLT_ZERO, ts);
    t.deepEqual(ch.map((v) => v.origin), ['node-ab', 'node-b', 'node-c']);
  });

  it('scan: key order, prefix and [start, end) ranges, limit, tombstones skipped, at T', async (t, h) => {
    const s = h.store;
    for (const k of ['b/2', 'a/1', 'b/1', 'c', 'b/3', 'b']) await s.put(b(k), b(`v-${k}`));
    const mid = (await s.delete(b('b/2'))).ts;
    await s.put(b('b/4'), b('late'));
    const keys = (rs: { key: Buffer }[]) => rs.map((r) => r.key.toString('utf8'));
    t.deepEqual(keys(await s.scan({ prefix: b('b/') }, mid)), ['b/1', 'b/3']);
    t.deepEqual(keys(await s.scan({ prefix: b('b') }, GLT_MAX)), ['b', 'b/1', 'b/3', 'b/4']);
    t.deepEqual(keys(await s.scan({ start: b('a/1'), end: b('b/3') }, GLT_MAX)), ['a/1', 'b', 'b/1']);
    t.deepEqual(keys(await s.scan({ start: b('b/3') }, GLT_MAX)), ['b/3', 'b/4', 'c']);
    t.deepEqual(keys(await s.scan({ prefix: b('') }, GLT_MAX, 2)), ['a/1', 'b']);
    t.deepEqual(await s.scan({ prefix: b('') }, GLT_MAX, 0), []);
    const all = await s.scan({ prefix: b('') }, GLT_MAX);
    t.deepEqual(all.map((r) => str(r)), ['v-a/1', 'v-b', 'v-b/1', 'v-b/3', 'late', 'v-c']);
    t.is(await code(s.scan({ prefix: b('') }, GLT_MAX, -1)), 'INVALID_ARGUMENT');
  });

  it('adversarial keys: empty, 0x00 and 0xff bytes, prefixes of each other sort and scan byte-wise', async (t, h) => {
    const s = h.store;
    const raw = [[], [0], [0, 0], [0, 1], [0, 0xff], [1], [0xff], [0xff, 0], [0xff, 0xff], [0xff, 0xff, 0xff], [0x61], [0x61, 0], [0x61, 0x62], [0x61, 0xff]];
    const keys = raw.map((k) => Buffer.from(k));
    for (const k of [...keys].reverse()) await s.put(k, Buffer.concat([b('='), k]));
    const sorted = [...keys].sort(Buffer.compare);
    const all = await s.scan({ prefix: Buffer.alloc(0) }, GLT_MAX);
    t.deepEqual(all.map((r) => r.key.toString('hex')), sorted.map((k) => k.toString('hex')));
    for (const r of all) t.deepEqual(r.value, Buffer.concat([b('='), r.key]));
    for (const p of keys) {
      const want = sorted.filter((k) => k.subarray(0, p.length).equals(p)).map((k) => k.toString('hex'));
      const got = (await s.scan({ prefix: p }, GLT_MAX)).map((r) => r.key.toString('hex'));
      t.deepEqual(got, want, `prefix ${p.toString('hex')}`);
      for (const e of keys) {
        const wantR = sorted.filter((k) => Buffer.compare(k, p) >= 0 && Buffer.compare(k, e) < 0).map((k) => k.toString('hex'));
        const gotR = (await s.scan({ start: p, end: e }, GLT_MAX)).map((r) => r.key.toString('hex'));
        t.deepEqual(gotR, wantR, `range ${p.toString('hex')}..${e.toString('hex')}`);
      }
      t.deepEqual((await s.get(p, GLT_MAX))?.value, Buffer.concat([b('='), p]));
    }
  });

  it('changes(from, to]: exclusive from, inclusive to, (ts, origin, key) order, tombstones, origin filter, limit', async (t, h) => {
    const s = h.store;
    const v1 = await s.put(b('x'), b('1'));
    const v2 = await s.put(b('y'), b('2'));
    const d3 = await s.delete(b('x'));
    const v4 = await s.put(b('z'), b('4'));
    const r = remote('w', 'r', v2.ts, 'node-b');
    await s.applyRemote([r]);
    const keyTs = (vs: Version[]) => vs.map((v) => `${v.key.toString('utf8')}@${v.origin}:${v.value === null ? '-' : v.value.toString('utf8')}`);
    t.deepEqual(keyTs(await s.changes(GLT_ZERO, GLT_MAX)), ['x@node-a:1', 'y@node-a:2', 'w@node-b:r', 'x@node-a:-', 'z@node-a:4']);
    t.deepEqual(keyTs(await s.changes(v1.ts, d3.ts)), ['y@node-a:2', 'w@node-b:r', 'x@node-a:-']);
    t.deepEqual(keyTs(await s.changes(v1.ts, d3.ts, { origin: 'node-b' })), ['w@node-b:r']);
    t.deepEqual(keyTs(await s.changes(v1.ts, d3.ts, { origin: 'node-a' })), ['y@node-a:2', 'x@node-a:-']);
    t.deepEqual(keyTs(await s.changes(GLT_ZERO, GLT_MAX, { limit: 2 })), ['x@node-a:1', 'y@node-a:2']);
    t.deepEqual(await s.changes(v4.ts, GLT_MAX), []);
    t.deepEqual(await s.changes(d3.ts, v1.ts), []);
    const got = await s.changes(d3.ts, v4.ts);
    t.is(got.length, 1);
    t.deepEqual(got[0], { key: b('z'), value: b('4'), ts: v4.ts, origin: 'node-a' });
    // Several keys under one (ts, origin) come out in key order.
    const ts = glt(h.physicalNs() - 5000n * MS, 0);
    await s.applyRemote([remote('k2', 'a', ts, 'node-b'), remote('k1', 'a', ts, 'node-b'), remote('k3', 'a', ts, 'node-b')]);
    t.deepEqual(keyTs(await s.changes(GLT_ZERO, ts)), ['k1@node-b:a', 'k2@node-b:a', 'k3@node-b:a']);
  });

  it('applyRemote is idempotent and order-independent', async (t, h) => {
    const other = await makeStore('node-a');
    try {
      const base = h.physicalNs() - 10_000n * MS;
      const vs: Version[] = [];
      for (let i = 0; i < 30; i++) {
        const key = `k${i % 7}`;
        vs.push(remote(key, i % 5 === 0 ? null : `v${i}`, glt(base + BigInt(i % 4) * MS, i % 3), ['node-b', 'node-c', 'node-a'][i % 3]!));
      }
      await h.store.applyRemote(vs);
      await h.store.applyRemote(vs.slice(3, 20));
      const shuffled = [...vs].reverse();
      await other.store.applyRemote(shuffled.slice(0, 10));
      await other.store.applyRemote(shuffled);
      await other.store.applyRemote(shuffled.slice(5));
      const a = await h.store.changes(GLT_ZERO, GLT_MAX);
      const c = await other.store.changes(GLT_ZERO, GLT_MAX);
      t.deepEqual(a, c);
      const distinct = new Set(vs.map((v) => `${v.key.toString()}|${v.ts.wall}.${v.ts.logical}|${v.origin}`));
      t.is(a.length, distinct.size);
      for (let i = 0; i < 7; i++) {
        for (const ts of [glt(base, 0), glt(base + 2n * MS, 1), GLT_MAX]) {
          t.deepEqual(await h.store.get(b(`k${i}`), ts), await other.store.get(b(`k${i}`), ts));
        }
      }
      t.deepEqual(await h.store.scan({ prefix: b('k') }, GLT_MAX), await other.store.scan({ prefix: b('k') }, GLT_MAX));
    } finally {
      await other.dispose();
    }
  });

  it('applyRemote: the same (key, ts, origin) twice keeps the first value', async (t, h) => {
    const ts = glt(h.physicalNs() - 1000n * MS, 0);
    await h.store.applyRemote([remote('k', 'first', ts, 'node-b')]);
    await h.store.applyRemote([remote('k', 'second', ts, 'node-b')]);
    t.is(str(await h.store.get(b('k'), ts)), 'first');
    t.is((await h.store.changes(GLT_ZERO, GLT_MAX)).length, 1);
  });

  it('applyRemote refuses malformed versions whole, with a code', async (t, h) => {
    const ts = glt(h.physicalNs() - 1000n * MS, 0);
    t.is(await code(h.store.applyRemote([remote('ok', 'v', ts, 'node-b'), remote('k', 'v', ts, '')])), 'INVALID_ARGUMENT');
    t.is(await code(h.store.applyRemote([{ key: Buffer.alloc(5000), value: null, ts, origin: 'node-b' }])), 'KEY_TOO_LARGE');
    t.is(await code(h.store.applyRemote([remote('k', 'v', { wall: -1n, logical: 0 }, 'node-b')])), 'GLT_PARSE');
    t.deepEqual(await h.store.changes(GLT_ZERO, GLT_MAX), []);
  });

  it('close(T) advances the clock past T: later writes are stamped above T, also after a restart', async (t, h) => {
    const T = glt(h.physicalNs() + 100n * MS, 5);
    const before = await h.store.put(b('k'), b('before'));
    await h.store.close(T);
    const after = await h.store.put(b('k'), b('after'));
    t.true(compareGlt(before.ts, T) < 0);
    t.true(compareGlt(after.ts, T) > 0);
    t.is(str(await h.store.get(b('k'), T)), 'before');
    const T2 = glt(h.physicalNs() + 200n * MS, 0);
    await h.store.close(T2);
    h.advanceNs(-1000n * MS);
    const s = await h.reopen();
    const again = await s.put(b('k'), b('again'));
    t.true(compareGlt(again.ts, T2) > 0);
    t.is(str(await s.get(b('k'), T)), 'before');
    t.is(str(await s.get(b('k'), after.ts)), 'after');
  });

  it('close(T) too far ahead of the physical clock fails CLOCK_OFFSET', async (t, h) => {
    t.is(await code(h.store.close(glt(h.physicalNs() + 3n * BigInt(MAX_OFFSET_MS) * MS, 0))), 'CLOCK_OFFSET');
  });

  it('stamps after a restart are above every earlier stamp even when physical time went back', async (t, h) => {
    const v = await h.store.put(b('k'), b('1'));
    h.advanceNs(-5000n * MS);
    const s = await h.reopen();
    const w = await s.put(b('k'), b('2'));
    t.true(compareGlt(w.ts, v.ts) > 0);
    t.is(str(await s.get(b('k'), GLT_MAX)), '2');
    t.is((await s.changes(GLT_ZERO, GLT_MAX)).length, 2);
  });

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
    t.is(await code(s.scan({ prefix: b('') }, b1.ts)), 'SNAPSHOT_COLLECTED');
    const ch = await s.changes(GLT_ZERO, GLT_MAX);
    t.deepEqual(ch.map((v) => v.ts), [b1.ts, a3.ts, bDel.ts, a4.ts]);
    t.is(await s.gc(a2.ts), 0, 'the horizon never moves back');
    t.deepEqual(s.horizon(), H);
    t.is(await s.gc(nextGlt(a4.ts)), 2); // a3, b1 (the tombstone stays: it is the newest of b)
    t.deepEqual((await s.changes(GLT_ZERO, GLT_MAX)).map((v) => v.ts), [bDel.ts, a4.ts]);
    const r = await h.reopen();
    t.deepEqual(r.horizon(), nextGlt(a4.ts));
    t.is(await code(r.get(b('a'), a4.ts)), 'SNAPSHOT_COLLECTED');
    t.is(str(await r.get(b('a'), GLT_MAX)), '4');
  });

  it('applyRemote below the horizon keeps only the newest version at or below it', async (t, h) => {
    const s = h.store;
    const base = h.physicalNs() - 10_000n * MS;
    await s.applyRemote([remote('k', 'mid', glt(base + 5n * MS), 'node-b')]);
    await s.gc(glt(base + 10n * MS));
    await s.applyRemote([remote('k', 'old', glt(base + 1n * MS), 'node-b')]);
    t.deepEqual((await s.changes(GLT_ZERO, GLT_MAX)).map((v) => str(v)), ['mid']);
    await s.applyRemote([remote('k', 'newer', glt(base + 7n * MS), 'node-c'), remote('k', 'above', glt(base + 20n * MS), 'node-c')]);
    t.deepEqual((await s.changes(GLT_ZERO, GLT_MAX)).map((v) => str(v)), ['newer', 'above']);
    t.is(str(await s.get(b('k'), glt(base + 10n * MS))), 'newer');
  });

  it('restamp(after) moves own versions newer than `after` above the clock, keeps the rest', async (t, h) => {
    const s = h.store;
    const a1 = await s.put(b('a'), b('1'));
    const ts = glt(a1.ts.wall, a1.ts.logical + 1);
    await s.applyRemote([remote('r', 'remote', ts, 'node-b')]);
    const a2 = await s.put(b('a'), b('2'));
    const bDel = await s.delete(b('b'));
    const c1 = await s.put(b('c'), b('1'));
    const T = glt(h.physicalNs() + 50n * MS, 0);
    await s.close(T);
    const moved = await s.restamp(a1.ts);
    t.deepEqual(moved.map((v) => [v.key.toString(), str(v), v.origin]), [['a', '2', 'node-a'], ['b', undefined, 'node-a'], ['c', '1', 'node-a']]);
    for (let i = 0; i < moved.length; i++) {
      t.true(compareGlt(moved[i]!.ts, T) > 0);
      if (i > 0) t.true(compareGlt(moved[i]!.ts, moved[i - 1]!.ts) > 0, 'relative order kept');
    }
    t.is(moved[1]!.value, null);
    t.is(str(await s.get(b('a'), a2.ts)), '1', 'the old version is gone');
    t.is(await s.get(b('c'), c1.ts), undefined);
    t.is(str(await s.get(b('a'), GLT_MAX)), '2');
    t.is(str(await s.get(b('r'), GLT_MAX)), 'remote');
    const all = await s.changes(GLT_ZERO, GLT_MAX);
    t.deepEqual(all.map((v) => v.ts), [a1.ts, ts, ...moved.map((v) => v.ts)]);
    t.deepEqual(await s.changes(bDel.ts, T), []);
    t.deepEqual(await s.restamp(moved[2]!.ts), []);
    const next = await s.put(b('d'), b('1'));
    t.true(compareGlt(next.ts, moved[2]!.ts) > 0);
  });

  it('metadata: unset is undefined, set values survive a restart', async (t, h) => {
    t.is(await h.store.getMeta('frontier'), undefined);
    await h.store.setMeta('frontier', glt(123n, 4));
    await h.store.setMeta('watermark/eu-west', glt(99n, 0));
    await h.store.setMeta('frontier', glt(124n, 0));
    t.deepEqual(await h.store.getMeta('frontier'), glt(124n, 0));
    const s = await h.reopen();
    t.deepEqual(await s.getMeta('frontier'), glt(124n, 0));
    t.deepEqual(await s.getMeta('watermark/eu-west'), glt(99n, 0));
    t.is(await s.getMeta('watermark/us-east'), undefined);
  });

  it('data survives a restart', async (t, h) => {
    const v = await h.store.put(b('k'), b('v'));
    const d = await h.store.delete(b('gone'));
    const s = await h.reopen();
    t.is(str(await s.get(b('k'), v.ts)), 'v');
    t.deepEqual((await s.changes(GLT_ZERO, GLT_MAX)).map((x) => x.ts), [v.ts, d.ts]);
  });

  it('oversize keys and values are refused with their codes', async (t, h) => {
    t.is(await code(h.store.put(Buffer.alloc(4097), b('v'))), 'KEY_TOO_LARGE');
    t.is(await code(h.store.put(b('k'), Buffer.alloc((1 << 20) + 1))), 'VALUE_TOO_LARGE');
    t.is(await code(h.store.delete(Buffer.alloc(4097))), 'KEY_TOO_LARGE');
    t.deepEqual(await h.store.changes(GLT_ZERO, GLT_MAX), []);
  });

  it('every call after shutdown fails STORE_CLOSED', async (t, h) => {
    const s = h.store;
    await s.shutdown();
    t.is(await code(s.put(b('k'), b('v'))), 'STORE_CLOSED');
    t.is(await code(s.delete(b('k'))), 'STORE_CLOSED');
    t.is(await code(s.get(b('k'), GLT_MAX)), 'STORE_CLOSED');
    t.is(await code(s.scan({ prefix: b('') }, GLT_MAX)), 'STORE_CLOSED');
    t.is(await code(s.changes(GLT_ZERO, GLT_MAX)), 'STORE_CLOSED');
    t.is(await code(s.applyRemote([])), 'STORE_CLOSED');
    t.is(await code(s.close(GLT_ZERO)), 'STORE_CLOSED');
    t.is(await code(s.gc(GLT_ZERO)), 'STORE_CLOSED');
    t.is(await code(s.restamp(GLT_ZERO)), 'STORE_CLOSED');
    t.is(await code(s.getMeta('x')), 'STORE_CLOSED');
    t.is(await code(s.setMeta('x', GLT_ZERO)), 'STORE_CLOSED');
  });

  it('concurrent writes all resolve with distinct increasing stamps and are all readable', async (t, h) => {
    const s = h.store;
    const vs = await Promise.all(Array.from({ length: 200 }, (_, i) => (i % 10 === 9 ? s.delete(b(`k${i % 17}`)) : s.put(b(`k${i % 17}`), b(`v${i}`)))));
    const sorted = [...vs].sort(compareVersions);
    t.deepEqual(sorted, vs, 'stamped in call order');
    for (let i = 1; i < vs.length; i++) t.true(compareGlt(vs[i]!.ts, vs[i - 1]!.ts) > 0);
    t.is((await s.changes(GLT_ZERO, GLT_MAX)).length, 200);
    for (let k = 0; k < 17; k++) {
      const last = [...vs].reverse().find((v) => v.key.equals(b(`k${k}`)));
      t.deepEqual((await s.get(b(`k${k}`), GLT_MAX))?.value, last?.value ?? undefined);
    }
  });
}
