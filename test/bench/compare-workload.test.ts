import test from 'ava';
import { runWorkload, type ReadOutcome, type SystemUnderTest } from '../../bench/compare-etcd-workload.js';

const options = { ratePerS: 200, durationS: 0.2, maxInFlight: 100, maxVisibilityChecks: 100, visibilityTimeoutMs: 300, valueBytes: 8, prefix: 't' };

test('every write is acknowledged and checked in a region other than its own', async (t) => {
  const store = new Map<string, { value: string; region: string }>();
  const reads: [string, string][] = [];
  const system: SystemUnderTest<null> = {
    regions: ['a', 'b', 'c'],
    write: async (region, key, value) => {
      store.set(key, { value, region });
      return null;
    },
    readVisible: async (region, key, value): Promise<ReadOutcome> => {
      reads.push([store.get(key)!.region, region]);
      return store.get(key)?.value === value ? 'visible' : 'missing';
    },
  };
  const r = await runWorkload(system, options);
  t.is(r.attempted, 40);
  t.is(r.writeMs.length, 40);
  t.is(r.visibilityMs.length, 40);
  t.is(r.visibilityTimeouts + r.missingReads + r.writeErrors + r.shed + r.unchecked, 0);
  t.true(reads.every(([writer, reader]) => writer !== reader));
  t.deepEqual([...new Set(reads.map(([, reader]) => reader))].sort(), ['a', 'b', 'c']);
});

test('a write never visible is a timeout; a read lacking it is counted once per write; write errors are counted', async (t) => {
  let n = 0;
  const system: SystemUnderTest<null> = {
    regions: ['a', 'b'],
    write: async () => {
      if (n++ % 2 === 0) throw new Error('refused');
      return null;
    },
    readVisible: async () => 'missing',
  };
  const r = await runWorkload(system, options);
  t.is(r.writeErrors, 20);
  t.is(r.visibilityTimeouts, 20);
  t.is(r.missingReads, 20);
  t.is(r.visibilityMs.length, 0);
  t.is(r.firstWriteError, 'Error: refused');
});

test('beside each write, a read at a rotating region of a key already written; none without readLocal', async (t) => {
  const written = new Set<string>();
  const reads: [string, string][] = [];
  const system: SystemUnderTest<null> = {
    regions: ['a', 'b'],
    write: async (_region, key) => {
      written.add(key);
      return null;
    },
    readVisible: async (): Promise<ReadOutcome> => 'visible',
    readLocal: async (region, key) => void reads.push([region, key]),
  };
  const r = await runWorkload(system, options);
  t.is(r.readMs.length, 40);
  t.is(r.readErrors + r.readsShed, 0);
  t.deepEqual([...new Set(reads.map(([region]) => region))].sort(), ['a', 'b']);
  // Until the first write is acknowledged there is no key to read; a loop behind its schedule
  // (a loaded machine) issues the next read before that acknowledgement's continuation runs.
  t.true(reads.every(([, key]) => written.has(key) || key === 't/none'));
  t.true(reads.some(([, key]) => written.has(key)));
  const none = await runWorkload({ ...system, readLocal: undefined }, options);
  t.is(none.readMs.length, 0);
});
