import test from 'ava';
import fc from 'fast-check';
import { Random } from '../../common/random.js';
import { planDrill, DRILL_DESCRIPTIONS, DRILL_NAMES, FAULT_DRILLS } from '../../chaos/scenarios.js';

test('every drill is listed with a description; catch-up is the one that is no fault drill', (t) => {
  t.deepEqual(Object.keys(DRILL_DESCRIPTIONS).sort(), [...DRILL_NAMES].sort());
  t.deepEqual(DRILL_NAMES.filter((n) => !(FAULT_DRILLS as readonly string[]).includes(n)), ['catch-up']);
});

test('a single-fault drill is one fault over the whole window', (t) => {
  for (const name of FAULT_DRILLS.filter((n) => n !== 'storm')) t.deepEqual(planDrill(name, 3000, new Random(1), 3), [{ kind: name, atMs: 0, durationMs: 3000 }]);
});

test('storm: 3 faults in order inside the window, at most one etcd kill and none without 3 live members; same seed, same storm', (t) => {
  fc.assert(
    fc.property(fc.integer({ min: 1, max: 2 ** 31 - 1 }), fc.integer({ min: 3, max: 600_000 }), fc.constantFrom(0, 1, 2, 3), (seed, durationMs, members) => {
      const plan = planDrill('storm', durationMs, new Random(seed), members);
      t.deepEqual(planDrill('storm', durationMs, new Random(seed), members), plan);
      t.is(plan.length, 3);
      const etcdKills = plan.filter((f) => f.kind === 'etcd-leader-kill').length;
      t.true(etcdKills <= (members >= 3 ? 1 : 0), `seed ${seed}`);
      for (const [i, f] of plan.entries()) {
        t.true(f.atMs + f.durationMs <= durationMs && f.durationMs >= 1, `seed ${seed}`);
        if (i > 0) t.true(f.atMs >= plan[i - 1]!.atMs + plan[i - 1]!.durationMs, `seed ${seed}`);
      }
    }),
  );
});
