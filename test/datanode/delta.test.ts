import test from 'ava';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { AetherError } from '../../common/errors.js';
import { decodeDelta, encodeDelta } from '../../datanode/delta.js';
import type { Version } from '../../datanode/version.js';

const version: fc.Arbitrary<Version> = fc.record({
  key: fc.uint8Array({ maxLength: 40 }).map((a) => Buffer.from(a)),
  value: fc.option(fc.uint8Array({ maxLength: 200 }).map((a) => Buffer.from(a)), { nil: null }),
  ts: fc.record({ wall: fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }), logical: fc.integer({ min: 0, max: 0xffff_ffff }) }).map((g) => ({ ...g })),
  origin: fc.string({ minLength: 1, maxLength: 20 }).filter((s) => !s.includes('\0') && Buffer.byteLength(s) <= 255),
}).map((v) => ({ ...v }));
const versions = fc.array(version, { maxLength: 30 });

function codeOf(fn: () => unknown): string {
  try {
    fn();
    return 'none';
  } catch (err) {
    return err instanceof AetherError ? err.code : `foreign:${String(err)}`;
  }
}

test('round trip: decode(encode(vs)) equals vs', (t) => {
  fc.assert(fc.property(versions, (vs) => assert.deepEqual(decodeDelta(encodeDelta(vs)), vs)));
  t.deepEqual(decodeDelta(encodeDelta([])), []);
});

test('repetitive data compresses', (t) => {
  const vs = Array.from({ length: 1000 }, (_, i): Version => ({ key: Buffer.from(`user/${i % 100}`), value: Buffer.alloc(100, 'x'), ts: { wall: 1n + BigInt(i), logical: 0 }, origin: 'us-east-d1' }));
  const raw = vs.reduce((n, v) => n + v.key.length + (v.value?.length ?? 0) + 22, 0);
  t.true(encodeDelta(vs).length < raw / 4);
});

test('every truncation is rejected with DELTA_CORRUPT', (t) => {
  fc.assert(
    fc.property(versions, fc.nat(), (vs, cut) => {
      const buf = encodeDelta(vs);
      assert.equal(codeOf(() => decodeDelta(buf.subarray(0, cut % buf.length))), 'DELTA_CORRUPT');
    }),
  );
  t.pass();
});

test('any flipped byte is rejected with DELTA_CORRUPT', (t) => {
  fc.assert(
    fc.property(versions, fc.nat(), fc.integer({ min: 1, max: 255 }), (vs, at, xor) => {
      const buf = Buffer.from(encodeDelta(vs));
      buf[at % buf.length] ^= xor;
      assert.equal(codeOf(() => decodeDelta(buf)), 'DELTA_CORRUPT');
    }),
  );
  t.pass();
});

test('trailing bytes and random garbage are rejected with DELTA_CORRUPT', (t) => {
  fc.assert(
    fc.property(versions, fc.uint8Array({ minLength: 1, maxLength: 16 }), (vs, extra) => {
      assert.equal(codeOf(() => decodeDelta(Buffer.concat([encodeDelta(vs), extra]))), 'DELTA_CORRUPT');
    }),
  );
  fc.assert(fc.property(fc.uint8Array({ maxLength: 300 }), (junk) => assert.equal(codeOf(() => decodeDelta(junk)), 'DELTA_CORRUPT')));
  t.pass();
});

test('a well-checksummed but malformed body is rejected whole, never partially', async (t) => {
  const { crc32 } = await import('node:zlib');
  const { compressSync } = await import('lz4-napi');
  const good = encodeDelta([{ key: Buffer.from('k'), value: Buffer.from('v'), ts: { wall: 1n, logical: 0 }, origin: 'o' }]);
  // Re-seal bodies that pass the checksum yet lie: wrong count, bad kind, bad UTF-8, empty origin.
  const reseal = (raw: Buffer, count: number) => {
    const body = compressSync(raw);
    const header = Buffer.from(good.subarray(0, 24));
    header.writeUInt32BE(count, 8);
    header.writeUInt32BE(raw.length, 12);
    header.writeUInt32BE(body.length, 16);
    header.writeUInt32BE(crc32(body, crc32(header.subarray(0, 20))), 20);
    return Buffer.concat([header, body]);
  };
  const entry = (origin: Buffer, kind: number) => Buffer.concat([Buffer.from([0, 1]), Buffer.from('k'), Buffer.from([origin.length]), origin, Buffer.alloc(12), Buffer.from([kind]), kind === 1 ? Buffer.from([0, 0, 0, 1, 0x76]) : Buffer.alloc(0)]);
  const ok = entry(Buffer.from('o'), 1);
  t.is(decodeDelta(reseal(ok, 1)).length, 1);
  t.is(codeOf(() => decodeDelta(reseal(Buffer.concat([ok, ok]), 3))), 'DELTA_CORRUPT');
  t.is(codeOf(() => decodeDelta(reseal(Buffer.concat([ok, ok]), 1))), 'DELTA_CORRUPT');
  t.is(codeOf(() => decodeDelta(reseal(entry(Buffer.from('o'), 2), 1))), 'DELTA_CORRUPT');
  t.is(codeOf(() => decodeDelta(reseal(entry(Buffer.from([0xc3, 0x28]), 0), 1))), 'DELTA_CORRUPT');
  t.is(codeOf(() => decodeDelta(reseal(entry(Buffer.alloc(0), 0), 1))), 'DELTA_CORRUPT');
  t.is(codeOf(() => decodeDelta(reseal(entry(Buffer.from('a\0b'), 0), 1))), 'DELTA_CORRUPT');
});

test('encoding refuses malformed versions with their codes', (t) => {
  t.is(codeOf(() => encodeDelta([{ key: Buffer.alloc(5000), value: null, ts: { wall: 0n, logical: 0 }, origin: 'o' }])), 'KEY_TOO_LARGE');
  t.is(codeOf(() => encodeDelta([{ key: Buffer.alloc(1), value: null, ts: { wall: 0n, logical: 0 }, origin: '' }])), 'INVALID_ARGUMENT');
});
