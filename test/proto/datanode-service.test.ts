import test from 'ava';
import fc from 'fast-check';
import { setTimeout as sleep } from 'node:timers/promises';
import { AetherError } from '../../common/errors.js';
import { decodeVersions, encodeVersions, type VersionBatch } from '../../datanode/delta.js';
import type { FeedBatch } from '../../datanode/feed.js';
import { MemoryStore } from '../../datanode/memory-store.js';
import { startDatanodeServer } from '../../datanode/service.js';
import type { Store } from '../../datanode/store.js';
import { GLT_ZERO, LOGICAL_MAX, WALL_MAX, compareGlt, gltEquals, nextGlt, type Glt } from '../../glts/glt.js';
import { fromTimestamp, toTimestamp } from '../../proto/timestamp.js';
import { DataNodeConnection } from '../../regional/datanode-connection.js';
import { testNodeSecurity } from '../security/fixture.js';

test('GLTs cross the wire exactly, up to 2^64-1 ns', (t) => {
  fc.assert(
    fc.property(fc.bigInt({ min: 0n, max: WALL_MAX }), fc.integer({ min: 0, max: LOGICAL_MAX }), (wall, logical) => {
      const g = fromTimestamp({ wall: String(toTimestamp({ wall, logical }).wall), logical })!;
      return g.wall === wall && g.logical === logical;
    }),
    { seed: 7 },
  );
  t.is(fromTimestamp(null), undefined);
  t.throws(() => fromTimestamp({ wall: (WALL_MAX + 1n).toString(), logical: 0 }), { any: true, message: /wall/ });
});

/** Counts the calls a served store gets, to see what the server does while nobody reads. */
function counted(store: Store) {
  const calls = { changes: 0, closedMark: 0 };
  const proxy = new Proxy(store, {
    get(target, prop) {
      const v = Reflect.get(target, prop, target) as unknown;
      if (typeof v !== 'function') return v;
      return (...args: unknown[]) => {
        if (prop === 'changes' || prop === 'closedMark') calls[prop]++;
        return (v as (...a: unknown[]) => unknown).apply(target, args);
      };
    },
  });
  return { proxy, calls };
}

/** The leader whose certificate the connections present (mutual TLS, as in a deployment). */
const LEADER = 'leader-1';

async function node(origin: string) {
  const store = new MemoryStore({ origin, clock: { maxOffsetMs: 250 } });
  const { proxy, calls } = counted(store);
  const server = await startDatanodeServer({ address: '127.0.0.1:0', store: proxy, security: await testNodeSecurity(origin), leaders: [LEADER] });
  const conn = new DataNodeConnection(origin, server.address, await testNodeSecurity(LEADER));
  return {
    store,
    calls,
    conn,
    async close() {
      conn.shutdown();
      await server.close(100);
      await store.shutdown();
    },
  };
}

const b = (s: string) => Buffer.from(s, 'utf8');

async function code(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return 'no error';
  } catch (err) {
    return err instanceof AetherError ? err.code : `foreign: ${String(err)}`;
  }
}

/** Checks a feed's batches: they chain from `from`, and the versions' ts lie in their batch's range, in order. */
function checkChain(batches: readonly FeedBatch[], from: Glt): string | undefined {
  let at = from;
  for (const [i, f] of batches.entries()) {
    if (!gltEquals(f.from, at)) return `batch ${i} starts at ${f.from.wall}.${f.from.logical}, not where the last ended`;
    if (compareGlt(f.to, f.from) < 0) return `batch ${i} ends before it starts`;
    let last = f.from;
    for (const v of decodeVersions(f.batch)) {
      if (compareGlt(v.ts, last) <= 0 || compareGlt(v.ts, f.to) > 0) return `batch ${i} holds a version out of (from, to] or out of order`;
      last = v.ts;
    }
    at = f.to;
  }
  return undefined;
}

test('write, get, scan and info', async (t) => {
  const a = await node('a');
  t.teardown(() => a.close());
  t.is((await a.conn.info()).origin, 'a');
  const v1 = await a.conn.put(b('k1'), b('one'));
  const v2 = await a.conn.delete(b('k0'));
  t.is(v1.origin, 'a');
  t.true(compareGlt(v1.ts, v2.ts) !== 0);
  const at = await a.store.closedMark();
  t.is((await a.conn.get(b('k1'), at))?.value.toString(), 'one');
  t.is(await a.conn.get(b('k0'), at), undefined);
  const rows = [];
  for await (const r of a.conn.scan({ prefix: b('k') }, at, 0)) rows.push(r.key.toString());
  t.deepEqual(rows, ['k1']);
  t.deepEqual(await a.conn.horizon(), GLT_ZERO);
});

test('scan streams more than the stream buffers, and stops when the reader leaves', async (t) => {
  const a = await node('a');
  t.teardown(() => a.close());
  const value = Buffer.alloc(16 << 10, 7);
  await Promise.all(Array.from({ length: 400 }, (_, i) => a.conn.put(b(`s${String(i).padStart(4, '0')}`), value)));
  const at = await a.store.closedMark();
  let n = 0;
  for await (const r of a.conn.scan({ prefix: b('s') }, at, 0)) {
    t.is(r.key.toString(), `s${String(n++).padStart(4, '0')}`);
    if (n === 10) await sleep(50);
  }
  t.is(n, 400);
  let m = 0;
  for await (const _ of a.conn.scan({ prefix: b('s') }, at, 0)) if (++m === 5) break;
  t.is(m, 5);
  t.is((await a.conn.get(b('s0000'), at))?.value.length, value.length, 'the node serves on after a cancelled scan');
});

// Serial, so the file's other tests do not load the machine while its 200 ms deadlines run:
// the first call's deadline also covers the TLS handshake of a new connection.
test.serial('a scan that keeps delivering outlasts the call timeout, a reader pausing too; one that stalls fails TIMEOUT', async (t) => {
  const store = new MemoryStore({ origin: 'a', clock: { maxOffsetMs: 250 } });
  // The node's scan sends a version every 20 ms, and stops sending after `stallAfter`.
  let stallAfter = Infinity;
  const slow = new Proxy(store, {
    get(target, prop) {
      if (prop !== 'scan') return Reflect.get(target, prop, target) as unknown;
      return async function* (...args: Parameters<Store['scan']>) {
        let n = 0;
        for await (const v of target.scan(...args)) {
          if (n++ === stallAfter) await new Promise(() => {});
          await sleep(20);
          yield v;
        }
      };
    },
  });
  const server = await startDatanodeServer({ address: '127.0.0.1:0', store: slow, security: await testNodeSecurity('a'), leaders: [LEADER] });
  const timeoutMs = 200;
  const conn = new DataNodeConnection('a', server.address, await testNodeSecurity(LEADER), timeoutMs);
  t.teardown(async () => {
    conn.shutdown();
    await server.close(100);
    await store.shutdown();
  });
  // Written to the store directly: through `conn`, the first call's TLS set-up may take
  // longer than the 200 ms timeout on a loaded machine, and the puts are not under test.
  await Promise.all(Array.from({ length: 30 }, (_, i) => store.put(b(`s${String(i).padStart(2, '0')}`), b('v'))));
  const at = await store.closedMark();

  const started = Date.now();
  let n = 0;
  for await (const _ of conn.scan({ prefix: b('s') }, at, 0)) if (++n === 5) await sleep(2 * timeoutMs);
  t.is(n, 30);
  t.true(Date.now() - started > 2 * timeoutMs, 'the scan lasted longer than the call timeout');

  stallAfter = 3;
  n = 0;
  const stalled = Date.now();
  t.is(await code((async () => {
    for await (const _ of conn.scan({ prefix: b('s') }, at, 0)) n++;
  })()), 'TIMEOUT');
  t.is(n, 3);
  t.true(Date.now() - stalled < 10 * timeoutMs, 'failed soon after the node stopped sending');
  t.is((await conn.get(b('s00'), at))?.value.toString(), 'v', 'the node serves on');
});

test('a feed carries every own write exactly once, in chained batches ending at or below the closed mark', async (t) => {
  const a = await node('a');
  t.teardown(() => a.close());
  const before = await Promise.all(Array.from({ length: 50 }, (_, i) => a.conn.put(b(`p${i}`), b(`v${i}`))));
  const feed = a.conn.feed(GLT_ZERO, { maxBatchBytes: 512, batchDelayMs: 1, idleMarkMs: 20 });
  const got: FeedBatch[] = [];
  const written: string[] = before.map((v) => v.key.toString());
  const writer = (async () => {
    for (let round = 0; round < 10; round++) {
      const vs = await Promise.all(Array.from({ length: 20 }, (_, i) => a.conn.put(b(`w${round}.${i}`), b('x'))));
      written.push(...vs.map((v) => v.key.toString()));
      await sleep(3);
    }
  })();
  let seen = 0;
  for await (const f of feed) {
    t.true(compareGlt(f.to, await a.store.closedMark()) <= 0, 'a batch never ends above the mark');
    got.push(f);
    seen += f.batch.count;
    if (seen >= 250) break;
  }
  await writer;
  t.is(checkChain(got, GLT_ZERO), undefined);
  const keys = got.flatMap((f) => decodeVersions(f.batch).map((v) => v.key.toString()));
  t.deepEqual([...keys].sort(), [...written].sort());
  t.true(decodeVersions(got[0]!.batch).every((v) => v.origin === 'a'));
  t.true(got.length > 10, 'the byte limit cut the backlog');
});

test('a feed sends only own-origin versions, and marks while idle', async (t) => {
  const a = await node('a');
  t.teardown(() => a.close());
  // A remote version applied to this node is not part of its feed.
  const remote = encodeVersions([{ key: b('r'), value: b('remote'), ts: (await a.store.closedMark()), origin: 'zz' }]);
  await a.conn.apply({ epoch: 1n, batches: [{ region: 'r2', to: await a.store.closedMark(), versions: remote }] });
  const own = await a.conn.put(b('own'), b('x'));
  const feed = a.conn.feed(GLT_ZERO, { idleMarkMs: 10 });
  const got: FeedBatch[] = [];
  const started = performance.now();
  for await (const f of feed) {
    got.push(f);
    if (got.length === 6) break;
  }
  const tookMs = performance.now() - started;
  t.is(checkChain(got, GLT_ZERO), undefined);
  t.deepEqual(got.flatMap((f) => decodeVersions(f.batch).map((v) => v.key.toString())), ['own']);
  t.true(compareGlt(got[0]!.to, own.ts) >= 0);
  t.true(got.slice(1).every((f) => f.batch.count === 0 && compareGlt(f.to, f.from) > 0), 'idle batches are marks that advance');
  t.true(tookMs >= 40 && tookMs < 2000, `${tookMs} ms for 5 marks 10 ms apart`);
});

test('a feed read slowly holds the node back and loses nothing', async (t) => {
  const a = await node('a');
  t.teardown(() => a.close());
  const value = Buffer.alloc(20 << 10, 1);
  const written = await Promise.all(Array.from({ length: 400 }, (_, i) => a.conn.put(b(`bp${String(i).padStart(4, '0')}`), value)));
  const feed = a.conn.feed(GLT_ZERO, { maxBatchBytes: 32 << 10 });
  const got: FeedBatch[] = [];
  let seen = 0;
  for await (const f of feed) {
    got.push(f);
    seen += f.batch.count;
    if (got.length === 2) {
      // 8 MiB wait in the change index, 32 KiB per batch: a node that ignored back-pressure would read them all now.
      const reads = a.calls.changes;
      await sleep(300);
      t.true(a.calls.changes - reads < 150, `${a.calls.changes - reads} reads while nobody took a batch`);
      t.true(a.calls.changes < 200);
    }
    if (seen >= written.length) break;
  }
  t.is(checkChain(got, GLT_ZERO), undefined);
  const keys = got.flatMap((f) => decodeVersions(f.batch).map((v) => v.key.toString()));
  t.deepEqual([...keys].sort(), written.map((v) => v.key.toString()));
  t.true(got.length >= 200);
});

test('a cancelled feed ends quietly and stops reading on the node', async (t) => {
  const a = await node('a');
  t.teardown(() => a.close());
  const feed = a.conn.feed(GLT_ZERO, { idleMarkMs: 5 });
  const got: FeedBatch[] = [];
  const reading = (async () => {
    for await (const f of feed) got.push(f);
  })();
  while (got.length < 3) await sleep(5);
  feed.cancel();
  await reading;
  await sleep(20);
  const marks = a.calls.closedMark;
  await sleep(100);
  t.is(a.calls.closedMark, marks, 'the node stopped the feed');
  // Cancelled before anyone iterates: no stray error, and iterating ends at once.
  const unread = a.conn.feed(GLT_ZERO);
  unread.cancel();
  await sleep(20);
  for await (const _ of unread) t.fail('a cancelled feed yields nothing');
  // A feed the node refuses fails with the node's code.
  const bad = a.conn.feed(GLT_ZERO, { idleMarkMs: 3_600_000 });
  const err = await t.throwsAsync(async () => {
    for await (const _ of bad);
  });
  t.is((err as AetherError).code, 'INVALID_ARGUMENT');
});

test('changes, apply and stream state round-trip between nodes', async (t) => {
  const a = await node('a');
  const c = await node('c');
  t.teardown(async () => {
    await a.close();
    await c.close();
  });
  const written = [];
  for (let i = 0; i < 30; i++) written.push(await a.conn.put(b(`k${String(i).padStart(2, '0')}`), b(`v${i}`)));
  const to = await a.store.closedMark();
  const all = await a.conn.changes('a', GLT_ZERO, to, 1 << 20);
  t.deepEqual(all.end, to);
  t.is(all.versions.count, 30);
  const first = await a.conn.changes('a', GLT_ZERO, to, 100);
  t.true(first.versions.count >= 1 && first.versions.count < 30);
  t.deepEqual(first.end, decodeVersions(first.versions).at(-1)!.ts, 'a read stopped by its byte limit ends at its last version');
  const rest = await a.conn.changes('a', first.end, to, 1 << 20);
  t.is(first.versions.count + rest.versions.count, 30);
  t.is((await a.conn.changes('nobody', GLT_ZERO, to, 0)).versions.count, 0);

  const frontier = written[9]!.ts;
  const horizon = written[0]!.ts;
  t.is(await c.conn.apply({ epoch: 3n, batches: [{ region: 'ra', to, versions: all.versions, horizon }], frontier }), 30);
  // Idempotent: the versions are below the position now.
  t.is(await c.conn.apply({ epoch: 3n, batches: [{ region: 'ra', to, versions: all.versions }] }), 0);
  const s = await c.conn.streamState();
  t.deepEqual(s.applied.get('ra'), to);
  t.deepEqual(s.frontier, frontier);
  t.is(s.epoch, 3n);
  t.deepEqual(s.horizon, horizon);
  t.deepEqual(await c.conn.horizon(), horizon);
  const got = await c.conn.get(b('k05'), to);
  t.is(got?.value.toString(), 'v5');
  t.is(got?.origin, 'a');
  t.deepEqual(got?.ts, written[5]!.ts);
  // The copy is in c's change index under its origin: a relay reads it from there.
  t.is((await c.conn.changes('a', GLT_ZERO, to, 1 << 20)).versions.count, 30);
});

test('coded errors cross the wire: FENCED, DELTA_CORRUPT, bad arguments, store errors', async (t) => {
  const a = await node('a');
  t.teardown(() => a.close());
  const to = await a.store.closedMark();
  await a.conn.apply({ epoch: 5n, batches: [] });
  t.is(await code(a.conn.apply({ epoch: 4n, batches: [{ region: 'r', to, versions: { raw: Buffer.alloc(0), count: 0 } }] })), 'FENCED');
  t.is(await code(a.conn.hide(4n, ['x'], to, 10)), 'FENCED');
  t.is(await code(a.conn.setMembershipApplied(4n, 1)), 'FENCED');

  const one = encodeVersions([{ key: b('k'), value: b('v'), ts: to, origin: 'x' }]);
  const bad: VersionBatch[] = [
    { raw: one.raw, count: 2 },
    { raw: one.raw, count: 0 },
    { raw: one.raw.subarray(0, one.raw.length - 1), count: 1 },
    { raw: Buffer.concat([one.raw, Buffer.alloc(1)]), count: 1 },
  ];
  for (const versions of bad) t.is(await code(a.conn.apply({ epoch: 5n, batches: [{ region: 'r', to, versions }] })), 'DELTA_CORRUPT');
  t.is((await a.conn.streamState()).applied.get('r'), undefined, 'nothing of a rejected apply was written');

  t.is(await code(a.conn.hide(5n, ['x'], to, 0)), 'INVALID_ARGUMENT');
  t.is(await code(a.conn.put(Buffer.alloc(5000), b('v'))), 'KEY_TOO_LARGE');
  await a.conn.gc(to);
  t.is(await code(a.conn.get(b('k'), GLT_ZERO)), 'SNAPSHOT_COLLECTED');
  t.is(await code((async () => {
    for await (const _ of a.conn.scan({ prefix: b('k') }, GLT_ZERO, 0));
  })()), 'SNAPSHOT_COLLECTED');
});

test('membership jobs and gc reach the store', async (t) => {
  const a = await node('a');
  t.teardown(() => a.close());
  const x = await a.conn.put(b('x'), b('1'));
  const above = await a.store.closedMark();
  const y = await a.conn.put(b('y'), b('2'));
  let hid = 0;
  for (let done = false, i = 0; !done && i < 10; i++) {
    const r = await a.conn.hide(1n, ['a'], above, 1);
    done = r.done;
    hid += r.moved;
  }
  t.is(hid, 1);
  const at = await a.store.closedMark();
  t.is(await a.conn.get(b('y'), at), undefined, 'the hidden write is out of reads');
  t.is((await a.conn.get(b('x'), at))?.value.toString(), '1');
  const floor = nextGlt(at);
  let done = false;
  for (let i = 0; !done && i < 10; i++) done = (await a.conn.restamp(1n, { origins: ['a'], above, upTo: y.ts, floor }, 10)).done;
  t.true(done);
  const back = await a.conn.get(b('y'), await a.store.closedMark());
  t.is(back?.value.toString(), '2');
  t.true(compareGlt(back!.ts, floor) > 0, 're-stamped above the floor');
  await a.conn.setMembershipApplied(1n, 7);
  t.is((await a.conn.streamState()).membershipApplied, 7);
  t.true((await a.conn.gc(x.ts)) >= 0);
  t.deepEqual(await a.conn.horizon(), x.ts);
});
