import test from 'ava';
import type { AcknowledgedWrite } from '../../history/write-load.js';
import { CommitHistory, type CommitPoint } from '../../history/commit-history.js';
import { SnapshotModel, valueId, type SeenRow } from '../../history/snapshot-model.js';
import { Visibility } from '../../history/visibility.js';
import { glt, type Glt } from '../../glts/glt.js';
import { excludeRegion, initialMembership, readmitRegion } from '../../kernel/records.js';

const ALL = ['a', 'b', 'c'];
const commit = (T: number, membershipVersion = 1, members = ALL): CommitPoint => ({ T: glt(BigInt(T)), members, membershipVersion });
const put = (region: string, key: string, value: string | null, ts: number, origin = `${region}-d1`): AcknowledgedWrite => ({ region, key, value, ts: glt(BigInt(ts)), origin, ackedAtMs: 0 });
const row = (key: string, value: string, ts: Glt, origin: string): SeenRow => ({ key, id: valueId(value), ts, origin });

// c excluded at 20 (v2) and readmitted with upTo 40 over floor 30 (v3); commits after it from 50.
const v2 = excludeRegion(initialMembership(ALL), 'c', glt(20n));
const v3 = readmitRegion(v2, 'c', glt(40n), glt(30n), ALL);
const history = (): CommitHistory => new CommitHistory([commit(10), commit(20), commit(30, 2, ['a', 'b']), commit(50, 3), commit(60, 3)], [v3]);

test('re-stamped versions land on the floor tick, ranked per key in (ts, origin) order over the region’s data nodes', (t) => {
  const vis = new Visibility([v3]);
  const w = [put('c', 'k', 'x', 25, 'c-d2'), put('c', 'k', 'y', 25, 'c-d1'), put('c', 'k', 'z', 35), put('c', 'k', 'q', 45), put('a', 'k', 'o', 22)];
  const stamps = w.map((v) => vis.stamp(v, w));
  t.deepEqual(stamps, [glt(30n, 2), glt(30n, 1), glt(30n, 3), glt(45n), glt(22n)]);
  // Another key's versions do not count.
  t.deepEqual(vis.stamp(put('c', 'j', 'p', 36), [put('c', 'j', 'p', 36)]), glt(30n, 1));
});

test('a write is hidden while its region is excluded, then re-stamped once it is readmitted', (t) => {
  const w = put('c', 'k', 'x', 25);
  t.is(new Visibility([v2]).stamp(w, [w]), undefined);
  t.deepEqual(new Visibility([v2, v3]).stamp(w, [w]), glt(30n, 1));
});

test('judge: rows where rule D puts the writes pass; a re-stamped write at its own ts or a hidden one shown do not', (t) => {
  const acked = [put('a', 'k', 'a1', 15), put('c', 'k', 'c1', 25), put('c', 'j', 'c2', 45)];
  const m = new SnapshotModel(acked, history());
  t.is(m.judge('k', glt(20n), row('k', 'a1', glt(15n), 'a-d1')), undefined);
  // At 30 (the floor) the re-stamped write is not there yet; above it, it wins.
  t.is(m.judge('k', glt(30n), row('k', 'a1', glt(15n), 'a-d1')), undefined);
  t.is(m.judge('k', glt(50n), row('k', 'c1', glt(30n, 1), 'c-d1')), undefined);
  t.regex(m.judge('k', glt(50n), row('k', 'c1', glt(25n), 'c-d1'))!, /D: .* shown at 25\.0/);
  t.regex(m.judge('k', glt(50n), row('k', 'a1', glt(15n), 'a-d1'))!, /expected "c1"/);
  t.regex(m.judge('j', glt(50n), undefined)!, /expected "c2"/);
  t.is(m.judge('j', glt(44n), undefined), undefined);
  t.deepEqual(m.counts(), { restamped: 1, restampsSeen: 1, hidden: 0 });
});

test('judge: on a key with a failed write, an unknown newer value and a re-stamp one rank up pass', (t) => {
  const acked = [put('a', 'k', 'a1', 15), put('c', 'k', 'c1', 25)];
  const m = new SnapshotModel(acked, history(), new Set(['k']));
  t.is(m.judge('k', glt(20n), row('k', 'unknown', glt(18n), 'b-d1')), undefined);
  t.regex(m.judge('k', glt(20n), row('k', 'unknown', glt(12n), 'b-d1'))!, /no acknowledged write/);
  t.is(m.judge('k', glt(50n), row('k', 'c1', glt(30n, 2), 'c-d1')), undefined);
  t.truthy(new SnapshotModel(acked, history()).judge('k', glt(50n), row('k', 'c1', glt(30n, 2), 'c-d1')));
});

test('lostAt: a put neither shown nor covered by a newer version is lost; a hidden one is not', (t) => {
  const acked = [put('a', 'k', 'a1', 15), put('b', 'k', 'b1', 16), put('a', 'j', 'a2', 17), put('b', 'j', null, 18), put('a', 'i', 'a3', 19)];
  const m = new SnapshotModel(acked, history());
  const rows = new Map<string, SeenRow>([['k', row('k', 'b1', glt(16n), 'b-d1')]]);
  // k shows its newest, j was deleted after its put, i is absent: a3 is lost.
  t.deepEqual(m.lostAt(glt(60n), rows).map((x) => x.w.value), ['a3']);
  rows.set('k', row('k', 'a1', glt(15n), 'a-d1'));
  t.deepEqual(m.lostAt(glt(60n), rows).map((x) => x.w.value), ['b1', 'a3']);
  const excluded = new CommitHistory([commit(10), commit(20), commit(30, 2, ['a', 'b'])], [v2]);
  const hidden = new SnapshotModel([put('c', 'h', 'c9', 25)], excluded);
  t.deepEqual(hidden.lostAt(glt(30n), new Map()), []);
  t.deepEqual(hidden.counts(), { restamped: 0, restampsSeen: 0, hidden: 1 });
});

test('valueId: short values as they are, long ones by digest, the same for a string and its bytes', (t) => {
  t.is(valueId('short'), 'short');
  t.is(valueId(Buffer.from('short')), 'short');
  const long = 'x'.repeat(100);
  t.regex(valueId(long), /^sha256:/);
  t.is(valueId(long), valueId(Buffer.from(long)));
  t.not(valueId(long), valueId('y'.repeat(100)));
});
