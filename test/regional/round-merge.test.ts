import test from 'ava';
import fc from 'fast-check';
import { compareChangeOrder, mergeDeltas } from '../../regional/merge.js';
import type { Version } from '../../datanode/version.js';

const version = fc.record({
  key: fc.constantFrom('a', 'b', 'c').map((k) => Buffer.from(k)),
  value: fc.option(fc.constantFrom('1', '2').map((x) => Buffer.from(x)), { nil: null }),
  ts: fc.record({ wall: fc.bigInt({ min: 0n, max: 5n }), logical: fc.integer({ min: 0, max: 2 }) }),
  origin: fc.constantFrom('n1', 'n2'),
});

test('mergeDeltas: LWW order, every version kept once, whatever the split', (t) => {
  fc.assert(
    fc.property(fc.array(fc.array(version, { maxLength: 6 }), { maxLength: 4 }), (lists) => {
      const merged = mergeDeltas(lists);
      for (let i = 1; i < merged.length; i++) if (compareChangeOrder(merged[i - 1]!, merged[i]!) >= 0) return false;
      const all = lists.flat();
      return all.every((v: Version) => merged.some((m) => compareChangeOrder(m, v) === 0)) && merged.length <= all.length;
    }),
  );
  t.pass();
});
