import test from 'ava';
import { AetherError } from '../../common/errors.js';
import { glt } from '../../glts/glt.js';
import { WriteLoad, type WriteTarget } from '../../history/write-load.js';

/** A fake deployment: one clock, every third write refused with UNAVAILABLE. */
function fakeTarget(): { target: WriteTarget; calls: { region: string; key: string; value: string | null }[] } {
  let n = 0;
  const calls: { region: string; key: string; value: string | null }[] = [];
  const write = async (region: string, key: string, value: string | null) => {
    calls.push({ region, key, value });
    const i = n++;
    await new Promise((r) => setTimeout(r, i % 5));
    if (i % 3 === 2) throw new AetherError('UNAVAILABLE', 'refused');
    return { ts: glt(BigInt(1000 + i)), origin: `${region}-d1` };
  };
  return { target: { put: (k, v, o) => write(o.region, k, v), delete: (k, o) => write(o.region, k, null) }, calls };
}

test('a bounded load: writes spread over regions and keys, failures counted by code and never acknowledged', async (t) => {
  const { target, calls } = fakeTarget();
  const load = new WriteLoad(target, { regions: ['a', 'b', 'c'], keyPrefix: 'w/', ratePerS: 2000, keys: 10, maxWrites: 60, deleteFraction: 0.3, seed: 7 });
  load.start();
  await load.done();
  const s = load.stats();
  t.is(s.sent + s.shed, 60);
  t.is(calls.length, s.sent);
  t.is(s.acknowledged + (s.failures['UNAVAILABLE'] ?? 0), s.sent);
  t.is(s.inFlight, 0);
  const acked = load.acknowledged();
  t.is(acked.length, s.acknowledged);
  t.true(acked.every((w) => Number(w.ts.wall - 1000n) % 3 !== 2), 'a refused write is never recorded');
  t.deepEqual([...new Set(calls.map((c) => c.region))].sort(), ['a', 'b', 'c']);
  t.true(calls.every((c) => /^w\/\d$/.test(c.key)));
  t.true(calls.some((c) => c.value === null) && calls.some((c) => c.value !== null));
  for (const w of acked) t.is(w.origin, `${w.region}-d1`);
});

test('the same seed gives the same keys and operations', async (t) => {
  const run = async () => {
    const { target, calls } = fakeTarget();
    const load = new WriteLoad(target, { regions: ['a', 'b'], keyPrefix: 'k', ratePerS: 5000, keys: 100, maxWrites: 30, seed: 42 });
    load.start();
    await load.done();
    return calls.map((c) => `${c.region} ${c.key} ${c.value === null}`);
  };
  t.deepEqual(await run(), await run());
});

test('stop() ends a running load and waits for the writes in flight', async (t) => {
  const { target } = fakeTarget();
  const load = new WriteLoad(target, { regions: ['a'], keyPrefix: 'k', ratePerS: 500, keys: 5, maxWrites: 100_000 });
  load.start();
  await new Promise((r) => setTimeout(r, 50));
  await load.stop();
  const s = load.stats();
  t.false(load.running);
  t.is(s.inFlight, 0);
  t.true(s.sent < 100_000);
  t.is(s.acknowledged + (s.failures['UNAVAILABLE'] ?? 0), s.sent);
});
