import test from 'ava';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { changeKey, decodeChangeKey, decodeVersionKey, escape, unescape, versionKey } from '../../datanode/keys.js';
import { compareVersionOrder } from '../../glts/glt.js';

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

test('change keys sort by (ts, origin, key) and decode back', (t) => {
  fc.assert(
    fc.property(fc.tuple(key, ts, origin), fc.tuple(key, ts, origin), ([ka, ta, oa], [kb, tb, ob]) => {
      const a = changeKey(ta, oa, ka);
      const b = changeKey(tb, ob, kb);
      const want = compareVersionOrder(ta, oa, tb, ob) || Buffer.compare(ka, kb);
      assert.equal(Math.sign(Buffer.compare(a, b)), Math.sign(want));
      assert.deepEqual(decodeChangeKey(a), { key: ka, ts: ta, origin: oa });
    }),
  );
  t.pass();
});
