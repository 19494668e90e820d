import { setTimeout as sleep } from 'node:timers/promises';
import test from 'ava';
import { AetherError, connect } from '../../index.js';
import { SessionNotReadyError } from '../../client/session-not-ready-error.js';
import { compareGlt, formatGlt, glt, maxGlt, nextGlt, type Glt } from '../../glts/glt.js';
import { fromTimestamp } from '../../proto/timestamp.js';
import { advanceFrontierPast, startTestRegion } from './cluster.js';
import { startRecordingLeader, type RecordingLeader } from './recording-leader.js';

// Read-your-writes (ConnectOptions.readYourWrites): what the client sends is checked
// against a leader that records requests; what a program sees, against a region served
// in this process whose frontier the test moves.

const T1 = glt(1_000_000_000n, 1);
const T2 = glt(2_000_000_000n, 0);
const T3 = glt(3_000_000_000n, 7);

/** Resolves once `n` Write calls are held by the leader. */
async function heldWrites(leader: RecordingLeader, n: number): Promise<void> {
  while (leader.writes.length < n) await sleep(1);
}

/** One write acknowledged at `ts` through `put`, the call answered by the recording leader. */
async function writeAt(leader: RecordingLeader, put: () => Promise<unknown>, ts: Glt): Promise<void> {
  const n = leader.writes.length;
  const done = put();
  await heldWrites(leader, n + 1);
  leader.writes[n]!.answer(ts);
  await done;
}

const lastGet = (leader: RecordingLeader) => leader.gets.at(-1)!;
const minGltSent = (leader: RecordingLeader) => fromTimestamp(lastGet(leader).min_glt);

test('the session timestamp is the highest acknowledged write: an older write acknowledged last never lowers it', async (t) => {
  const leader = await startRecordingLeader();
  const client = connect({ topology: leader.topology, region: 'r1', etcd: false });
  t.teardown(async () => {
    client.close();
    await leader.close();
  });
  t.is(client.sessionGlt, undefined);

  // Two writes in flight in separate calls; the later one (T2) is acknowledged first.
  const older = client.put('a', '1');
  await heldWrites(leader, 1);
  const newer = client.delete('b');
  await heldWrites(leader, 2);
  leader.writes[1]!.answer(T2);
  t.deepEqual((await newer).ts, T2);
  t.deepEqual(client.sessionGlt, T2);
  leader.writes[0]!.answer(T1);
  t.deepEqual((await older).ts, T1);
  t.deepEqual(client.sessionGlt, T2, 'T1 acknowledged after T2 leaves T2');

  await writeAt(leader, () => client.put('c', '3'), T3);
  t.deepEqual(client.sessionGlt, T3);
});

test('reads at the frontier send the session timestamp as min_glt and wait most of the call deadline; without one, nothing', async (t) => {
  const leader = await startRecordingLeader();
  const client = connect({ topology: leader.topology, region: 'r1', etcd: false, callTimeoutMs: 4_000 });
  t.teardown(async () => {
    client.close();
    await leader.close();
  });
  await client.get('k');
  t.is(lastGet(leader).min_glt, null, 'no write yet: the frontier as it is');
  t.is(lastGet(leader).wait_ms, 0);

  await writeAt(leader, () => client.put('k', 'v'), T2);
  const got = await client.get('k');
  t.deepEqual(minGltSent(leader), T2);
  t.is(lastGet(leader).glt, null);
  t.is(lastGet(leader).wait_ms, 3_000, 'the 4 s deadline less a 1 s margin');
  t.deepEqual(got.glt, T2);

  await client.get('k', { glt: 'latest' });
  t.deepEqual(minGltSent(leader), T2, '"latest" is the frontier too');
  await client.get('k', { minGlt: T1 });
  t.deepEqual(minGltSent(leader), T2, 'a lower minGlt is raised to the session');
  await client.get('k', { minGlt: formatGlt(T3) });
  t.deepEqual(minGltSent(leader), T3, 'a higher minGlt is kept');
  await client.get('k', { waitMs: 0 });
  t.is(lastGet(leader).wait_ms, 0, 'an explicit wait is kept');

  const scanned = await client.scan({ prefix: 'k' });
  t.deepEqual(fromTimestamp(leader.scans.at(-1)!.min_glt), T2);
  t.is(leader.scans.at(-1)!.wait_ms, 3_000);
  t.deepEqual(scanned.glt, T2);
});

test('an explicit GLT below the session timestamp is sent as given', async (t) => {
  const leader = await startRecordingLeader();
  const client = connect({ topology: leader.topology, region: 'r1', etcd: false });
  t.teardown(async () => {
    client.close();
    await leader.close();
  });
  await writeAt(leader, () => client.put('k', 'v'), T2);
  const got = await client.get('k', { glt: T1 });
  t.deepEqual(fromTimestamp(lastGet(leader).glt), T1);
  t.is(lastGet(leader).min_glt, null);
  t.is(lastGet(leader).wait_ms, 0);
  t.deepEqual(got.glt, T1);
  await client.scan({ glt: formatGlt(T1) });
  t.deepEqual(fromTimestamp(leader.scans.at(-1)!.glt), T1);
  t.is(leader.scans.at(-1)!.min_glt, null);
});

test('read-your-writes turned off, per client or per read, reads the frontier as it is; the timestamp is still kept', async (t) => {
  const leader = await startRecordingLeader();
  const off = connect({ topology: leader.topology, region: 'r1', etcd: false, readYourWrites: false });
  const on = connect({ topology: leader.topology, region: 'r1', etcd: false });
  t.teardown(async () => {
    off.close();
    on.close();
    await leader.close();
  });
  await writeAt(leader, () => off.put('k', 'v'), T2);
  t.deepEqual(off.sessionGlt, T2);
  await off.get('k');
  t.is(lastGet(leader).min_glt, null);
  t.is(lastGet(leader).wait_ms, 0);
  await off.get('k', { readYourWrites: true });
  t.deepEqual(minGltSent(leader), T2, 'turned on for one read');
  await off.scan({});
  t.is(leader.scans.at(-1)!.min_glt, null);

  await writeAt(leader, () => on.put('k', 'v'), T2);
  await on.get('k', { readYourWrites: false });
  t.is(lastGet(leader).min_glt, null, 'turned off for one read');
  await on.get('k', { readYourWrites: false, minGlt: T1 });
  t.deepEqual(minGltSent(leader), T1, 'its own minGlt still goes');
});

test('observe raises the session timestamp, never lowers it; "latest" and bad text are refused with their codes', async (t) => {
  const leader = await startRecordingLeader();
  const client = connect({ topology: leader.topology, region: 'r1', etcd: false });
  t.teardown(async () => {
    client.close();
    await leader.close();
  });
  client.observe(formatGlt(T2));
  t.deepEqual(client.sessionGlt, T2);
  await client.get('k');
  t.deepEqual(minGltSent(leader), T2, 'an observed GLT is read at or above like a write');
  client.observe(T1);
  t.deepEqual(client.sessionGlt, T2);
  t.is(t.throws(() => client.observe('latest'), { instanceOf: AetherError })?.code, 'USAGE');
  t.is(t.throws(() => client.observe('yesterday'), { instanceOf: AetherError })?.code, 'GLT_PARSE');
  t.deepEqual(client.sessionGlt, T2);
});

test('a read right after a write waits for the frontier to cover it, then sees it; observe carries that to another client', async (t) => {
  const r = await startTestRegion();
  const writer = connect({ topology: r.topology, region: 'r1', etcd: false });
  const reader = connect({ topology: r.topology, region: 'r1', etcd: false });
  t.teardown(async () => {
    writer.close();
    reader.close();
    await r.close();
  });
  const w = await writer.put('k', 'v1');
  t.deepEqual(writer.sessionGlt, w.ts);
  t.false((await writer.get('k', { readYourWrites: false })).found, 'the frontier has not passed the write yet');
  t.false((await reader.get('k')).found, 'another client has no session timestamp');

  let settled = false;
  const pending = writer.get('k').finally(() => (settled = true));
  const scanning = writer.scan({ prefix: 'k' });
  reader.observe(writer.sessionGlt!);
  const passed = reader.get('k');
  await sleep(100);
  t.false(settled, 'waits while the frontier is below the write');
  const f = await advanceFrontierPast(r, w.ts);
  const got = await pending;
  t.is(got.value?.toString(), 'v1');
  t.true(compareGlt(got.glt, w.ts) >= 0);
  const scan = await scanning;
  const rows = [];
  for await (const row of scan.rows) rows.push(row.value.toString());
  t.deepEqual(rows, ['v1']);
  t.is((await passed).value?.toString(), 'v1');

  // An explicit GLT below the session's timestamp is served at once, as asked.
  const w2 = await writer.put('k', 'v2');
  t.deepEqual(writer.sessionGlt, w2.ts);
  const old = await writer.get('k', { glt: f });
  t.is(old.value?.toString(), 'v1');
  t.deepEqual(old.glt, f);
});

test('concurrent writes: every one is visible to the reads that follow, the session at the highest', async (t) => {
  const r = await startTestRegion({ datanodes: 3 });
  const client = connect({ topology: r.topology, region: 'r1', etcd: false });
  t.teardown(async () => {
    client.close();
    await r.close();
  });
  const keys = Array.from({ length: 40 }, (_, i) => `c${i}`);
  const writes = await Promise.all(keys.map((k) => client.put(k, `v-${k}`)));
  const highest = writes.map((w) => w.ts).reduce(maxGlt);
  t.deepEqual(client.sessionGlt, highest);
  const reads = Promise.all(keys.map((k) => client.get(k)));
  await advanceFrontierPast(r, highest);
  for (const [i, got] of (await reads).entries()) t.is(got.value?.toString(), `v-${keys[i]}`);
});

test('a region that does not reach the session timestamp in time fails SNAPSHOT_NOT_READY, saying why', async (t) => {
  const r = await startTestRegion();
  const writer = connect({ topology: r.topology, region: 'r1', etcd: false });
  // A 4 s deadline: a read waits 3 s by default, so the region answers before the deadline (not TIMEOUT).
  const client = connect({ topology: r.topology, region: 'r1', etcd: false, callTimeoutMs: 4_000 });
  t.teardown(async () => {
    writer.close();
    client.close();
    await r.close();
  });
  await client.get('k'); // connected, so the deadline is the wait's alone
  const w = await writer.put('k', 'v');
  client.observe(writer.sessionGlt!);
  for (const read of [() => client.get('k'), () => client.scan({ waitMs: 20 }), () => client.get('k', { waitMs: 20, minGlt: glt(1n) })]) {
    const e = await t.throwsAsync(read(), { instanceOf: SessionNotReadyError });
    t.is(e?.code, 'SNAPSHOT_NOT_READY');
    t.is(e?.details['sessionGlt'], formatGlt(w.ts));
    t.regex(e?.message ?? '', /read-your-writes/);
  }
  // A minGlt above the session's timestamp is the caller's own: its refusal is the plain one.
  const own = await t.throwsAsync(client.get('k', { minGlt: nextGlt(w.ts), waitMs: 0 }), { instanceOf: AetherError });
  t.is(own?.code, 'SNAPSHOT_NOT_READY');
  t.false(own instanceof SessionNotReadyError);
});
