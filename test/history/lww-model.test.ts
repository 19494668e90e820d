import { deepStrictEqual as eq, ok, strictEqual as is } from 'node:assert/strict';
import test from 'ava';
import fc from 'fast-check';
import { LwwModel, checkAgainstModel, checkSameSnapshot, diffStates, formatDifference, type ModelVersion, type ScannedRow } from '../../history/lww-model.js';
import { compareVersionOrder, glt, type Glt } from '../../glts/glt.js';

const ORIGINS = ['ap-south-d1', 'eu-west-d1', 'us-east-d1', 'us-east-d2'];
const KEYS = ['a', 'b', 'c', 'k/1', 'k/10'];

const arbGlt = fc.record({ wall: fc.bigInt({ min: 1n, max: 20n }), logical: fc.integer({ min: 0, max: 2 }) }) as fc.Arbitrary<Glt>;
/** Versions with distinct (key, ts, origin), as a real deployment produces them. */
const arbVersions = fc
  .uniqueArray(fc.record({ key: fc.constantFrom(...KEYS), ts: arbGlt, origin: fc.constantFrom(...ORIGINS), value: fc.option(fc.string({ maxLength: 4 }), { nil: null }) }), {
    maxLength: 40,
    selector: (v) => `${v.key}|${v.ts.wall}.${v.ts.logical}|${v.origin}`,
  }) as fc.Arbitrary<ModelVersion[]>;

/** The definition, brute force: the greatest (ts, origin) ≤ T per key; a delete hides it. */
function reference(vs: readonly ModelVersion[], T: Glt): Map<string, string> {
  const best = new Map<string, ModelVersion>();
  for (const v of vs) {
    if (v.ts.wall > T.wall || (v.ts.wall === T.wall && v.ts.logical > T.logical)) continue;
    const b = best.get(v.key);
    if (!b || compareVersionOrder(v.ts, v.origin, b.ts, b.origin) > 0) best.set(v.key, v);
  }
  const out = new Map<string, string>();
  for (const [k, v] of best) if (v.value !== null) out.set(k, v.value);
  return out;
}

const rowsOf = (m: LwwModel, T: Glt): ScannedRow[] => [...m.stateAt(T)].map(([key, e]) => ({ key: Buffer.from(key), value: Buffer.from(e.value), version: e.ts, origin: e.origin }));

test('the model at any T is the greatest (ts, origin) ≤ T per key, deletes hiding it, whatever the insertion order', (t) => {
  fc.assert(
    fc.property(arbVersions, arbGlt, fc.integer(), (vs, T, seed) => {
      const shuffled = [...vs].sort((a, b) => ((a.origin.length * 31 + Number(a.ts.wall) * seed) % 7) - ((b.origin.length * 31 + Number(b.ts.wall) * seed) % 7));
      const m = new LwwModel(shuffled);
      const got = new Map([...m.stateAt(T)].map(([k, e]) => [k, e.value]));
      eq([...got].sort(), [...reference(vs, T)].sort());
      for (const k of KEYS) {
        is(m.get(k, T)?.value ?? null, reference(vs, T).get(k) ?? null);
        // newest: the same greatest version, a delete included.
        const candidates = vs.filter((v) => v.key === k && (v.ts.wall < T.wall || (v.ts.wall === T.wall && v.ts.logical <= T.logical)));
        const best = candidates.reduce<ModelVersion | null>((b, v) => (b === null || compareVersionOrder(v.ts, v.origin, b.ts, b.origin) > 0 ? v : b), null);
        const fields = (v: ModelVersion | null) => v && { key: v.key, value: v.value, ts: v.ts, origin: v.origin };
        eq(fields(m.newest(k, T)), fields(best));
      }
    }),
  );
  t.pass();
});

test('a scan equal to the model passes; any changed, missing or extra row is reported with its key', (t) => {
  fc.assert(
    fc.property(arbVersions, arbGlt, fc.nat(), (vs, T, pick) => {
      const m = new LwwModel(vs);
      const rows = rowsOf(m, T);
      eq(checkAgainstModel(m, T, rows), []);
      eq(checkSameSnapshot(rows, rows), []);
      const extra = { key: Buffer.from('zz'), value: Buffer.from('x'), version: T, origin: ORIGINS[0]! };
      const withExtra = checkAgainstModel(m, T, [...rows, extra]);
      eq(withExtra.map((d) => [d.key, d.expected, d.got?.value]), [['zz', null, 'x']]);
      if (rows.length === 0) return;
      const i = pick % rows.length;
      const missing = checkSameSnapshot(rows, rows.filter((_, j) => j !== i));
      eq(missing.map((d) => [d.key, d.got]), [[rows[i]!.key.toString(), null]]);
      const changed = rows.map((r, j) => (j === i ? { ...r, value: Buffer.concat([Buffer.from(r.value), Buffer.from('!')]) } : r));
      const diff = checkAgainstModel(m, T, changed);
      is(diff.length, 1);
      is(diff[0]!.key, rows[i]!.key.toString());
      is(diff[0]!.got!.value, `${rows[i]!.value.toString()}!`);
      ok(formatDifference(diff[0]!).startsWith(`${rows[i]!.key.toString()}: expected`));
    }),
  );
  t.pass();
});

test('a different version with the same value is a difference (the version is part of the snapshot)', (t) => {
  const m = new LwwModel([{ key: 'a', value: 'x', ts: glt(5n), origin: 'us-east-d1' }]);
  const diff = checkAgainstModel(m, glt(9n), [{ key: 'a', value: 'x', version: glt(4n), origin: 'us-east-d1' }]);
  t.is(diff.length, 1);
  t.deepEqual(diffStates(m.stateAt(glt(9n)), m.stateAt(glt(9n))), []);
});

test('a re-stamped write leaves its original GLT and appears at its new one', (t) => {
  const m = new LwwModel([
    { key: 'a', value: 'old', ts: glt(2n), origin: 'eu-west-d1' },
    { key: 'a', value: 'lost?', ts: glt(5n), origin: 'us-east-d1' },
  ]);
  t.is(m.get('a', glt(6n))?.value, 'lost?');
  m.restamp({ key: 'a', ts: glt(5n), origin: 'us-east-d1' }, { ts: glt(10n), origin: 'us-east-d1' });
  t.is(m.get('a', glt(6n))?.value, 'old');
  t.is(m.get('a', glt(10n))?.value, 'lost?');
  t.is(m.versionCount, 2);
});

test('adding the same version twice is a no-op', (t) => {
  const v = { key: 'a', value: 'x', ts: glt(1n), origin: 'o' };
  const m = new LwwModel([v, v]);
  t.is(m.versionCount, 1);
});
