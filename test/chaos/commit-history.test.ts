import test from 'ava';
import { CommitHistory } from '../../chaos/commit-history.js';
import { glt } from '../../glts/glt.js';

const ALL = ['a', 'b', 'c'];
const round = (T: number, members = ALL) => ({ T: glt(BigInt(T)), members });

test('a write of a region that stayed a member keeps its ts; one above every round is open', (t) => {
  const h = new CommitHistory([round(10), round(20), round(30)]);
  t.deepEqual(h.fate('a', glt(15n)), { kind: 'original' });
  t.deepEqual(h.fate('a', glt(30n)), { kind: 'original' });
  t.deepEqual(h.fate('a', glt(31n)), { kind: 'open' });
});

test('a round without the region shows its exclusion: writes above the watermark up to the readmitting round are re-stamped above the frontier at rejoin', (t) => {
  const h = new CommitHistory([round(10), round(20, ['a', 'b']), round(30, ['a', 'b']), round(40), round(50)]);
  t.deepEqual(h.fate('c', glt(5n)), { kind: 'original' });
  t.deepEqual(h.fate('c', glt(10n)), { kind: 'original' });
  t.deepEqual(h.fate('c', glt(11n)), { kind: 'restamped', above: glt(30n), rejoin: glt(40n), shippedBy: glt(50n), maybe: false });
  t.deepEqual(h.fate('c', glt(40n)), { kind: 'restamped', above: glt(30n), rejoin: glt(40n), shippedBy: glt(50n), maybe: false });
  // Between the readmitting round's close and its re-stamp: either.
  t.deepEqual(h.fate('c', glt(45n)), { kind: 'restamped', above: glt(30n), rejoin: glt(40n), shippedBy: glt(50n), maybe: true });
  t.deepEqual(h.fate('c', glt(51n)), { kind: 'open' });
  t.deepEqual(h.fate('a', glt(25n)), { kind: 'original' });
  t.deepEqual(h.afterReadmissions(5), [glt(50n)]);
});

test('an exclusion and readmission between two rounds shows only in the membership record', (t) => {
  const rounds = [round(10), round(20), round(30), round(40)];
  t.deepEqual(new CommitHistory(rounds).fate('b', glt(25n)), { kind: 'original' });
  const h = new CommitHistory(rounds, [{ region: 'b', watermark: glt(20n) }]);
  t.deepEqual(h.fate('b', glt(25n)), { kind: 'restamped', above: glt(20n), rejoin: glt(30n), shippedBy: glt(40n), maybe: false });
  t.deepEqual(h.fate('b', glt(35n)), { kind: 'restamped', above: glt(20n), rejoin: glt(30n), shippedBy: glt(40n), maybe: true });
  t.deepEqual(h.fate('b', glt(15n)), { kind: 'original' });
  t.deepEqual(h.afterReadmissions(5), [glt(40n)]);
});

test('one readmission per exclusion; never readmitted: no rejoin', (t) => {
  const h = new CommitHistory([round(10), round(20), round(30), round(40, ['a', 'b'])], [{ region: 'c', watermark: glt(10n) }]);
  t.deepEqual(h.fate('c', glt(15n)), { kind: 'restamped', above: glt(10n), rejoin: glt(20n), shippedBy: glt(30n), maybe: false });
  t.deepEqual(h.fate('c', glt(25n)), { kind: 'restamped', above: glt(10n), rejoin: glt(20n), shippedBy: glt(30n), maybe: true });
  t.deepEqual(h.fate('c', glt(30n)), { kind: 'restamped', above: glt(10n), rejoin: glt(20n), shippedBy: glt(30n), maybe: true });
  t.deepEqual(h.fate('c', glt(35n)), { kind: 'restamped', above: glt(40n), rejoin: undefined, shippedBy: undefined, maybe: false });
});

test('excluded again right after the readmitting round: its re-stamps were never shipped and are re-stamped at the next readmission; the snapshot after it is settled', (t) => {
  // c excluded at 10, readmitted by 20, excluded at 20 (before shipping), readmitted by 40.
  const h = new CommitHistory([round(10), round(20), round(30, ['a', 'b']), round(40), round(50)], [{ region: 'c', watermark: glt(10n) }]);
  t.deepEqual(h.fate('c', glt(15n)), { kind: 'restamped', above: glt(30n), rejoin: glt(40n), shippedBy: glt(50n), maybe: false });
  t.deepEqual(h.fate('c', glt(25n)), { kind: 'restamped', above: glt(30n), rejoin: glt(40n), shippedBy: glt(50n), maybe: false });
  t.false(h.settledAt(glt(20n)));
  t.false(h.settledAt(glt(40n)));
  t.true(h.settledAt(glt(50n)));
  t.false(h.settledAt(glt(45n)), 'not a committed round');
});
