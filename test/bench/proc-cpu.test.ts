import test from 'ava';
import { cpuBetween, cpuByGroup, cpuSecondsOf, parseProcStat } from '../../bench/proc-cpu.js';

test('utime and stime are read after the last parenthesis of the command name', (t) => {
  const line = '1234 (node (x) y) S 1 1 1 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 1 0 12345 0 0';
  t.deepEqual(parseProcStat(line), { utime: 250, stime: 50 });
  t.is(parseProcStat('garbage'), undefined);
  t.is(parseProcStat('1 (x) S 1 2'), undefined);
});

test('this process has used some CPU; a pid that does not exist reads as undefined', (t) => {
  t.true(cpuSecondsOf(process.pid)! >= 0);
  t.is(cpuSecondsOf(2 ** 31 - 2), undefined);
});

test('usage between readings: a process gone is lost and counted, one that appeared counts whole', (t) => {
  const before = { atMs: 1000, seconds: new Map([[1, 10], [2, 5], [3, 1]]) };
  const after = { atMs: 3000, seconds: new Map([[1, 11], [2, 5.5], [4, 0.5]]) };
  const u = cpuBetween(before, after);
  t.is(u.seconds, 2);
  t.is(u.wallS, 2);
  t.is(u.cores, 1);
  t.is(u.gone, 1);
  t.is(u.appeared, 1);
  t.deepEqual(Object.fromEntries(cpuByGroup(before, after, new Map([[1, 'leader'], [2, 'leader']]))), { leader: 1.5, other: 0.5 });
});
