import test from 'ava';
import { spawnSync } from 'node:child_process';
import { Clock, systemPhysicalNs } from '../../glts/clock.js';
import { compareGlt } from '../../glts/glt.js';

const MS = 1_000_000n;

function fakeClock(startNs: bigint) {
  let now = startNs;
  return { physicalNs: () => now, advance: (ns: bigint) => (now += ns) };
}

test('stamps strictly increase even when physical time stands still or goes back', (t) => {
  const p = fakeClock(1_000n * MS);
  const clock = new Clock({ maxOffsetMs: 250, physicalNs: p.physicalNs });
  let prev = clock.stamp();
  for (let i = 0; i < 1000; i++) {
    if (i === 500) p.advance(-10n * MS);
    const next = clock.stamp();
    t.true(compareGlt(next, prev) > 0);
    prev = next;
  }
});

test('stamps run at real time: the wall is the physical reading whenever it moved on', (t) => {
  const p = fakeClock(1_000n * MS);
  const clock = new Clock({ maxOffsetMs: 250, physicalNs: p.physicalNs });
  for (let i = 0; i < 100; i++) {
    p.advance(BigInt(i % 3) * 1000n);
    const s = clock.stamp();
    t.true(s.wall <= p.physicalNs(), 'never ahead of the physical clock');
    if (i % 3 !== 0) t.deepEqual(s, { wall: p.physicalNs(), logical: 0 });
  }
  t.deepEqual(clock.last(), clock.last(), 'last() does not advance');
  const last = clock.last();
  t.true(compareGlt(clock.stamp(), last) > 0);
});

test('now() is the interval now ∓ maxOffset', (t) => {
  const p = fakeClock(1_000n * MS);
  const clock = new Clock({ maxOffsetMs: 250, physicalNs: p.physicalNs });
  const { earliest, latest } = clock.now();
  t.is(latest.wall - earliest.wall, 500n * MS);
  t.is(latest.wall, 1_250n * MS);
});

test('a floor holds the clock above it (stamps run ahead) until the physical clock passes it', (t) => {
  const p = fakeClock(1_000n * MS);
  const floor = { wall: 1_400n * MS, logical: 3 };
  const clock = new Clock({ maxOffsetMs: 250, physicalNs: p.physicalNs, floor });
  t.true(compareGlt(clock.last(), floor) >= 0);
  const s = clock.stamp();
  t.true(compareGlt(s, floor) > 0);
  t.is(s.wall, floor.wall);
  p.advance(500n * MS);
  t.deepEqual(clock.stamp(), { wall: 1_500n * MS, logical: 0 }, 'back at real time once the physical clock passed the floor');
  const below = new Clock({ maxOffsetMs: 250, physicalNs: p.physicalNs, floor: { wall: 1n, logical: 0 } });
  t.is(below.stamp().wall, 1_500n * MS, 'a floor in the past changes nothing');
});

test('systemPhysicalNs: sub-ms precision, close to Date.now(), monotonic', (t) => {
  const a = systemPhysicalNs();
  const b = systemPhysicalNs();
  t.true(b >= a);
  const diffMs = Number(a / MS) - Date.now();
  t.true(Math.abs(diffMs) < 50, `within 50 ms of Date.now() (${diffMs} ms)`);
  const readings = Array.from({ length: 200 }, () => systemPhysicalNs() % MS);
  t.true(readings.some((r) => r !== 0n), 'readings carry sub-ms digits');
});

test('systemPhysicalNs: another process on the machine reads the same clock', (t) => {
  // The child prints its reading; ours are taken around its lifetime, so its reading lies between them (≤ a few ms of rounding).
  const before = systemPhysicalNs();
  const child = spawnSync(process.execPath, ['--import', 'tsx', '-e', "import('./glts/clock.ts').then((m) => console.log(String(m.systemPhysicalNs())))"], { encoding: 'utf8' });
  const after = systemPhysicalNs();
  t.is(child.status, 0, child.stderr);
  const theirs = BigInt(child.stdout.trim());
  t.true(theirs >= before - MS && theirs <= after + MS, `${before} ≤ ${theirs} ≤ ${after}`);
});
