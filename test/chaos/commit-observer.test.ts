import test from 'ava';
import { CommitObserver } from '../../chaos/commit-observer.js';
import type { Deployment } from '../../chaos/deployment.js';
import { clusterPaths } from '../../cluster/paths.js';
import { glt } from '../../glts/glt.js';
import { encodeCommitRecord, type CommitRecord } from '../../kernel/records.js';
import { eventually, startEtcd } from '../cluster/etcd-fixture.js';

const commit = (wallNs: bigint, members: readonly string[]): CommitRecord => ({ T: glt(wallNs), epoch: 1n, members, membershipVersion: 1, coordinator: 'c1', decideMs: 1, lagMs: 1 });

test('M: a commit record written again unchanged is one commit; a different record at a GLT already seen breaks it', async (t) => {
  const fixture = await startEtcd();
  t.teardown(() => fixture.stop());
  const etcd = fixture.client();
  const paths = clusterPaths('observer');
  const observer = await CommitObserver.start({ etcd, paths, regionNames: ['a', 'b'] } as unknown as Deployment);
  t.teardown(() => observer.stop());
  const put = (r: CommitRecord) => etcd.put(paths.commit(r.T)).value(encodeCommitRecord(r));

  await put(commit(1_000n, ['a', 'b']));
  await put(commit(2_000n, ['a', 'b']));
  // A coordinator whose first write of T had an unknown outcome writes the same record again.
  await put(commit(2_000n, ['a', 'b']));
  await put(commit(3_000n, ['a', 'b']));
  await eventually(() => (observer.commits.length + observer.repeated >= 4 ? true : undefined), 5000, 'every put observed');
  t.is(observer.commits.length, 3);
  t.is(observer.repeated, 1);
  t.deepEqual(observer.monotonicBreaks(), []);

  await put(commit(3_000n, ['a']));
  await eventually(() => (observer.commits.length >= 4 ? true : undefined), 5000, 'the conflicting record observed');
  t.deepEqual(observer.monotonicBreaks().length, 1, 'another record at a GLT already committed');
  t.regex(observer.monotonicBreaks()[0]!, /^commit \d+\.0 \(epoch 1, c1\) observed after \d+\.0/);
});
