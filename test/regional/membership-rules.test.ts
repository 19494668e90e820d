import test from 'ava';
import { GLT_ZERO, type Glt } from '../../glts/glt.js';
import { MAX_RESTAMP_RULES, type MembershipRecord } from '../../kernel/records.js';
import { MembershipRules } from '../../regional/membership-rules.js';

const g = (wall: number): Glt => ({ wall: BigInt(wall), logical: 0 });
const ids = (r: string) => [`${r}-d1`];

test('a readmission is hidden then re-stamped once its versions are held up to upTo; then current exclusions; then the version is recorded', (t) => {
  const rules = new MembershipRules(ids);
  const m: MembershipRecord = {
    version: 4,
    members: ['a', 'b'],
    excluded: [{ region: 'c', watermark: g(50), hiddenAbove: g(50) }],
    restamps: [{ version: 3, region: 'b', above: g(10), upTo: g(40), floor: g(30) }],
  };
  let held = g(35);
  const next = () => rules.next(m, 2, () => held);
  t.deepEqual(next(), { kind: 'waiting', region: 'b', upTo: g(40) });
  held = g(40);
  const hide = next();
  t.like(hide, { kind: 'hide', region: 'b', above: g(10) });
  rules.finished(hide as never, 4);
  const restamp = next();
  t.like(restamp, { kind: 'restamp', rule: { origins: ['b-d1'], above: g(10), upTo: g(40), floor: g(30) } });
  rules.finished(restamp as never, 4);
  const hideC = next();
  t.like(hideC, { kind: 'hide', region: 'c', above: g(50) });
  rules.finished(hideC as never, 4);
  t.like(next(), { kind: 'applied', version: 4 });
  t.deepEqual(rules.next(m, 4, () => held), { kind: 'idle' });
});

test('rules owed but no longer kept: a gap, never a silent skip', (t) => {
  const restamps = Array.from({ length: MAX_RESTAMP_RULES }, (_x, i) => ({ version: 10 + i, region: 'b', above: GLT_ZERO, upTo: g(1), floor: g(1) }));
  const m: MembershipRecord = { version: 10 + MAX_RESTAMP_RULES, members: ['a', 'b'], excluded: [], restamps };
  t.like(new MembershipRules(ids).next(m, 5, () => g(1000)), { kind: 'gap', appliedVersion: 5, oldestRule: 10 });
});
