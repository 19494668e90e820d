import test from 'ava';
import { AetherError } from '../../common/errors.js';
import type { Glt } from '../../glts/glt.js';
import { VisibilitySampler, sampleEvery, type ReadAt, type VisibilityRead } from '../../history/visibility-sampler.js';
import type { AcknowledgedWrite } from '../../history/write-load.js';

const g = (wall: number, logical = 0): Glt => ({ wall: BigInt(wall), logical });
const regions = ['a', 'b', 'c'];

function write(n: number, o: Partial<AcknowledgedWrite> = {}): AcknowledgedWrite {
  return { region: regions[n % 3]!, key: `k${n}`, value: `v${n}`, ts: g(1000 + n), origin: `${regions[n % 3]}-d1`, ackedAtMs: 100 + n, ...o };
}

/** A reader whose reads resolve when the test says so. */
function manualReader() {
  const calls: { region: string; key: string; minGlt: Glt; waitMs: number; resolve: (r: VisibilityRead) => void; reject: (e: unknown) => void }[] = [];
  const read: ReadAt = (region, key, minGlt, waitMs) => new Promise((resolve, reject) => calls.push({ region, key, minGlt, waitMs, resolve, reject }));
  return { calls, read };
}

test('every Nth acknowledged write is read at once in every other region, at min_glt = its ts', async (t) => {
  let now = 0;
  const r = manualReader();
  const s = new VisibilitySampler(r.read, { regions, every: 3, maxInFlight: 100, timeoutMs: 1000, now: () => now });
  for (let n = 0; n < 7; n++) s.onAck(write(n));
  // Writes 0, 3 and 6 are sampled: two reads each, never in the writer's region.
  t.deepEqual(r.calls.map((c) => `${c.key}@${c.region}`), ['k0@b', 'k0@c', 'k3@b', 'k3@c', 'k6@b', 'k6@c']);
  t.true(r.calls.every((c) => c.minGlt.wall === BigInt(1000 + Number(c.key.slice(1))) && c.waitMs === 1000));
  now = 150;
  for (const c of r.calls) c.resolve({ found: true, version: c.minGlt, origin: `${regions[Number(c.key.slice(1)) % 3]}-d1`, glt: c.minGlt });
  await s.drain();
  const res = s.result();
  t.is(res.acknowledged, 7);
  t.is(res.sampledWrites, 3);
  t.is(res.reads, 6);
  t.deepEqual(res.perRegionMs.get('b'), [44, 47, 50]);
  t.deepEqual(res.perRegionMs.get('a'), []);
  t.deepEqual(res.censoredMs, [44, 44, 47, 47, 50, 50]);
  t.is(s.staleReads(), 0);
});

test('a sampled write whose reads would exceed the in-flight bound is skipped and counted', async (t) => {
  const r = manualReader();
  const s = new VisibilitySampler(r.read, { regions, every: 1, maxInFlight: 3, timeoutMs: 1000, now: () => 0 });
  s.onAck(write(0));
  s.onAck(write(1));
  t.is(r.calls.length, 2);
  r.calls[0]!.resolve({ found: true, version: g(1000), origin: 'a-d1', glt: g(1000) });
  r.calls[1]!.resolve({ found: true, version: g(1000), origin: 'a-d1', glt: g(1000) });
  await s.drain();
  s.onAck(write(2));
  t.is(r.calls.length, 4);
  s.stop();
  s.onAck(write(3));
  t.is(r.calls.length, 4);
  for (const c of r.calls.slice(2)) c.resolve({ found: false, glt: c.minGlt });
  await s.drain();
  t.is(s.result().skipped, 1);
  t.is(s.result().sampledWrites, 2);
});

test('timeouts count at the timeout in the percentiles; other errors are counted apart', async (t) => {
  const r = manualReader();
  const s = new VisibilitySampler(r.read, { regions: ['a', 'b'], every: 1, maxInFlight: 10, timeoutMs: 500, now: () => 110 });
  s.onAck(write(0, { region: 'a' }));
  s.onAck(write(1, { region: 'a' }));
  s.onAck(write(2, { region: 'a' }));
  r.calls[0]!.reject(new AetherError('SNAPSHOT_NOT_READY', 'not yet'));
  r.calls[1]!.reject(new AetherError('UNAVAILABLE', 'leader gone'));
  r.calls[2]!.resolve({ found: true, version: g(1002), origin: 'a-d1', glt: g(1002) });
  await s.drain();
  const res = s.result();
  t.is(res.timeouts, 1);
  t.is(res.errors, 1);
  t.is(res.firstError, 'UNAVAILABLE: leader gone');
  t.deepEqual(res.censoredMs, [8, 500]);
});

test('a read older than the write is stale; an absent put is explained only by a later delete within the read GLT', async (t) => {
  const r = manualReader();
  const s = new VisibilitySampler(r.read, { regions: ['a', 'b'], every: 1, maxInFlight: 10, timeoutMs: 500, now: () => 0 });
  const w0 = write(0, { region: 'a', key: 'x', ts: g(2000), origin: 'a-d1' });
  const w1 = write(1, { region: 'a', key: 'y', ts: g(2000), origin: 'a-d1' });
  const w2 = write(2, { region: 'a', key: 'z', ts: g(2000), origin: 'a-d1' });
  const w3 = write(3, { region: 'a', key: 'x', ts: g(3000), origin: 'a-d1' });
  for (const w of [w0, w1, w2, w3]) s.onAck(w);
  r.calls[0]!.resolve({ found: false, glt: g(2500) }); // x: deleted at 2100 (below the read GLT): explained
  r.calls[1]!.resolve({ found: false, glt: g(2050) }); // y: its delete at 2100 is above the read GLT: missed
  r.calls[2]!.resolve({ found: false, glt: g(2500) }); // z: failed write on the key: uncertain
  r.calls[3]!.resolve({ found: true, version: g(2999), origin: 'b-d1', glt: g(3000) }); // older than the write: stale
  await s.drain();
  t.is(s.staleReads(), 1);
  t.is(s.result().stale[0]!.key, 'x');
  t.is(s.result().absent, 3);
  const deletes: AcknowledgedWrite[] = [
    { region: 'b', key: 'x', value: null, ts: g(2100), origin: 'b-d1', ackedAtMs: 0 },
    { region: 'b', key: 'y', value: null, ts: g(2100), origin: 'b-d1', ackedAtMs: 0 },
  ];
  t.is(s.unexplainedAbsences([w0, w1, w2, w3, ...deletes], new Set(['z'])), 1);
  // Writes of a region excluded meanwhile stay hidden until re-stamped (rule D): excused.
  t.is(s.staleReads(new Set(['a'])), 0);
  t.is(s.unexplainedAbsences([w0, w1, w2, w3, ...deletes], new Set(['z']), new Set(['a'])), 0);
  t.is(s.staleReads(new Set(['b'])), 1);
  // A delete of an excluded region is re-stamped when it rejoins and may then beat a later put.
  t.is(s.unexplainedAbsences([w0, w1, w2, w3, ...deletes], new Set(['z']), new Set(['b'])), 0);
});

test('the sampling stride gives about the asked reads per second', (t) => {
  t.is(sampleEvery(5000, 50), 100);
  t.is(sampleEvery(10, 50), 1);
  t.is(sampleEvery(0, 50), 1);
});
