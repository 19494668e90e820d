import test from 'ava';
import { decodeDelta, encodeVersions } from '../../datanode/delta.js';
import type { Version } from '../../datanode/version.js';
import type { Glt } from '../../glts/glt.js';
import { OwnStream } from '../../regional/own-stream.js';

const g = (wall: number): Glt => ({ wall: BigInt(wall), logical: 0 });
const v = (key: string, wall: number, origin: string): Version => ({ key: Buffer.from(key), value: Buffer.from(`${key}@${wall}`), ts: g(wall), origin });
const LIMITS = { maxBatchBytes: 1 << 20, ringBytes: 1 << 20, maxQueuedBytes: 1 << 20 };

test('a batch covers (end, min of the nodes\' marks] with every node\'s versions up to there, framed once', (t) => {
  const s = new OwnStream(['d1', 'd2'], g(10), LIMITS);
  t.true(s.onFeed('d1', g(10), g(30), encodeVersions([v('a', 12, 'd1'), v('b', 25, 'd1')])));
  t.is(s.closed(), undefined, 'd2 has not reported');
  t.is(s.cut(), undefined);
  t.true(s.onFeed('d2', g(10), g(20), encodeVersions([v('c', 15, 'd2')])));
  const b = s.cut()!;
  t.deepEqual([b.from, b.to], [g(10), g(20)]);
  t.deepEqual(decodeDelta(b.delta).map((x) => x.key.toString()).sort(), ['a', 'c'], 'b (25) waits for d2 to pass it');
  t.true(s.onFeed('d2', g(20), g(40), encodeVersions([])));
  const b2 = s.cut()!;
  t.deepEqual([b2.from, b2.to], [g(20), g(30)]);
  t.deepEqual(decodeDelta(b2.delta).map((x) => x.key.toString()), ['b']);
  t.is(s.batchAt(g(10)), b);
  t.is(s.batchAt(g(25)), b2);
  t.is(s.batchAt(g(30)), undefined, 'at the end');
});

test('a feed that does not chain is refused (the caller reopens it at the stream end); what it queued is dropped', (t) => {
  const s = new OwnStream(['d1'], g(10), LIMITS);
  t.true(s.onFeed('d1', g(10), g(20), encodeVersions([v('a', 15, 'd1')])));
  t.false(s.onFeed('d1', g(25), g(30), encodeVersions([])));
  s.onFeedEnded('d1');
  t.deepEqual(s.feedPosition('d1'), g(10));
  t.true(s.onFeed('d1', g(10), g(20), encodeVersions([v('a', 15, 'd1')])));
  t.is(s.cut()!.count, 1);
});

test('the ring is bounded in bytes: a position below it is served from the change index', (t) => {
  const s = new OwnStream(['d1'], g(0), { maxBatchBytes: 1 << 20, ringBytes: 200, maxQueuedBytes: 1 << 20 });
  for (let i = 1; i <= 10; i++) {
    s.onFeed('d1', g((i - 1) * 10), g(i * 10), encodeVersions([v(`k${i}`, i * 10 - 5, 'd1')]));
    s.cut();
  }
  t.true(s.ringStart().wall > 0n);
  t.is(s.batchAt(g(0)), undefined);
  t.deepEqual(s.end, g(100));
});

test('more than maxBatchBytes waiting is cut at the earliest first-chunk end, one chunk per node at most', (t) => {
  const s = new OwnStream(['d1', 'd2'], g(0), { maxBatchBytes: 60, ringBytes: 1 << 20, maxQueuedBytes: 1 << 20 });
  s.onFeed('d1', g(0), g(10), encodeVersions([v('a', 5, 'd1')]));
  s.onFeed('d1', g(10), g(50), encodeVersions([v('b', 45, 'd1')]));
  s.onFeed('d2', g(0), g(30), encodeVersions([v('c', 25, 'd2')]));
  s.onFeed('d2', g(30), g(50), encodeVersions([v('d', 35, 'd2')]));
  t.true(s.full());
  const b = s.cut()!;
  t.deepEqual(b.to, g(10));
  t.deepEqual(decodeDelta(b.delta).map((x) => x.key.toString()), ['a']);
});
