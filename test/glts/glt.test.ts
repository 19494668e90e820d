import test from 'ava';
import fc from 'fast-check';
import {
  compareGlt,
  compareVersionOrder,
  decodeGlt,
  decodeGltDescending,
  encodeGlt,
  encodeGltDescending,
  formatGlt,
  LOGICAL_MAX,
  nextGlt,
  parseGlt,
  WALL_MAX,
  type Glt,
} from '../../glts/glt.js';
import { AetherError } from '../../common/errors.js';

const arbGlt = fc.record({ wall: fc.bigInt({ min: 0n, max: WALL_MAX }), logical: fc.integer({ min: 0, max: LOGICAL_MAX }) });

test('text form round-trips', (t) => {
  fc.assert(fc.property(arbGlt, (g) => compareGlt(parseGlt(formatGlt(g)), g) === 0));
  t.deepEqual(parseGlt('1763751000123456789.3'), { wall: 1763751000123456789n, logical: 3 });
});

test('anything but <wall>.<logical> is GLT_PARSE', (t) => {
  for (const bad of ['', 'latest', '1', '1.', '.1', '01.1', '1.01', '-1.0', '1.2.3', ' 1.2', '1.2 ', '1e3.0', '0x10.0', '18446744073709551616.0', '1.4294967296', '1.-1']) {
    const err = t.throws(() => parseGlt(bad), { instanceOf: AetherError }, bad);
    t.is(err?.code, 'GLT_PARSE', bad);
  }
});

test('binary form sorts byte-wise in time order; descending form in reverse', (t) => {
  fc.assert(
    fc.property(arbGlt, arbGlt, (a, b) => {
      const c = Math.sign(compareGlt(a, b));
      return (
        Math.sign(Buffer.compare(encodeGlt(a), encodeGlt(b))) === c &&
        Math.sign(Buffer.compare(encodeGltDescending(a), encodeGltDescending(b))) === -c &&
        compareGlt(decodeGlt(encodeGlt(a)), a) === 0 &&
        compareGlt(decodeGltDescending(encodeGltDescending(a)), a) === 0
      );
    }),
  );
  t.pass();
});

test('version order breaks (wall, logical) ties by origin, byte-wise', (t) => {
  const g: Glt = { wall: 5n, logical: 1 };
  t.true(compareVersionOrder(g, 'a', g, 'b') < 0);
  t.true(compareVersionOrder(g, 'b', g, 'a') > 0);
  t.is(compareVersionOrder(g, 'a', g, 'a'), 0);
  t.true(compareVersionOrder({ wall: 4n, logical: 9 }, 'z', g, 'a') < 0);
  t.true(compareVersionOrder(g, 'Z', g, 'a') < 0, 'byte-wise: uppercase before lowercase');
});

test('nextGlt is the successor', (t) => {
  t.deepEqual(nextGlt({ wall: 1n, logical: 2 }), { wall: 1n, logical: 3 });
  t.deepEqual(nextGlt({ wall: 1n, logical: LOGICAL_MAX }), { wall: 2n, logical: 0 });
});
