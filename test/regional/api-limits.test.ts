import test from 'ava';
import * as grpc from '@grpc/grpc-js';
import { connect } from '../../index.js';
import { AetherError } from '../../common/errors.js';
import { GLT_MAX, compareGlt, nextGlt, type Glt } from '../../glts/glt.js';
import { CHANNEL_OPTIONS } from '../../proto/channel-options.js';
import { KvClient, SnapshotsClient, type KVClient, type KeyValue__Output, type SnapshotsClientType } from '../../proto/load.js';
import { fromServiceError } from '../../proto/status.js';
import { toTimestamp } from '../../proto/timestamp.js';
import { DEFAULT_API_LIMITS, type ApiLimits } from '../../regional/api-limits.js';
import { SCAN_RESUME_KEY } from '../../regional/kv-service.js';
import { channelSettings } from '../../security/transport-security.js';
import { testClientSecurity } from '../security/fixture.js';
import { advanceFrontier, startTestRegion, type TestRegion } from '../client/cluster.js';

/**
 * The public API's limits (regional/api-limits.ts) answer coded errors: reads waiting for
 * the frontier, open scans and open watches are bounded per client connection and in all
 * (TOO_MANY_REQUESTS), a scan answers one page and says where the next starts, and a
 * request over the message size is refused (MESSAGE_TOO_LARGE at the client).
 */

async function region(t: { teardown: (fn: () => Promise<void>) => void }, limits: Partial<ApiLimits>): Promise<TestRegion> {
  const r = await startTestRegion({ limits: { ...DEFAULT_API_LIMITS, ...limits } });
  t.teardown(() => r.close());
  return r;
}

/** A raw client, with the deployment's client certificate, on a connection of its own (grpc-js would otherwise share one connection between clients of one address). */
async function ownConnection(t: { teardown: (fn: () => void) => void }, r: TestRegion): Promise<{ kv: KVClient; snapshots: SnapshotsClientType }> {
  const address = r.leaders[0]!.address;
  const channel = channelSettings(await testClientSecurity(), address, { ...CHANNEL_OPTIONS, 'grpc.use_local_subchannel_pool': 1 });
  const kv = new KvClient(address, channel.credentials, channel.options) as KVClient;
  const snapshots = new SnapshotsClient(address, channel.credentials, channel.options) as unknown as SnapshotsClientType;
  t.teardown(() => {
    kv.close();
    snapshots.close();
  });
  return { kv, snapshots };
}

/** The code a unary Get ends with ('ok' when it succeeds). */
function getCode(kv: KVClient, req: Record<string, unknown>): Promise<string> {
  return new Promise((resolve) => kv.Get({ key: Buffer.from('k'), ...req }, (err) => resolve(err ? fromServiceError(err, 'Get').code : 'ok')));
}

/**
 * How long a stream expected to be refused may take to say so: a loaded machine delays the
 * refusal, and a stream not refused stays open longer (the scans here wait 5 s).
 */
const REFUSAL_WAIT_MS = 4000;

/** The code a server stream ends with, or 'open' while it is still open after `ms`. */
function streamCode(call: grpc.ClientReadableStream<unknown>, ms = 300): Promise<string> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve('open'), ms);
    call.on('data', () => {});
    call.once('error', (err) => {
      clearTimeout(timer);
      resolve(fromServiceError(err, 'stream').code);
    });
    call.once('end', () => {
      clearTimeout(timer);
      resolve('ended');
    });
  });
}

/** Just above the newest of these writes: a frontier there makes them all readable. */
function newest(writes: readonly { readonly ts: Glt }[]): Glt {
  return nextGlt(writes.map((w) => w.ts).reduce((m, ts) => (compareGlt(ts, m) > 0 ? ts : m)));
}

async function eventually(probe: () => Promise<boolean>, what: string): Promise<void> {
  const deadline = Date.now() + 5000;
  while (!(await probe())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

test('reads waiting for the frontier are bounded per connection and in all; a read that need not wait takes no slot', async (t) => {
  const r = await region(t, { maxWaitingReadsPerPeer: 2, maxWaitingReads: 3 });
  const a = (await ownConnection(t, r)).kv;
  const b = (await ownConnection(t, r)).kv;
  const ahead = { glt: toTimestamp({ wall: GLT_MAX.wall - 1n, logical: 0 }), wait_ms: 700 };
  const waiting = [getCode(a, ahead), getCode(a, ahead)];
  await new Promise((resolve) => setTimeout(resolve, 100));
  t.is(await getCode(a, ahead), 'TOO_MANY_REQUESTS', 'a third on one connection');
  waiting.push(getCode(b, ahead));
  await new Promise((resolve) => setTimeout(resolve, 100));
  t.is(await getCode(b, ahead), 'TOO_MANY_REQUESTS', 'a fourth in all');
  t.is(await getCode(b, {}), 'ok', 'a read at the frontier does not wait');
  t.is(await getCode(b, { glt: ahead.glt, wait_ms: 0 }), 'SNAPSHOT_NOT_READY', 'a read that may not wait does not wait');
  t.deepEqual(await Promise.all(waiting), ['SNAPSHOT_NOT_READY', 'SNAPSHOT_NOT_READY', 'SNAPSHOT_NOT_READY']);
  // Their slots are back once they ended.
  t.is(await getCode(a, { ...ahead, wait_ms: 50 }), 'SNAPSHOT_NOT_READY');
});

test('open scans and watches are bounded per connection and in all, and a cancelled one gives its slot back', async (t) => {
  const r = await region(t, { maxOpenScansPerPeer: 1, maxOpenScans: 2, maxOpenWatchesPerPeer: 1, maxOpenWatches: 2 });
  const a = await ownConnection(t, r);
  const b = await ownConnection(t, r);
  const waitingScan = (kv: KVClient) => kv.Scan({ glt: toTimestamp({ wall: GLT_MAX.wall - 1n, logical: 0 }), wait_ms: 5000 });
  const first = waitingScan(a.kv);
  t.is(await streamCode(first), 'open');
  t.is(await streamCode(waitingScan(a.kv), REFUSAL_WAIT_MS), 'TOO_MANY_REQUESTS');
  const second = waitingScan(b.kv);
  t.is(await streamCode(second), 'open');
  t.is(await streamCode(waitingScan((await ownConnection(t, r)).kv), REFUSAL_WAIT_MS), 'TOO_MANY_REQUESTS', 'beyond the total');
  first.cancel();
  await eventually(async () => {
    const again = waitingScan(a.kv);
    const code = await streamCode(again, 150);
    again.cancel();
    return code === 'open';
  }, 'the cancelled scan to give its slot back');
  second.cancel();

  const watch = a.snapshots.Watch({});
  t.is(await streamCode(watch), 'open');
  t.is(await streamCode(a.snapshots.Watch({}), REFUSAL_WAIT_MS), 'TOO_MANY_REQUESTS');
  watch.cancel();
  await eventually(async () => {
    const again = a.snapshots.Watch({});
    const code = await streamCode(again, 150);
    again.cancel();
    return code === 'open';
  }, 'the cancelled watch to give its slot back');
});

/** One raw Scan call: its rows' keys and the resume key in its trailers. */
function rawScan(kv: KVClient, req: Record<string, unknown>): Promise<{ keys: string[]; resume: string | undefined }> {
  return new Promise((resolve, reject) => {
    const keys: string[] = [];
    const call = kv.Scan(req);
    call.on('data', (row: KeyValue__Output) => keys.push(row.key.toString()));
    call.once('error', reject);
    call.once('status', (st: grpc.StatusObject) => {
      const resume = st.metadata.get(SCAN_RESUME_KEY)[0];
      resolve({ keys, resume: Buffer.isBuffer(resume) ? resume.toString() : undefined });
    });
  });
}

test('a Scan call answers one page, bounded in rows and bytes; an over-large limit is capped, and the trailers say where the next page starts', async (t) => {
  const r = await region(t, { scanPageRows: 5, scanPageBytes: 64 });
  const client = connect({ topology: r.topology, region: 'r1', etcd: false });
  t.teardown(() => client.close());
  const key = (i: number) => `p/${String(i).padStart(2, '0')}`;
  const written = await Promise.all([...Array.from({ length: 23 }, (_, i) => client.put(key(i), 'v')), ...Array.from({ length: 4 }, (_, i) => client.put(`q/${i}`, 'v'))]);
  await advanceFrontier(r, newest(written));
  const raw = (await ownConnection(t, r)).kv;

  t.deepEqual(await rawScan(raw, { prefix: Buffer.from('p/'), limit: 0 }), { keys: [0, 1, 2, 3, 4].map(key), resume: key(5) }, 'no limit: one page');
  t.deepEqual(await rawScan(raw, { prefix: Buffer.from('p/'), limit: 1000 }), { keys: [0, 1, 2, 3, 4].map(key), resume: key(5) }, 'a limit over a page is capped');
  t.deepEqual(await rawScan(raw, { prefix: Buffer.from('p/'), limit: 3 }), { keys: [0, 1, 2].map(key), resume: undefined }, 'a limit within a page ends the scan');
  t.deepEqual(await rawScan(raw, { prefix: Buffer.from('p/'), limit: 5 }), { keys: [0, 1, 2, 3, 4].map(key), resume: undefined }, 'a limit of exactly a page ends the scan');
  t.deepEqual(await rawScan(raw, { start: Buffer.from(key(20)), limit: 0 }), { keys: [20, 21, 22].map(key).concat(['q/0', 'q/1']), resume: 'q/2' });
  const big = await rawScan(raw, { start: Buffer.from('q/'), limit: 0 });
  t.deepEqual(big.keys, ['q/0', 'q/1', 'q/2', 'q/3']);

  // The client follows the pages at one GLT, within the range and the limit.
  const all = await client.scan({ prefix: 'p/' });
  const later = await client.put('p/99', 'written after the scan chose its GLT');
  await advanceFrontier(r, nextGlt(later.ts));
  const keys: string[] = [];
  for await (const row of all.rows) keys.push(row.key.toString());
  t.deepEqual(keys, Array.from({ length: 23 }, (_, i) => key(i)));
  const limited = await client.scan({ prefix: 'p/', limit: 12 });
  const some: string[] = [];
  for await (const row of limited.rows) some.push(row.key.toString());
  t.deepEqual(some, Array.from({ length: 12 }, (_, i) => key(i)));
});

test('a page ends once its bytes reach scanPageBytes, after at least one row', async (t) => {
  const r = await region(t, { scanPageRows: 100, scanPageBytes: 64 });
  const client = connect({ topology: r.topology, region: 'r1', etcd: false });
  t.teardown(() => client.close());
  const written = await Promise.all([...['a', 'b', 'c', 'd'].map((k) => client.put(k, 'x'.repeat(40))), client.put('e', 'x'.repeat(200))]);
  await advanceFrontier(r, newest(written));
  const raw = (await ownConnection(t, r)).kv;
  t.deepEqual(await rawScan(raw, { limit: 0 }), { keys: ['a', 'b'], resume: 'c' });
  t.deepEqual(await rawScan(raw, { start: Buffer.from('e'), limit: 0 }), { keys: ['e'], resume: undefined }, 'a row larger than a page goes alone');
});

test('a request over the public message size is refused MESSAGE_TOO_LARGE; within it, the value limit answers VALUE_TOO_LARGE', async (t) => {
  const r = await region(t, {});
  const client = connect({ topology: r.topology, region: 'r1', etcd: false });
  t.teardown(() => client.close());
  const tooBig = await t.throwsAsync(client.put('k', Buffer.alloc(DEFAULT_API_LIMITS.maxRequestBytes + 1)), { instanceOf: AetherError });
  t.is(tooBig.code, 'MESSAGE_TOO_LARGE');
  const overValue = await t.throwsAsync(client.put('k', Buffer.alloc(DEFAULT_API_LIMITS.maxValueBytes + 1)), { instanceOf: AetherError });
  t.is(overValue.code, 'VALUE_TOO_LARGE');
  t.truthy(await client.put('k', Buffer.alloc(DEFAULT_API_LIMITS.maxValueBytes)));
});

test('the default limits fit together: the largest key and value fit a request and a response, the waiting bound comes before the frontier\'s', (t) => {
  const l = DEFAULT_API_LIMITS;
  const framing = 64;
  t.true(l.maxKeyBytes + l.maxValueBytes + framing <= l.maxRequestBytes);
  t.true(l.maxKeyBytes + l.maxValueBytes + framing <= l.maxResponseBytes);
  t.true(l.maxWaitingReadsPerPeer <= l.maxWaitingReads && l.maxOpenScansPerPeer <= l.maxOpenScans && l.maxOpenWatchesPerPeer <= l.maxOpenWatches);
  t.true(l.listDefaultSnapshots <= l.listMaxSnapshots);
});
