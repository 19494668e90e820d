import test from 'ava';
import { AetherError } from '../../common/errors.js';
import { decodeVersions, encodeVersions, entryBytes } from '../../datanode/delta.js';
import { Feed, type FeedBatch, type FeedTimers } from '../../datanode/feed.js';
import type { ChangesResult, Store } from '../../datanode/store.js';
import type { Version } from '../../datanode/version.js';
import { GLT_ZERO, compareGlt, glt, gltEquals, type Glt } from '../../glts/glt.js';

/**
 * The part of a Store a feed uses, under the test's control: own writes stamped 1, 2, 3…
 * (wall), a closed mark the test sets, the change index read as Store.changes reads it.
 */
class FeedStore {
  readonly origin = 'n1';
  readonly versions: Version[] = [];
  /** Just above zero: a feed from zero has a mark to send at once. */
  closed: Glt = glt(0n, 1);
  closedCalls = 0;
  private readonly listeners = new Set<() => void>();

  /** An own write, durable at once, stamped above the mark (1, 2, 3… while the mark follows the writes); the mark follows it unless `holdMark`. */
  write(value = 'v', holdMark = false): Version {
    const wall = BigInt(this.versions.length + 1) > this.closed.wall ? BigInt(this.versions.length + 1) : this.closed.wall + 1n;
    const v: Version = { key: Buffer.from(`k${this.versions.length}`), value: Buffer.from(value), ts: glt(wall), origin: this.origin };
    this.versions.push(v);
    if (!holdMark) this.closed = v.ts;
    for (const l of this.listeners) l();
    return v;
  }

  get listening(): number {
    return this.listeners.size;
  }

  async closedMark(): Promise<Glt> {
    this.closedCalls++;
    return this.closed;
  }

  onOwnWrites(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  async changes(origin: string, from: Glt, to: Glt, maxBytes: number): Promise<ChangesResult> {
    const out: Version[] = [];
    let bytes = 0;
    for (const v of this.versions) {
      if (v.origin !== origin || compareGlt(v.ts, from) <= 0 || compareGlt(v.ts, to) > 0) continue;
      if (out.length > 0 && bytes + entryBytes(v) > maxBytes) return { versions: encodeVersions(out), end: out[out.length - 1]!.ts };
      out.push(v);
      bytes += entryBytes(v);
    }
    return { versions: encodeVersions(out), end: to };
  }
}

/** Time that moves only when the test says. */
class ManualTimers implements FeedTimers {
  nowMs = 0;
  private timers: { at: number; fn: () => void }[] = [];

  now(): number {
    return this.nowMs;
  }

  after(ms: number, fn: () => void): () => void {
    const t = { at: this.nowMs + ms, fn };
    this.timers.push(t);
    return () => (this.timers = this.timers.filter((x) => x !== t));
  }

  get pending(): number {
    return this.timers.length;
  }

  /** Moves time on by `ms`, firing what falls due, and lets the feed run. */
  async advance(ms: number): Promise<void> {
    this.nowMs += ms;
    for (const t of this.timers.filter((x) => x.at <= this.nowMs)) {
      this.timers = this.timers.filter((x) => x !== t);
      t.fn();
    }
    await settle();
  }
}

async function settle(): Promise<void> {
  for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
}

function setup(options: ConstructorParameters<typeof Feed>[2] = {}, from: Glt = GLT_ZERO) {
  const store = new FeedStore();
  const timers = new ManualTimers();
  const feed = new Feed(store as unknown as Store, from, options, timers);
  const got: FeedBatch[] = [];
  /** Keeps one `next` outstanding, as a consumer that always has room does. */
  const pump = (async () => {
    for await (const b of feed) got.push(b);
  })();
  return { store, timers, feed, got, pump };
}

const keysOf = (batches: readonly FeedBatch[]) => batches.flatMap((b) => decodeVersions(b.batch).map((v) => v.key.toString()));

function chained(batches: readonly FeedBatch[], from: Glt): boolean {
  let at = from;
  for (const b of batches) {
    if (!gltEquals(b.from, at) || compareGlt(b.to, b.from) < 0) return false;
    at = b.to;
  }
  return true;
}

test('a new feed reads at once, then sends marks while idle', async (t) => {
  const { store, timers, feed, got, pump } = setup({ idleMarkMs: 25 });
  store.write('a');
  store.write('b');
  await settle();
  t.is(got.length, 1, 'the backlog goes without waiting');
  t.deepEqual(keysOf(got), ['k0', 'k1']);
  t.deepEqual(got[0]!.to, glt(2n));

  await timers.advance(24);
  t.is(got.length, 1);
  store.closed = glt(5n);
  await timers.advance(1);
  t.is(got.length, 2, 'a mark after idleMarkMs');
  t.is(got[1]!.batch.count, 0);
  t.deepEqual(got[1]!.to, glt(5n));
  t.true(chained(got, GLT_ZERO));

  feed.stop();
  await pump;
});

test('own writes go batchDelayMs after they become durable, together', async (t) => {
  const { store, timers, feed, got, pump } = setup({ batchDelayMs: 2, idleMarkMs: 25 });
  await settle();
  t.is(got.length, 1);
  await timers.advance(5);
  store.write('a');
  await timers.advance(1);
  store.write('b');
  await settle();
  t.is(got.length, 1, 'not before the delay');
  await timers.advance(1);
  t.is(got.length, 2);
  t.deepEqual(keysOf(got), ['k0', 'k1']);
  // The next mark is measured from this batch, not from the one before.
  store.closed = glt(3n);
  await timers.advance(24);
  t.is(got.length, 2);
  await timers.advance(1);
  t.is(got.length, 3);
  t.true(chained(got, GLT_ZERO));
  feed.stop();
  await pump;
});

test('a backlog above the byte limit goes in several batches at once, each version once', async (t) => {
  const { store, feed, got, pump } = setup({ maxBatchBytes: 100 }, GLT_ZERO);
  for (let i = 0; i < 20; i++) store.write('x'.repeat(30));
  await settle();
  t.true(got.length > 5, `${got.length} batches`);
  t.deepEqual(keysOf(got), store.versions.map((v) => v.key.toString()));
  t.true(chained(got, GLT_ZERO));
  t.deepEqual(got.at(-1)!.to, store.closed);
  for (const b of got.slice(0, -1)) t.true(b.batch.raw.length <= 100);
  feed.stop();
  await pump;
});

test('a position above the closed mark waits for the mark to pass it', async (t) => {
  const { store, timers, feed, got, pump } = setup({ idleMarkMs: 10 }, glt(3n));
  store.write('a');
  await settle();
  t.is(got.length, 0, 'mark 1 is below the position 3');
  store.write('b');
  store.write('c');
  await timers.advance(10);
  t.is(got.length, 0, 'mark 3 is not above it');
  store.write('d');
  await timers.advance(10);
  t.is(got.length, 1);
  t.deepEqual(got[0]!.from, glt(3n));
  t.deepEqual(keysOf(got), ['k3']);
  feed.stop();
  await pump;
});

test('stop ends a waiting feed and drops its listener and timer', async (t) => {
  const { store, timers, feed, got, pump } = setup();
  await settle();
  t.is(got.length, 1);
  t.is(store.listening, 1);
  t.is(timers.pending, 1);
  feed.stop();
  await pump;
  t.is(store.listening, 0);
  t.is(timers.pending, 0);
  t.is(await feed.next(), undefined);
  const calls = store.closedCalls;
  store.write();
  await timers.advance(100);
  t.is(store.closedCalls, calls, 'a stopped feed reads nothing');
});

test('a consumer that does not ask holds the feed back', async (t) => {
  const store = new FeedStore();
  const timers = new ManualTimers();
  const feed = new Feed(store as unknown as Store, GLT_ZERO, { maxBatchBytes: 50 }, timers);
  for (let i = 0; i < 10; i++) store.write('y'.repeat(30));
  const first = await feed.next();
  await settle();
  t.is(store.closedCalls, 1, 'one read per next');
  const rest: FeedBatch[] = [];
  while (!gltEquals(feed.position, store.closed)) rest.push((await feed.next())!);
  t.true(rest.length > 1);
  t.deepEqual(keysOf([first!, ...rest]), store.versions.map((v) => v.key.toString()));
  feed.stop();
});

test('options out of bounds are refused', (t) => {
  const store = new FeedStore() as unknown as Store;
  for (const o of [{ maxBatchBytes: 0 }, { idleMarkMs: 0 }, { batchDelayMs: -1 }, { batchDelayMs: 1.5 }, { maxBatchBytes: 1 << 30 }]) {
    const err = t.throws(() => new Feed(store, GLT_ZERO, o), { instanceOf: AetherError });
    t.is(err.code, 'INVALID_ARGUMENT');
  }
});

test('a store failure rejects next, and the feed can be stopped', async (t) => {
  const store = new FeedStore();
  store.changes = () => Promise.reject(new AetherError('STORE_CLOSED', 'gone'));
  const feed = new Feed(store as unknown as Store, GLT_ZERO, {}, new ManualTimers());
  store.write();
  const err = await t.throwsAsync(feed.next(), { instanceOf: AetherError });
  t.is(err.code, 'STORE_CLOSED');
  feed.stop();
  t.is(store.listening, 0);
});

test('quiet: marks every quietMarkMs once nothing was written or nudged for activeForMs; a nudge marks at once and makes it active', async (t) => {
  const { store, timers, feed, got, pump } = setup({ idleMarkMs: 25, quietMarkMs: 500, activeForMs: 100 });
  await settle();
  t.is(got.length, 1);
  const tick = async (ms: number) => {
    store.closed = glt(store.closed.wall + 1n);
    await timers.advance(ms);
  };
  await tick(25);
  t.is(got.length, 1, 'never active yet: quiet from the start');
  await tick(475);
  t.is(got.length, 2, 'a mark after quietMarkMs');
  store.closed = glt(store.closed.wall + 1n);
  feed.nudge();
  await settle();
  t.is(got.length, 3, 'a nudge marks at once');
  await tick(25);
  t.is(got.length, 4, 'active: idleMarkMs');
  await tick(100);
  const before = got.length;
  await tick(100);
  t.is(got.length, before, 'quiet again after activeForMs');
  store.write('w');
  await timers.advance(2);
  t.true(keysOf(got).includes('k0'), 'a write is sent at once, quiet or not');
  t.true(chained(got, GLT_ZERO));
  feed.stop();
  await pump;
});

test('an idle mark does not read the store: without own writes since the last read there is nothing to find', async (t) => {
  const { store, timers, feed, got, pump } = setup({ idleMarkMs: 25 });
  await settle();
  let reads = 0;
  const changes = store.changes.bind(store);
  store.changes = async (...a: Parameters<typeof changes>) => {
    reads++;
    return changes(...a);
  };
  for (const ms of [25, 25]) {
    store.closed = glt(store.closed.wall + 1n);
    await timers.advance(ms);
  }
  t.is(got.length, 3);
  t.is(reads, 0, 'two marks, no store read');
  store.write('x');
  await timers.advance(2);
  t.is(reads, 1);
  t.deepEqual(keysOf(got), ['k0']);
  feed.stop();
  await pump;
});
