import test from 'ava';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { changeKey, changeKeyOrigin, changeOriginPrefix, changeRange, decodeChangeKey, decodeHiddenKey, decodeStoredValue, decodeVersionKey, encodeStoredValue, escape, hiddenKey, prefixSuccessor, unescape, versionKey } from '../../datanode/keys.js';
import { compareGlt, compareVersionOrder } from '../../glts/glt.js';

const bytes = fc.uint8Array({ maxLength: 12 }).map((a) => Buffer.from(a));
/** Biased to the bytes the escaping treats specially. */
const edgy = fc.array(fc.constantFrom(0x00, 0x01, 0xfe, 0xff, 0x61), { maxLength: 6 }).map((a) => Buffer.from(a));
const key = fc.oneof(bytes, edgy);
const ts = fc.record({ wall: fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }), logical: fc.integer({ min: 0, max: 0xffff_ffff }) }).map((g) => ({ ...g }));
const origin = fc.oneof(fc.constantFrom('a', 'ab', 'b', 'node-1', 'node-10', 'é'), fc.string({ minLength: 1, maxLength: 8 }).filter((s) => !s.includes('\0')));

test('escape preserves byte order, is prefix-free and decodes back', (t) => {
  fc.assert(
    fc.property(key, key, (a, b) => {
      const ea = escape(a);
      const eb = escape(b);
      assert.equal(Math.sign(Buffer.compare(ea, eb)), Math.sign(Buffer.compare(a, b)));
      if (!a.equals(b)) assert.ok(!eb.subarray(0, ea.length).equals(ea), 'an escaped key is a prefix of another');
      assert.deepEqual(unescape(ea, 0), { raw: a, end: ea.length });
    }),
  );
  t.pass();
});

test('version keys group by user key, newest (ts, origin) first, and decode back', (t) => {
  fc.assert(
    fc.property(fc.tuple(key, ts, origin), fc.tuple(key, ts, origin), ([ka, ta, oa], [kb, tb, ob]) => {
      const a = versionKey(ka, ta, oa);
      const b = versionKey(kb, tb, ob);
      const want = Buffer.compare(ka, kb) || -compareVersionOrder(ta, oa, tb, ob);
      assert.equal(Math.sign(Buffer.compare(a, b)), Math.sign(want));
      assert.deepEqual(decodeVersionKey(a), { key: ka, ts: ta, origin: oa });
    }),
  );
  t.pass();
});

test('change keys sort by (origin, ts, key), decode back, and each origin is one prefix', (t) => {
  fc.assert(
    fc.property(fc.tuple(key, ts, origin), fc.tuple(key, ts, origin), ([ka, ta, oa], [kb, tb, ob]) => {
      const a = changeKey(oa, ta, ka);
      const b = changeKey(ob, tb, kb);
      const want = Buffer.compare(Buffer.from(oa, 'utf8'), Buffer.from(ob, 'utf8')) || compareGlt(ta, tb) || Buffer.compare(ka, kb);
      assert.equal(Math.sign(Buffer.compare(a, b)), Math.sign(want));
      assert.deepEqual(decodeChangeKey(a), { key: ka, ts: ta, origin: oa });
      assert.equal(changeKeyOrigin(a), oa);
      // b lies past a's whole origin prefix exactly when its origin sorts after a's.
      const past = Buffer.compare(b, prefixSuccessor(changeOriginPrefix(oa))!) >= 0;
      assert.equal(past, Buffer.compare(Buffer.from(ob, 'utf8'), Buffer.from(oa, 'utf8')) > 0);
      const r = changeRange(oa, ta, tb); // (ta, tb] of oa
      const inRange = Buffer.compare(b, r.gte) >= 0 && Buffer.compare(b, r.lt) < 0;
      assert.equal(inRange, ob === oa && compareGlt(tb, ta) > 0, 'b lies in (ta, tb] of oa exactly when it is of oa and tb > ta');
    }),
  );
  t.pass();
});

test('hidden keys sort by (key, ts, origin) and decode back', (t) => {
  fc.assert(
    fc.property(fc.tuple(key, ts, origin), fc.tuple(key, ts, origin), ([ka, ta, oa], [kb, tb, ob]) => {
      const a = hiddenKey(ka, ta, oa);
      const b = hiddenKey(kb, tb, ob);
      const want = Buffer.compare(ka, kb) || compareVersionOrder(ta, oa, tb, ob);
      assert.equal(Math.sign(Buffer.compare(a, b)), Math.sign(want));
      assert.deepEqual(decodeHiddenKey(a), { key: ka, ts: ta, origin: oa });
    }),
  );
  t.pass();
});

test('stored values: tombstones, values, re-stamped ones with their original ts', (t) => {
  const value = fc.option(fc.uint8Array({ maxLength: 20 }).map((a) => Buffer.from(a)), { nil: null });
  fc.assert(
    fc.property(value, fc.option(ts, { nil: undefined }), (v, orig) => {
      const enc = encodeStoredValue(v, orig);
      assert.equal(enc[0], (orig ? 2 : 0) + (v ? 1 : 0));
      assert.deepEqual(decodeStoredValue(enc), orig ? { value: v, orig } : { value: v });
    }),
  );
  t.throws(() => decodeStoredValue(Buffer.of(4)), { message: /malformed stored value/ });
  t.throws(() => decodeStoredValue(Buffer.of(2, 0)), { message: /original ts/ });
  t.throws(() => decodeStoredValue(Buffer.of(0, 1)), { message: /tombstone/ });
});
