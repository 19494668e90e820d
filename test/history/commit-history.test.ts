import test from 'ava';
import { CommitHistory, type CommitPoint } from '../../history/commit-history.js';
import { glt } from '../../glts/glt.js';
import { excludeRegion, initialMembership, readmitRegion, type MembershipRecord } from '../../kernel/records.js';

const ALL = ['a', 'b', 'c'];
const commit = (T: number, membershipVersion = 1, members = ALL): CommitPoint => ({ T: glt(BigInt(T)), members, membershipVersion });

/** Membership records of: c excluded at 20 (v2), readmitted with upTo 40 over floor 30 (v3). */
function cOutAndBack(): { v1: MembershipRecord; v2: MembershipRecord; v3: MembershipRecord } {
  const v1 = initialMembership(ALL);
  const v2 = excludeRegion(v1, 'c', glt(20n));
  const v3 = readmitRegion(v2, 'c', glt(40n), glt(30n), ALL);
  return { v1, v2, v3 };
}

test('a write of a region that stayed a member keeps its ts; one above every commit is open', (t) => {
  const h = new CommitHistory([commit(10), commit(20), commit(30)], [initialMembership(ALL)]);
  t.deepEqual(h.fate('a', glt(15n)), { kind: 'original' });
  t.deepEqual(h.fate('a', glt(30n)), { kind: 'original' });
  t.deepEqual(h.fate('a', glt(31n)), { kind: 'open' });
  t.deepEqual(h.excludedRegions(), []);
});

test('an excluded region: its writes up to the watermark keep their ts, those above are hidden', (t) => {
  const { v1, v2 } = cOutAndBack();
  const h = new CommitHistory([commit(10), commit(20), commit(30, 2, ['a', 'b'])], [v1, v2]);
  t.deepEqual(h.fate('c', glt(20n)), { kind: 'original' });
  t.deepEqual(h.fate('c', glt(25n)), { kind: 'hidden', hiddenAbove: glt(20n) });
  t.deepEqual(h.fate('c', glt(99n)), { kind: 'hidden', hiddenAbove: glt(20n) });
  t.deepEqual(h.fate('a', glt(25n)), { kind: 'original' });
  t.deepEqual(h.excludedRegions(), ['c']);
});

test('readmitted: the rule re-stamps its writes in (above, upTo]; those above upTo keep their ts', (t) => {
  const { v1, v2, v3 } = cOutAndBack();
  const rule = v3.restamps[0]!;
  const h = new CommitHistory([commit(10), commit(20), commit(30, 2, ['a', 'b']), commit(50, 3), commit(60, 3)], [v3, v1, v2]);
  t.deepEqual(h.fate('c', glt(20n)), { kind: 'original' });
  t.deepEqual(h.fate('c', glt(21n)), { kind: 'restamped', rule });
  t.deepEqual(h.fate('c', glt(40n)), { kind: 'restamped', rule });
  t.deepEqual(h.fate('c', glt(41n)), { kind: 'original' });
  t.deepEqual(h.fate('a', glt(35n)), { kind: 'original' });
  t.deepEqual(h.afterReadmissions(5), [glt(50n)]);
  t.deepEqual(h.excludedRegions(), ['c']);
});

test('a commit decided under a membership version not seen yet is not settled, and covers no fate', (t) => {
  const { v1, v2 } = cOutAndBack();
  // The commit of v3 arrived before the record readmitting c: c's write at 35 may be re-stamped.
  const h = new CommitHistory([commit(10), commit(30, 2, ['a', 'b']), commit(50, 3)], [v1, v2]);
  t.true(h.settledAt(glt(30n)));
  t.false(h.settledAt(glt(50n)));
  t.false(h.settledAt(glt(45n)), 'not a commit');
  t.deepEqual(h.fate('a', glt(35n)), { kind: 'open' });
  t.deepEqual(h.fate('a', glt(25n)), { kind: 'original' });
  t.deepEqual(h.afterReadmissions(5), []);
});

test('excluded again after a readmission: hidden above the rule upTo, not above the older watermark', (t) => {
  const { v3 } = cOutAndBack();
  // Excluded again at 35, below the rule's upTo (40): what the rule re-stamped is in the snapshots already.
  const v4 = excludeRegion(v3, 'c', glt(35n));
  const h = new CommitHistory([commit(30, 2, ['a', 'b']), commit(35, 3), commit(45, 4, ['a', 'b'])], [v4]);
  t.deepEqual(h.fate('c', glt(38n)), { kind: 'restamped', rule: v3.restamps[0]! });
  t.deepEqual(h.fate('c', glt(41n)), { kind: 'hidden', hiddenAbove: glt(40n) });
});
