import test from 'ava';
import fc from 'fast-check';
import { Router } from '../../regional/router.js';

const keys = Array.from({ length: 20_000 }, (_, i) => Buffer.from(`user:${i}`));

test('every node gets a fair share of keys', (t) => {
  for (const n of [2, 3, 5]) {
    const r = new Router(Array.from({ length: n }, (_, i) => `d${i + 1}`));
    const counts = new Map<string, number>();
    for (const k of keys) counts.set(r.route(k), (counts.get(r.route(k)) ?? 0) + 1);
    t.is(counts.size, n);
    for (const c of counts.values()) {
      const share = c / keys.length;
      t.true(Math.abs(share - 1 / n) < 0.25 / n, `share ${share} for n=${n}`);
    }
  }
});

test('the mapping is deterministic and ignores the order nodes are listed in', (t) => {
  fc.assert(
    fc.property(fc.uint8Array({ minLength: 1, maxLength: 64 }), (k) => {
      const key = Buffer.from(k);
      const a = new Router(['a', 'b', 'c']);
      const b = new Router(['c', 'a', 'b']);
      return a.route(key) === b.route(key);
    }),
    { seed: 42 },
  );
  t.pass();
});

test('adding a node moves only the keys it takes over, about 1/(n+1)', (t) => {
  const before = new Router(['d1', 'd2', 'd3']);
  const after = new Router(['d1', 'd2', 'd3', 'd4']);
  let moved = 0;
  for (const k of keys) {
    const a = before.route(k);
    const b = after.route(k);
    if (a !== b) {
      moved++;
      t.is(b, 'd4');
    }
  }
  const share = moved / keys.length;
  t.true(share > 0.15 && share < 0.35, `moved ${share}`);
});

test('bad node lists are refused', (t) => {
  t.is(t.throws(() => new Router([]))!.name, 'AetherError');
  t.is((t.throws(() => new Router(['a', 'a'])) as any).code, 'INVALID_ARGUMENT');
});
