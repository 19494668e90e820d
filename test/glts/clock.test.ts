import test from 'ava';
import { Clock } from '../../glts/clock.js';
import { compareGlt } from '../../glts/glt.js';
import { AetherError } from '../../common/errors.js';

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

test('now() is the interval now ∓ maxOffset', (t) => {
  const p = fakeClock(1_000n * MS);
  const clock = new Clock({ maxOffsetMs: 250, physicalNs: p.physicalNs });
  const { earliest, latest } = clock.now();
  t.is(latest.wall - earliest.wall, 500n * MS);
  t.is(latest.wall, 1_250n * MS);
});

test('update refuses a remote timestamp more than maxOffset ahead with CLOCK_OFFSET', (t) => {
  const p = fakeClock(1_000n * MS);
  const clock = new Clock({ maxOffsetMs: 250, physicalNs: p.physicalNs });
  clock.update({ wall: 1_249n * MS, logical: 7 });
  t.true(compareGlt(clock.stamp(), { wall: 1_249n * MS, logical: 7 }) > 0);
  const err = t.throws(() => clock.update({ wall: 1_251n * MS, logical: 0 }), { instanceOf: AetherError });
  t.is(err?.code, 'CLOCK_OFFSET');
});

test('advancePast(T): every later stamp is above T; a floor survives a restart', (t) => {
  const p = fakeClock(1_000n * MS);
  const clock = new Clock({ maxOffsetMs: 250, physicalNs: p.physicalNs });
  const T = { wall: 1_400n * MS, logical: 3 };
  clock.advancePast(T);
  t.true(compareGlt(clock.stamp(), T) > 0);
  const restarted = new Clock({ maxOffsetMs: 250, physicalNs: p.physicalNs, floor: T });
  t.true(compareGlt(restarted.stamp(), T) > 0);
  const err = t.throws(() => clock.advancePast({ wall: 1_600n * MS, logical: 0 }), { instanceOf: AetherError });
  t.is(err?.code, 'CLOCK_OFFSET', 'T more than 2·maxOffset ahead is refused');
});
