import test from 'ava';
import { describeFailure, randomSpec, regressions, runSpec, scenarios, type SimOutcome } from './schedule.js';
import type { SimStats } from './world.js';

/**
 * The deterministic simulator's named scenarios (random schedules: random-*.test.ts).
 * Replay one exactly, with a trace of its last events on failure:
 *   SIM_SEED=123 npx ava test/sim/sim.test.ts        (a random schedule)
 *   SIM_SCENARIO=303 npx ava test/sim/sim.test.ts    (a scenario, by its seed)
 */
function report(o: SimOutcome): string {
  return `${describeFailure(o)}\nlast events:\n${(o.trace ?? []).slice(-200).join('\n')}`;
}

const expectations: Record<number, (s: SimStats) => string | undefined> = {
  101: (s) => (s.exclusions === 0 && s.commits >= 50 ? undefined : `expected ≥ 50 commits and no exclusion, got ${s.commits}/${s.exclusions}`),
  202: (s) => (s.commits >= 20 ? undefined : `expected progress despite loss, got ${s.commits} commits`),
  303: (s) => (s.exclusions >= 1 && s.readmissions >= 1 && s.restamped > 0 ? undefined : `expected exclusion, re-stamp and readmission: ${JSON.stringify(s)}`),
  404: (s) => (s.fullTransfers >= 1 && s.backfills >= 5 ? undefined : `expected a state transfer in several batches: ${JSON.stringify(s)}`),
  505: (s) => (s.elections >= 4 && s.commits >= 30 ? undefined : `expected failovers and progress: ${JSON.stringify(s)}`),
  606: (s) => (s.commits >= 30 ? undefined : `expected progress through leader crashes: ${JSON.stringify(s)}`),
  808: (s) => (s.exclusions === 1 && s.readmissions === 1 ? undefined : `expected exactly one exclusion and its readmission: ${JSON.stringify(s)}`),
  909: (s) => (s.commits >= 30 ? undefined : `expected progress after every leader crashed: ${JSON.stringify(s)}`),
  1001: (s) => (s.commits >= 100 && s.readmissions === 1 ? undefined : `expected commits every interval over slow links, and one readmission: ${JSON.stringify(s)}`),
  1101: (s) => (s.relays >= 1 && s.readmissions >= 2 ? undefined : `expected a relay of the absent region: ${JSON.stringify(s)}`),
};

const seed = process.env.SIM_SEED;
const scenario = process.env.SIM_SCENARIO;

if (seed !== undefined) {
  test(`replay random schedule seed ${seed}`, async (t) => {
    const o = await runSpec(randomSpec(Number(seed)), { trace: true });
    if (!o.ok) t.fail(report(o));
    else t.pass(JSON.stringify(o.stats));
  });
} else {
  for (const spec of scenarios) {
    if (scenario !== undefined && Number(scenario) !== spec.seed) continue;
    test(`scenario "${spec.name}" (seed ${spec.seed})`, async (t) => {
      const o = await runSpec(spec, { trace: scenario !== undefined });
      if (!o.ok) {
        t.fail(report(o));
        return;
      }
      const miss = expectations[spec.seed]?.(o.stats!);
      if (miss) t.fail(`${spec.name}: ${miss}`);
      else t.pass();
    });
  }

  for (const r of regressions) {
    test(`regression: random schedule ${r.seed} (${r.caught})`, async (t) => {
      const o = await runSpec(randomSpec(r.seed));
      if (!o.ok) t.fail(describeFailure(o));
      else t.pass();
    });
  }

  test('a seed replays exactly: same events, same outcome', async (t) => {
    const a = await runSpec(randomSpec(4242), { trace: true });
    const b = await runSpec(randomSpec(4242), { trace: true });
    t.deepEqual(a.stats, b.stats);
    t.deepEqual(a.trace, b.trace);
  });
}
