import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import * as grpc from '@grpc/grpc-js';
import { connect } from '../../index.js';
import { AetherError } from '../../common/errors.js';
import { GLT_MAX, GLT_ZERO, compareGlt, formatGlt, nextGlt } from '../../glts/glt.js';
import { CHANNEL_OPTIONS } from '../../proto/channel-options.js';
import { KvClient, KvService, type KVClient } from '../../proto/load.js';
import { startServer } from '../../proto/server.js';
import { channelSettings } from '../../security/transport-security.js';
import { testClientSecurity, testNodeSecurity } from '../security/fixture.js';
import { fromServiceError } from '../../proto/status.js';
import { DEFAULT_API_LIMITS } from '../../regional/api-limits.js';
import { advanceFrontierPast as advance, startTestRegion, type TestRegion } from './cluster.js';

/** A bare KV client of one leader, with the client certificate of the deployment (test/security/fixture.ts). */
async function rawKv(address: string): Promise<KVClient> {
  const channel = channelSettings(await testClientSecurity(), address, CHANNEL_OPTIONS);
  return new KvClient(address, channel.credentials, channel.options) as KVClient;
}

/** Everything the region's stores hold, any origin, for "nothing was written" checks. */
async function versionCount(r: TestRegion): Promise<number> {
  let n = 0;
  for (const s of r.stores) for (const origin of await s.origins()) n += (await s.changes(origin, GLT_ZERO, GLT_MAX, 1 << 30)).versions.count;
  return n;
}

async function codeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (err) {
    if (err instanceof AetherError) return err.code;
    throw err;
  }
  return 'no error';
}

test('write, read at the frontier and at a GLT, scan in key order, delete', async (t) => {
  const r = await startTestRegion({ datanodes: 3 });
  const client = connect({ topology: r.topology, region: 'r1' });
  t.teardown(async () => {
    client.close();
    await r.close();
  });
  const writes = [];
  for (const k of ['b', 'a', 'd', 'c', 'e', 'x:1']) writes.push(await client.put(k, `v-${k}`));
  t.true(new Set(writes.map((w) => w.origin)).size > 1, 'keys spread over data nodes');
  // Without read-your-writes: the frontier as it is, which has not passed the writes yet.
  const before = await client.get('a', { readYourWrites: false });
  t.false(before.found, 'not readable before the frontier passes the write');

  const last = writes.reduce((m, w) => (compareGlt(w.ts, m) > 0 ? w.ts : m), writes[0]!.ts);
  const f1 = await advance(r, last);
  const got = await client.get('a');
  t.true(got.found);
  t.is(got.value!.toString(), 'v-a');
  t.deepEqual(got.glt, f1);
  t.deepEqual(got.version, writes[1]!.ts);
  t.is(got.origin, writes[1]!.origin);

  const del = await client.delete('a');
  const b2 = await client.put('b', 'v-b2');
  const f2 = await advance(r, compareGlt(b2.ts, del.ts) > 0 ? b2.ts : del.ts);
  t.false((await client.get('a')).found);
  t.true((await client.get('a', { glt: f1 })).found, 'the old snapshot still has it');
  t.is((await client.get('b', { glt: formatGlt(f1) })).value!.toString(), 'v-b');
  t.is((await client.get('b', { glt: 'latest' })).value!.toString(), 'v-b2');

  const all = await client.scan({});
  t.deepEqual(all.glt, f2);
  const keys: string[] = [];
  for await (const row of all.rows) keys.push(row.key.toString());
  t.deepEqual(keys, ['b', 'c', 'd', 'e', 'x:1']);

  const limited = await client.scan({ start: 'b', end: 'e', limit: 2 });
  const lk: string[] = [];
  for await (const row of limited.rows) lk.push(row.key.toString());
  t.deepEqual(lk, ['b', 'c']);

  const prefixed = await client.scan({ prefix: 'x:', glt: f1 });
  const pk: string[] = [];
  for await (const row of prefixed.rows) pk.push(row.key.toString());
  t.deepEqual(pk, ['x:1']);
});

test('bad requests fail INVALID_ARGUMENT with their code and write nothing', async (t) => {
  const r = await startTestRegion({ limits: { ...DEFAULT_API_LIMITS, maxKeyBytes: 64, maxValueBytes: 1024, maxWaitMs: 1000, maxWriteMutations: 100 } });
  const client = connect({ topology: r.topology, region: 'r1' });
  t.teardown(async () => {
    client.close();
    await r.close();
  });
  t.is(await codeOf(client.put('k'.repeat(65), 'v')), 'KEY_TOO_LARGE');
  t.is(await codeOf(client.put('k', Buffer.alloc(1025))), 'VALUE_TOO_LARGE');
  t.is(await codeOf(client.put('', 'v')), 'INVALID_ARGUMENT');
  t.is(await codeOf(client.delete('k'.repeat(65))), 'KEY_TOO_LARGE');
  t.is(await codeOf(client.get('k', { glt: 'yesterday' })), 'GLT_PARSE');
  t.is(await codeOf(client.get('k', { waitMs: 5000 })), 'INVALID_ARGUMENT');
  t.is(await codeOf(client.scan({ prefix: 'p', start: 'a' })), 'INVALID_ARGUMENT');
  t.is(await codeOf(client.get('k', { region: 'mars' })), 'UNKNOWN_REGION');
  t.is(await versionCount(r), 0);

  // The status itself is INVALID_ARGUMENT with the code at the start of the message.
  const raw = await rawKv(r.leaders[0]!.address);
  t.teardown(() => raw.close());
  const err = await new Promise<grpc.ServiceError>((resolve) => raw.Put({ key: Buffer.alloc(65), value: Buffer.alloc(0) }, (e) => resolve(e!)));
  t.is(err.code, grpc.status.INVALID_ARGUMENT);
  t.regex(err.details, /^KEY_TOO_LARGE: /);
  t.is(fromServiceError(err, 'Put').code, 'KEY_TOO_LARGE');
});

test('reads above the frontier wait, then fail SNAPSHOT_NOT_READY; below the horizon SNAPSHOT_COLLECTED', async (t) => {
  const r = await startTestRegion();
  const client = connect({ topology: r.topology, region: 'r1' });
  t.teardown(async () => {
    client.close();
    await r.close();
  });
  const w = await client.put('k', 'v1');
  const f = await advance(r, w.ts);
  const above = { wall: f.wall + 1_000_000_000n, logical: 0 };
  t.is(await codeOf(client.get('k', { glt: above, waitMs: 20 })), 'SNAPSHOT_NOT_READY');
  t.is(await codeOf(client.get('k', { minGlt: above, waitMs: 0 })), 'SNAPSHOT_NOT_READY');
  t.is(await codeOf(client.scan({ glt: above, waitMs: 20 })), 'SNAPSHOT_NOT_READY');

  // A read waiting for the frontier is served once it gets there.
  const w2 = await client.put('k', 'v2');
  const pending = client.get('k', { minGlt: nextGlt(w2.ts), waitMs: 900 });
  await advance(r, nextGlt(w2.ts));
  const got = await pending;
  t.is(got.value!.toString(), 'v2');

  await client.put('k', 'v3');
  const f3 = await advance(r, nextGlt(nextGlt(w2.ts)));
  for (const s of r.stores) await s.gc(f3);
  t.is(await codeOf(client.get('k', { glt: f })), 'SNAPSHOT_COLLECTED');
});

test('a standby answers NOT_LEADER with the leader; the client follows it and survives a failover', async (t) => {
  const r = await startTestRegion();
  const client = connect({ topology: r.topology, region: 'r1', retry: { deadlineMs: 3000 } });
  t.teardown(async () => {
    client.close();
    await r.close();
  });
  const raw = await rawKv(r.leaders[1]!.address);
  t.teardown(() => raw.close());
  const err = await new Promise<grpc.ServiceError>((resolve) => raw.Put({ key: Buffer.from('k'), value: Buffer.from('v') }, (e) => resolve(e!)));
  t.is(err.code, grpc.status.UNAVAILABLE);
  const e = fromServiceError(err, 'Put');
  t.is(e.code, 'NOT_LEADER');
  t.is(e.details['leader'], r.leaders[0]!.address);

  // The topology lists the standby first: the client is redirected.
  const w1 = await client.put('k', 'v1');
  t.is(w1.origin.startsWith('r1-d'), true);

  // Failover: l1 steps down, l2 is elected.
  r.leaders[0]!.setLeadership({ state: 'standby', leader: r.leaders[1]!.address });
  r.leaders[1]!.setLeadership({ state: 'elected' });
  const w2 = await client.put('k', 'v2');
  t.true(compareGlt(w2.ts, w1.ts) > 0);

  // Nobody elected: bounded retries, then NOT_LEADER.
  r.leaders[1]!.setLeadership({ state: 'standby', leader: null });
  const quick = connect({ topology: r.topology, region: 'r1', retry: { deadlineMs: 200 } });
  t.teardown(() => quick.close());
  t.is(await codeOf(quick.put('k', 'v3')), 'NOT_LEADER');
});

test('a write whose deadline passes before the leader answers fails OUTCOME_UNKNOWN, not TIMEOUT, and is not sent again', async (t) => {
  const r = await startTestRegion();
  let received = 0;
  const silent = await startServer('127.0.0.1:0', [[KvService, { Write: () => void received++ }]], { security: await testNodeSecurity('r1-silent') });
  const region = r.topology.regions[0]!;
  const elected = region.leaders.find((l) => l.grpc === r.leaders[0]!.address)!;
  const topology = { ...r.topology, regions: [{ ...region, leaders: [{ ...elected, id: 'r1-silent', grpc: silent.address }, elected] }] };
  const client = connect({ topology, region: 'r1', callTimeoutMs: 500, retry: { deadlineMs: 3000 } });
  t.teardown(async () => {
    client.close();
    await silent.close(0);
    await r.close();
  });
  const e = await client.put('k', 'v1').then(
    () => undefined,
    (err: unknown) => err as AetherError,
  );
  t.is(e?.code, 'OUTCOME_UNKNOWN');
  t.is((e?.cause as AetherError | undefined)?.code, 'TIMEOUT');
  t.is(received, 1);
  t.is(await versionCount(r), 0);
});

test('a write whose leader dies after receiving it fails OUTCOME_UNKNOWN and is not sent again; one never sent is retried', async (t) => {
  const r = await startTestRegion();
  // A leader that receives writes and dies before answering (SIGKILL mid-call).
  let received = 0;
  let dying: Promise<void> | undefined;
  const dies = await startServer('127.0.0.1:0', [
    [
      KvService,
      {
        Write: () => {
          received++;
          dying = dies.close(0);
        },
      },
    ],
  ], { security: await testNodeSecurity('r1-dies') });
  const region = r.topology.regions[0]!;
  const elected = region.leaders.find((l) => l.grpc === r.leaders[0]!.address)!;
  const topology = { ...r.topology, regions: [{ ...region, leaders: [{ ...elected, id: 'r1-dies', grpc: dies.address }, elected] }] };
  const client = connect({ topology, region: 'r1', retry: { deadlineMs: 3000 } });
  t.teardown(async () => {
    client.close();
    await dies.close(0);
    await r.close();
  });

  const e = await client.put('k', 'v1').then(
    () => undefined,
    (err: unknown) => err as AetherError,
  );
  t.is(e?.code, 'OUTCOME_UNKNOWN');
  await dying;
  t.is(received, 1);
  t.is(await versionCount(r), 0); // not sent to the other candidate

  // Now nothing listens there: the call never leaves the client, so it goes to the next candidate.
  const w = await client.put('k', 'v2');
  t.true(w.origin.startsWith('r1-d'));
  t.is(received, 1);
  t.is(await versionCount(r), 1);
});

test('an unreachable region fails UNAVAILABLE after bounded retries', async (t) => {
  const r = await startTestRegion();
  const topology = r.topology;
  await r.close();
  const client = connect({ topology, region: 'r1', retry: { deadlineMs: 200 } });
  t.teardown(() => client.close());
  t.is(await codeOf(client.put('k', 'v')), 'UNAVAILABLE');
});

test('snapshots: latest, list newest first, watch', async (t) => {
  const r = await startTestRegion();
  const client = connect({ topology: r.topology, region: 'r1' });
  t.teardown(async () => {
    client.close();
    await r.close();
  });
  t.is(await codeOf(client.latestSnapshot()), 'SNAPSHOT_NOT_READY');
  const log = r.leaders[0]!.snapshotLog as import('../../regional/snapshot-log.js').MemorySnapshotLog;
  const snap = (wall: bigint) => ({ glt: { wall, logical: 0 }, members: ['r1', 'r2'], durationMs: 12.5, phases: [{ name: 'close', ms: 1.5 }], epoch: 7n, committedAtMs: 1 });
  log.append(snap(100n));
  log.append(snap(200n));
  const latest = await client.latestSnapshot();
  t.is(latest.glt.wall, 200n);
  t.deepEqual(latest.members, ['r1', 'r2']);
  t.is(latest.epoch, 7n);
  t.deepEqual(latest.phases, [{ name: 'close', ms: 1.5 }]);
  t.deepEqual((await client.snapshots({ limit: 5 })).map((s) => s.glt.wall), [200n, 100n]);

  const watch = client.watchSnapshots();
  const first = watch.next();
  // The watch is registered once the server has the call; append until it sees one.
  let wall = 300n;
  const timer = setInterval(() => log.append(snap(wall++)), 20);
  const got = await first;
  clearInterval(timer);
  await watch.return(undefined);
  t.false(got.done);
  t.true(got.value!.glt.wall >= 300n);
});

test('a client made before its certificates exist fails its calls CERTIFICATE until they appear', async (t) => {
  const r = await startTestRegion();
  const dir = mkdtempSync(join(tmpdir(), 'aetherflow-late-certs-'));
  const client = connect({ topology: r.topology, region: 'r1', etcd: false, certsDir: dir });
  t.teardown(async () => {
    client.close();
    rmSync(dir, { recursive: true, force: true });
    await r.close();
  });
  t.is(await codeOf(client.put('k', 'v')), 'CERTIFICATE');
  cpSync(r.topology.security.certsDir, dir, { recursive: true });
  t.is((await client.put('k', 'v')).origin.startsWith('r1-d'), true);
});
