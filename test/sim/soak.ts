/**
 * The long soak of the deterministic simulator: many more seeded random schedules than CI runs.
 *
 *   node --import tsx test/sim/soak.ts --schedules 100000 [--from 1000000]
 *
 * Prints progress every 1,000 schedules and, for every failure, its seed and the command
 * that replays it (SIM_SEED=… npx ava test/sim/sim.test.ts); exits 1 if any failed.
 */
import { describeFailure, randomSpec, runSpec } from './schedule.js';

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  const v = i >= 0 ? Number(process.argv[i + 1]) : fallback;
  if (!Number.isSafeInteger(v) || v < 0) {
    console.error(`error[USAGE]: --${name} must be a non-negative integer`);
    process.exit(2);
  }
  return v;
}

const schedules = arg('schedules', 10_000);
const from = arg('from', 1_000_000);
const started = Date.now();
let failures = 0;
for (let seed = from; seed < from + schedules; seed++) {
  const o = await runSpec(randomSpec(seed));
  if (!o.ok) {
    failures++;
    console.log(describeFailure(o));
  }
  const done = seed - from + 1;
  if (done % 1000 === 0 || done === schedules) console.log(`${done}/${schedules} schedules, ${failures} failed, ${((Date.now() - started) / 1000).toFixed(1)} s`);
}
process.exit(failures > 0 ? 1 : 0);
