import test from 'ava';
import { describeFailure, randomSpec, runSpec } from './schedule.js';

/** Schedules per ava test: small enough that results keep coming well within ava's timeout on a loaded machine. */
const CHUNK = 50;
/**
 * Wall time one batch file may spend (SIM_BUDGET_MS overrides): 500 schedules take about
 * 40 s on this 2-core machine. Past it, the remaining schedules are skipped and the test
 * log says how many ran, so a slow CI machine stays inside its limit; `test/sim/soak.ts`
 * runs as many as asked, without a cap.
 */
const BUDGET_MS = Number(process.env.SIM_BUDGET_MS ?? 6 * 60_000);
const startedMs = performance.now();

/**
 * Registers serial ava tests running `count` seeded random schedules from seed `first`
 * (+ SIM_BASE_SEED, to explore other seeds locally). The suite is split over a few
 * files so ava runs them on both cores. A failure names its seed and the replay command.
 */
export function registerBatch(first: number, count: number): void {
  const base = Number(process.env.SIM_BASE_SEED ?? 0);
  for (let from = base + first; from < base + first + count; from += CHUNK) {
    const to = Math.min(from + CHUNK, base + first + count);
    test.serial(`random schedules ${from}..${to - 1}: S, D, M (and R without skew) hold after every step`, async (t) => {
      for (let seed = from; seed < to; seed++) {
        if (performance.now() - startedMs > BUDGET_MS) {
          t.log(`time budget of ${BUDGET_MS} ms spent: schedules ${seed}..${to - 1} not run`);
          break;
        }
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
