import test from 'ava';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { connect } from '../../client/client.js';
import { currentLeader } from '../../cluster/election.js';
import { connectEtcd } from '../../cluster/etcd.js';
import { clusterPaths } from '../../cluster/paths.js';
import { formatGlt } from '../../glts/glt.js';
import { processAlive } from '../../topology/supervisor.js';
import { eventually } from '../cluster/etcd-fixture.js';
import { copyLocalTopology } from './topology-copy.js';
import { processesMentioning, readyPid, startUp, type UpEvent } from './deployment.js';

// End to end on real processes: `up` (from dist/, built by `make test`) runs
// topology/local.yaml — ports and data moved to a temp dir — with a real local etcd.

const CLI = fileURLToPath(new URL('../../dist/cli/main.js', import.meta.url));
const NAME = 'e2e';
const run = promisify(execFile);

function logTail(file: string, lines: number): string {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch (err) {
    return `(unreadable: ${String(err)})`;
  }
}

/** The pid of `id`'s latest ready event at index `from` or later. */
/** Restarts before any fault: a process that died by itself (CI saw one) is worth its log. */
function unplannedRestarts(events: readonly UpEvent[]): string[] {
  return [...new Set(events.filter((e) => e.event === 'process' && (e.restarts ?? 0) > 0).map((e) => e.id!))];
}

test('up runs local.yaml: writes and reads, a data node and a leader die and recover, stop leaves nothing', async (t) => {
  t.timeout(240_000); // ~40 s alone; starting 15 processes takes longer on a loaded machine
  const dir = mkdtempSync(join(tmpdir(), 'aetherflow-e2e-'));
  // A relaxed interval, and a leader failover (lease TTL 1 s) short of exclusion: a region
  // excluded meanwhile would re-stamp the writes it takes, and this test reads them by ts.
  const topologyFile = await copyLocalTopology(dir, NAME, { intervalMs: 200, budgetMs: 200, silenceMs: 10_000, lagLimitMs: 20_000 });
  const { up, events } = startUp(dir, topologyFile);
  const cli = (...args: string[]) => run(process.execPath, [CLI, ...args, '--topology', topologyFile, '--json'], { cwd: dir });
  const client = connect({ topologyFile });
  let etcd: ReturnType<typeof connectEtcd> | undefined;
  t.teardown(() => {
    client.close();
    etcd?.close();
    if (up.exitCode === null) up.kill('SIGKILL');
    for (const pid of processesMentioning(dir)) process.kill(pid, 'SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  });

  const starting = await eventually(() => events.find((e) => e.event === 'starting'), 30_000, 'up starting');
  const ids = (starting as unknown as { processes: { id: string }[] }).processes.map((p) => p.id);
  t.is(ids.length, 14);
  await eventually(() => (ids.every((id) => readyPid(events, id) !== undefined) ? true : undefined), 60_000, 'every process ready');

  // Through gRPC: a write in us-east is readable there once the frontier passes it.
  const w = await client.put('e2e:a', 'alpha', { region: 'us-east' });
  const r = await client.get('e2e:a', { region: 'us-east', minGlt: w.ts, waitMs: 5000 });
  t.is(r.value?.toString(), 'alpha');

  // Through the CLI.
  const put = JSON.parse((await cli('put', 'e2e:b', 'beta', '--region', 'eu-west')).stdout) as { ts: string; origin: string };
  const got = JSON.parse((await cli('get', 'e2e:b', '--region', 'eu-west', '--min-glt', put.ts, '--wait', '5000')).stdout) as { found: boolean; value: string };
  t.true(got.found);
  t.is(got.value, 'beta');

  // SIGKILL the data node holding e2e:a: up restarts it, and the value is still there.
  const victim = w.origin;
  for (const id of unplannedRestarts(events)) t.log(`${id} restarted before any fault; its log ends:\n${logTail(join(dir, '.aetherflow', NAME, 'logs', `${id}.log`), 15)}`);
  const victimPid = readyPid(events, victim)!;
  const killedDataNodeAt = events.length;
  process.kill(victimPid, 'SIGKILL');
  const restartedPid = await eventually(() => readyPid(events, victim, killedDataNodeAt), 30_000, `${victim} restarted`);
  t.not(restartedPid, victimPid);
  const again = await client.get('e2e:a', { region: 'us-east', minGlt: w.ts, waitMs: 5000 });
  t.is(again.value?.toString(), 'alpha');
  t.is(again.version && formatGlt(again.version), formatGlt(w.ts));

  // SIGKILL us-east's elected leader: the standby is elected and serves.
  const status = JSON.parse((await cli('status')).stdout) as { regions: { name: string; leader: { id: string } | null }[]; coordinator: { id: string } | null };
  t.truthy(status.coordinator);
  const oldLeader = status.regions.find((x) => x.name === 'us-east')!.leader!.id;
  etcd = connectEtcd(readFileSync(join(dir, '.aetherflow', NAME, 'etcd-endpoints'), 'utf8').trim().split('\n'));
  const paths = clusterPaths(NAME);
  const killedAt = Date.now();
  const killedLeaderAt = events.length;
  process.kill(readyPid(events, oldLeader)!, 'SIGKILL');
  const newLeader = await eventually(async () => {
    const l = await currentLeader(etcd!, paths.electionPrefix(paths.leaderElection('us-east')));
    return l && l.value.id !== oldLeader ? l.value.id : undefined;
  }, 15_000, 'a new us-east leader');
  const w2 = await client.put('e2e:c', 'gamma', { region: 'us-east' });
  const failoverMs = Date.now() - killedAt;
  t.log(`us-east leader failover ${oldLeader} → ${newLeader}: serving writes ${failoverMs} ms after SIGKILL (goal 3000 ms)`);
  // An outcome, not a speed: a loaded machine stretches elections.
  t.true(failoverMs < 20_000, `failover took ${failoverMs} ms`);
  // The new term serves at a frontier no lower than the old one's: an older write is visible
  // at once (without read-your-writes, which would wait for w2).
  t.is((await client.get('e2e:a', { region: 'us-east', readYourWrites: false })).value?.toString(), 'alpha');
  const r2 = await client.get('e2e:c', { region: 'us-east', minGlt: w2.ts, waitMs: 5000 });
  t.is(r2.value?.toString(), 'gamma');
  await eventually(() => readyPid(events, oldLeader, killedLeaderAt), 30_000, `${oldLeader} restarted`);

  // Stop: up stops everything it started.
  const reported = new Set<number>([...events.flatMap((e) => (e.pid !== undefined ? [e.pid] : [])), ...events.flatMap((e) => e.pids ?? [])]);
  t.true(reported.size >= 15); // 14 role processes (and restarts) and etcd
  const exited = new Promise<number | null>((resolve) => up.once('exit', (code) => resolve(code)));
  up.kill('SIGTERM');
  t.is(await exited, 0);
  t.true(events.some((e) => e.event === 'stopped'));
  // Every role process shut down by itself on SIGTERM (none needed the SIGKILL fallback).
  const stops = events.filter((e) => e.event === 'process' && e.state === 'stopped') as (UpEvent & { exitCode?: number | null; signal?: string | null; stopMs?: number })[];
  t.is(stops.length, 14);
  const unclean = stops.filter((e) => e.exitCode !== 0);
  for (const e of unclean) t.log(`${e.id} exited ${e.exitCode ?? e.signal} ${e.stopMs} ms after SIGTERM; its log ends:\n${logTail(join(dir, '.aetherflow', NAME, 'logs', `${e.id}.log`), 15)}`);
  t.deepEqual(unclean.map((e) => e.id), []);
  t.deepEqual([...reported].filter(processAlive), []);
  t.deepEqual(processesMentioning(dir), []);
});
