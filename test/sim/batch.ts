import test from 'ava';
import { describeFailure, randomSpec, runSpec } from './schedule.js';

/** Schedules per ava test: small enough that results keep coming well within ava's timeout on a loaded machine. */
const CHUNK = 50;

/**
 * Registers serial ava tests running `count` seeded random schedules from seed `first`
 * (+ SIM_BASE_SEED, to explore other seeds locally). The suite is split over a few
 * files so ava runs them on both cores. A failure names its seed and the replay command.
 */
export function registerBatch(first: number, count: number): void {
  const base = Number(process.env.SIM_BASE_SEED ?? 0);
  for (let from = base + first; from < base + first + count; from += CHUNK) {
    const to = Math.min(from + CHUNK, base + first + count);
    test.serial(`random schedules ${from}..${to - 1}: S, D, M hold after every step`, async (t) => {
      for (let seed = from; seed < to; seed++) {
        const o = await runSpec(randomSpec(seed));
        if (!o.ok) {
          t.fail(describeFailure(o));
          return;
        }
      }
      t.pass();
    });
  }
}
