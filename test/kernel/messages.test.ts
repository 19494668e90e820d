import test from 'ava';
import fc from 'fast-check';
import { MESSAGE_FORMAT, decodeMessage, encodeMessage, type Message } from '../../kernel/messages.js';
import { decodeCommitRecord, decodeMembership, encodeCommitRecord, encodeMembership, type CommitRecord } from '../../kernel/records.js';
import type { Glt } from '../../glts/glt.js';
import type { Version } from '../../datanode/version.js';

const g = (wall: bigint, logical = 0): Glt => ({ wall, logical });
const v = (key: string, value: string | null, ts: Glt, origin: string): Version => ({
  key: Buffer.from(key),
  value: value === null ? null : Buffer.from(value),
  ts,
  origin,
});

const samples: Message[] = [
  { type: 'begin', epoch: 7n, roundId: 3, T: g(1763751000123456789n, 2), members: ['a', 'b'], joining: [{ region: 'b', watermark: g(5n) }], prev: { T: g(9n), prevT: g(4n), members: ['a'] } },
  { type: 'delta', epoch: 7n, roundId: 3, T: g(10n), from: 'a', base: g(9n), holds: g(8n), versions: [v('k', 'x', g(10n), 'a-d1'), v('k2', null, g(9n, 1), 'a-d2')] },
  { type: 'waiting', epoch: 7n, roundId: 3, T: g(10n), region: 'a', missing: ['b'], caughtUp: false },
  { type: 'unable', epoch: 7n, roundId: 3, T: g(10n), region: 'a', code: 'UNAVAILABLE' },
  { type: 'ready', epoch: 7n, roundId: 3, T: g(10n), region: 'a', frontier: g(9n), collectMs: 0, exchangeMs: 0 },
  { type: 'commit', epoch: 7n, roundId: 3, T: g(10n), prevT: g(9n), members: ['a', 'b'] },
  { type: 'abort', epoch: 7n, roundId: 3, T: g(10n) },
  { type: 'join', region: 'b', frontier: g(2n) },
  { type: 'catchup-request', reqId: 1, mode: 'own', region: 'b', from: g(2n), to: g(10n) },
  { type: 'catchup', reqId: 1, mode: 'all', region: 'a', from: g(2n), to: g(10n), full: true, horizon: g(3n), versions: [v('', '', g(3n), 'a-d1')] },
  { type: 'catchup-refused', reqId: 1, region: 'a', frontier: g(1n) },
];

test('every message round-trips through the codec', (t) => {
  for (const m of samples) {
    const d = decodeMessage(encodeMessage(m));
    t.true(d.ok, m.type);
    if (d.ok) t.deepEqual(d.value, m);
  }
});

test('deltas of arbitrary versions round-trip, wide GLTs included', (t) => {
  const glt = fc.record({ wall: fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }), logical: fc.integer({ min: 0, max: 0xffff_ffff }) });
  const version = fc.record({
    key: fc.uint8Array({ maxLength: 20 }).map((b) => Buffer.from(b)),
    value: fc.option(fc.uint8Array({ maxLength: 40 }).map((b) => Buffer.from(b)), { nil: null }),
    ts: glt,
    origin: fc.string({ minLength: 1, maxLength: 10 }).filter((s) => !s.includes('\0')),
  });
  fc.assert(
    fc.property(fc.array(version, { maxLength: 8 }), glt, (versions, T) => {
      const m: Message = { type: 'delta', epoch: 1n, roundId: 1, T, from: 'r', base: T, holds: T, versions };
      const d = decodeMessage(encodeMessage(m));
      return d.ok && JSON.stringify(encodeMessage(d.value)) === JSON.stringify(encodeMessage(m));
    }),
  );
  t.pass();
});

/** A frame around an arbitrary JSON header (and optional trailing bytes). */
function frame(header: unknown, tail: Buffer = Buffer.alloc(0)): Buffer {
  const h = Buffer.from(JSON.stringify(header) ?? 'null');
  const p = Buffer.alloc(5);
  p.writeUInt8(MESSAGE_FORMAT, 0);
  p.writeUInt32BE(h.length, 1);
  return Buffer.concat([p, h, tail]);
}

test('bad input never throws: a coded error naming the field', (t) => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 64 }), (bytes) => {
      const d = decodeMessage(bytes);
      return d.ok || d.error.code === 'INVALID_ARGUMENT' || d.error.code === 'DELTA_CORRUPT';
    }),
  );
  fc.assert(
    fc.property(fc.jsonValue(), (j) => {
      const d = decodeMessage(frame(j));
      return d.ok || d.error.code === 'INVALID_ARGUMENT';
    }),
  );
  const bad = (o: unknown) => decodeMessage(frame(o));
  const r1 = bad({ type: 'ready', epoch: '-1', roundId: 1, T: ['1', 0], region: 'a', frontier: ['1', 0] });
  t.false(r1.ok);
  if (!r1.ok) t.is(r1.error.details.path, 'epoch');
  const r2 = bad({ type: 'abort', epoch: '1', roundId: 1, T: ['18446744073709551616', 0] });
  t.false(r2.ok);
  const r3 = bad({ type: 'nope' });
  t.false(r3.ok);
  if (!r3.ok) t.is(r3.error.code, 'INVALID_ARGUMENT');
  const r4 = bad({ type: 'commit', epoch: '1', roundId: 1, T: ['1', 0], prevT: ['0', 0], members: ['a', 'a'] });
  t.false(r4.ok, 'duplicate members');
  const good = encodeMessage(samples[1]!);
  good[good.length - 1] ^= 0xff;
  const r5 = decodeMessage(good);
  t.false(r5.ok, 'corrupt delta');
  if (!r5.ok) t.is(r5.error.code, 'DELTA_CORRUPT');
  const r6 = decodeMessage(frame({ type: 'abort', epoch: '1', roundId: 1, T: ['1', 0] }, Buffer.from([1])));
  t.false(r6.ok, 'trailing bytes');
});

test('etcd records round-trip and reject garbage', (t) => {
  const c: CommitRecord = { T: g(10n, 1), prevT: g(9n), epoch: 3n, roundId: 4, members: ['a', 'b'], beginToReadyMs: 1.5, collectMs: 0, exchangeMs: 0, coordinator: 'c1' };
  const dc = decodeCommitRecord(encodeCommitRecord(c));
  t.true(dc.ok);
  if (dc.ok) t.deepEqual(dc.value, c);
  const m = { version: 2, members: ['a'], excluded: [{ region: 'b', watermark: g(5n) }] };
  const dm = decodeMembership(encodeMembership(m));
  t.true(dm.ok);
  if (dm.ok) t.deepEqual(dm.value, m);
  const bad = decodeCommitRecord(Buffer.from('{"T":1}'));
  t.false(bad.ok);
  if (!bad.ok) t.is(bad.error.code, 'INVALID_ARGUMENT');
});
