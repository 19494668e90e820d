import test from 'ava';
import { glt, type Glt } from '../../glts/glt.js';
import type { CommitRecord } from '../../kernel/records.js';
import { EtcdSnapshotLog } from '../../regional/etcd-snapshot-log.js';
import { Frontier } from '../../regional/frontier.js';

const record = (T: Glt): CommitRecord => ({ T, epoch: 7n, members: ['a', 'b'], membershipVersion: 1, coordinator: 'c1', decideMs: 3, lagMs: 40 });
const walls = (xs: readonly { glt: Glt }[]) => xs.map((s) => s.glt.wall);

test('a region reports a committed snapshot only once its frontier reached it', async (t) => {
  const frontier = new Frontier();
  const log = await EtcdSnapshotLog.load({ recent: async () => [record(glt(10n)), record(glt(20n))] }, frontier);
  t.is(log.latest(), undefined, 'nothing is readable here before the frontier moves');

  const seen: bigint[] = [];
  log.subscribe((s) => seen.push(s.glt.wall));
  frontier.advance(glt(10n));
  t.deepEqual(walls(log.list(10)), [10n]);

  log.record(record(glt(30n)), 2);
  log.record(record(glt(20n)));
  t.is(log.latest()?.glt.wall, 10n, 'records above the frontier wait; a replayed record is ignored');

  frontier.advance(glt(30n));
  t.deepEqual(walls(log.list(10)), [30n, 20n, 10n]);
  t.deepEqual(seen, [10n, 20n, 30n], 'watchers hear each snapshot once, in GLT order');
  // A commit announced with its persist time shows it; one read from etcd alone has none.
  const [announced, fromEtcd] = log.list(2);
  t.like(announced, { durationMs: 5, phases: [{ name: 'decide', ms: 3 }, { name: 'persist', ms: 2 }, { name: 'lag', ms: 40 }], members: ['a', 'b'], epoch: 7n });
  t.like(fromEtcd, { durationMs: 3, phases: [{ name: 'decide', ms: 3 }, { name: 'lag', ms: 40 }] });
});
