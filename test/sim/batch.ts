import test from 'ava';
import { describeFailure, randomSpec, runSpec } from './schedule.js';

/**
 * Registers one ava test that runs `count` seeded random schedules starting at seed
 * `first` (+ SIM_BASE_SEED, to explore other seeds locally). The suite is split over a
 * few files so ava runs them on both cores. A failure names its seed and the replay command.
 */
export function registerBatch(first: number, count: number): void {
  const base = Number(process.env.SIM_BASE_SEED ?? 0);
  const from = base + first;
  test(`random schedules ${from}..${from + count - 1}: S, D, M hold after every step`, async (t) => {
    let events = 0;
    for (let seed = from; seed < from + count; seed++) {
      const o = await runSpec(randomSpec(seed));
      if (!o.ok) {
        t.fail(describeFailure(o));
        return;
      }
      events += o.stats!.events;
    }
    t.log(`${count} schedules, ${events} events`);
    t.pass();
  });
}
