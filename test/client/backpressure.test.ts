import test from 'ava';
import * as grpc from '@grpc/grpc-js';
import { connect } from '../../index.js';
import { AetherError } from '../../common/errors.js';
import { KvService, type KVHandlers } from '../../proto/load.js';
import { startServer } from '../../proto/server.js';
import { toServiceError } from '../../proto/status.js';
import { testNodeSecurity, testSecuritySpec } from '../security/fixture.js';
import { testTopology } from './cluster.js';

/** What admission answers when the region's own stream is behind (regional/admission.ts). */
const REFUSAL_DETAILS = { lagMs: 900, unshippedBytes: 4096, maxLagMs: 500, waitedMs: 0 };
const refusal = () => new AetherError('BACKPRESSURE', "the region's own stream is behind; retry later", { details: REFUSAL_DETAILS });

/** How the fake leader answers one KV.Write: a refusal of the whole call, refusals of some of its writes, or acceptance of all. */
type Answer = { readonly refuse: 'call' } | { readonly refuseKeys: readonly string[] } | 'accept';

/** A region whose only leader answers each KV.Write as `answer(n, keys)` says, n counting calls from 1; `calls` lists each call's keys. */
async function fakeLeader(t: import('ava').ExecutionContext, answer: (call: number, keys: readonly string[]) => Answer) {
  const calls: string[][] = [];
  const write: KVHandlers['Write'] = (call, cb) => {
    const keys = call.request.mutations.map((m) => m.key.toString());
    calls.push(keys);
    const a = answer(calls.length, keys);
    if (a !== 'accept' && 'refuse' in a) return cb(toServiceError(refusal()));
    const refused = a === 'accept' ? [] : a.refuseKeys;
    cb(null, {
      outcomes: keys.map((k) => (refused.includes(k) ? { code: 'BACKPRESSURE', message: refusal().message } : { result: { ts: { wall: String(calls.length), logical: 0 }, origin: 'r1-d1' } })),
    });
  };
  const server = await startServer('127.0.0.1:0', [[KvService, { Write: write }]], { security: await testNodeSecurity('r1-l1') });
  const topology = testTopology('r1', [{ id: 'r1-l1', grpc: server.address }], [{ id: 'r1-d1', grpc: '127.0.0.1:1' }], await testSecuritySpec(['r1-l1']));
  t.teardown(() => server.close(0));
  return { topology, calls };
}

for (const form of ['call', 'outcome'] as const) {
  test(`a write refused BACKPRESSURE (${form}) twice is sent again with backoff, then accepted`, async (t) => {
    const { topology, calls } = await fakeLeader(t, (n, keys) => (n <= 2 ? (form === 'call' ? { refuse: 'call' } : { refuseKeys: keys }) : 'accept'));
    const client = connect({ topology, region: 'r1', etcd: false, backpressure: { baseDelayMs: 20, maxDelayMs: 40 } });
    t.teardown(() => client.close());
    const w = await client.put('k', 'v');
    t.is(w.origin, 'r1-d1');
    t.is(w.ts.wall, 3n, 'the third call was accepted');
    t.deepEqual(calls, [['k'], ['k'], ['k']]);
  });
}

test('only the writes of a batch that were refused are sent again', async (t) => {
  const { topology, calls } = await fakeLeader(t, (n) => (n === 1 ? { refuseKeys: ['b'] } : 'accept'));
  const client = connect({ topology, region: 'r1', etcd: false, backpressure: { baseDelayMs: 5 } });
  t.teardown(() => client.close());
  const [a, b] = await Promise.all([client.put('a', '1'), client.put('b', '2')]);
  t.deepEqual(calls, [['a', 'b'], ['b']]);
  t.is(a.ts.wall, 1n);
  t.is(b.ts.wall, 2n);
});

test('a write always refused fails BACKPRESSURE with the server\'s details, within its attempts and its deadline', async (t) => {
  const { topology, calls } = await fakeLeader(t, () => ({ refuse: 'call' }));
  const client = connect({ topology, region: 'r1', etcd: false, backpressure: { maxAttempts: 3, baseDelayMs: 5 } });
  t.teardown(() => client.close());
  const e = await t.throwsAsync(client.put('k', 'v'), { instanceOf: AetherError });
  t.is(e.code, 'BACKPRESSURE');
  t.like(e.details, { ...REFUSAL_DETAILS, grpcStatus: grpc.status.RESOURCE_EXHAUSTED, attempts: 3 });
  t.is(calls.length, 3);

  // Bounded in time too: with waits of 30 ms, a deadline of 100 ms allows a few attempts, not 1000.
  calls.length = 0;
  const slow = connect({ topology, region: 'r1', etcd: false, backpressure: { maxAttempts: 1000, baseDelayMs: 30, maxDelayMs: 30, deadlineMs: 100 } });
  t.teardown(() => slow.close());
  const started = performance.now();
  const e2 = await t.throwsAsync(slow.delete('k'), { instanceOf: AetherError });
  t.is(e2.code, 'BACKPRESSURE');
  t.true(performance.now() - started < 1000);
  t.true(calls.length >= 1 && calls.length < 1000, `${calls.length} calls`);
  t.is(e2.details['attempts'], calls.length);
});

test('closing the client ends a write\'s backoff with the refusal', async (t) => {
  const { topology, calls } = await fakeLeader(t, () => ({ refuse: 'call' }));
  const client = connect({ topology, region: 'r1', etcd: false, backpressure: { baseDelayMs: 60_000, maxDelayMs: 60_000, deadlineMs: 600_000 } });
  const pending = client.put('k', 'v');
  while (calls.length === 0) await new Promise((r) => setTimeout(r, 5));
  client.close();
  const e = await t.throwsAsync(pending, { instanceOf: AetherError });
  t.is(e.code, 'BACKPRESSURE');
  t.is(calls.length, 1);
});
