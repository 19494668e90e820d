import test from 'ava';
import { knownFailing } from '../support/known-failing.js';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { checkAgainstModel, checkSameSnapshot, formatDifference, LwwModel, type ScannedRow } from '../../bench/lww-model.js';
import { WriteLoad } from '../../bench/workload.js';
import { connect, type AetherClient } from '../../client/client.js';
import { compareGlt, formatGlt, glt, type Glt } from '../../glts/glt.js';
import { Random } from '../../transport/random.js';
import { eventually } from '../cluster/etcd-fixture.js';
import { copyLocalTopology } from './topology-copy.js';
import { processesMentioning } from './deployment.js';

// End to end on real processes (`up` from dist/, built by `make test`, on a private copy of
// topology/local.yaml): concurrent random puts and deletes in every region, then scans at
// committed and at random GLTs are identical in every region and equal the LWW model of the
// acknowledged writes (invariant S); a write acknowledged in one region is readable in
// every other at a GLT ≥ its ts.

const CLI = fileURLToPath(new URL('../../dist/cli/main.js', import.meta.url));
const WAIT_MS = 15_000;

async function scanAt(client: AetherClient, region: string, prefix: string, at: Glt): Promise<ScannedRow[]> {
  const { rows } = await client.scan({ region, prefix, glt: at, waitMs: WAIT_MS });
  const out: ScannedRow[] = [];
  for await (const r of rows) out.push(r);
  return out;
}

knownFailing('a region excluded under load re-stamps its writes, so a read at the acknowledged ts misses them')('scans at committed and random GLTs agree in every region and equal the LWW model of the acknowledged writes', async (t) => {
  t.timeout(240_000); // starting 15 processes on a loaded machine can take long
  const seed = Number(process.env['AETHERFLOW_TEST_SEED'] ?? Date.now() % 1_000_000);
  t.log(`seed ${seed} (replay: AETHERFLOW_TEST_SEED=${seed})`);
  const rng = new Random(seed);
  const dir = mkdtempSync(join(tmpdir(), 'aetherflow-model-'));
  const topologyFile = await copyLocalTopology(dir, 'model');
  const up = spawn(process.execPath, [CLI, 'up', '--json', '--topology', topologyFile], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
  const ready = new Set<string>();
  let total = 0;
  let pending = '';
  up.stdout!.on('data', (d: Buffer) => {
    pending += d.toString('utf8');
    const lines = pending.split('\n');
    pending = lines.pop()!;
    for (const line of lines) {
      if (!line.trim()) continue;
      const e = JSON.parse(line) as { event: string; id?: string; state?: string; processes?: unknown[] };
      if (e.event === 'starting') total = e.processes!.length;
      if (e.event === 'process' && e.state === 'ready') ready.add(e.id!);
    }
  });
  up.stderr!.resume();
  const client = connect({ topologyFile });
  t.teardown(() => {
    client.close();
    if (up.exitCode === null) up.kill('SIGKILL');
    for (const pid of processesMentioning(dir)) process.kill(pid, 'SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  });

  await eventually(() => (total > 0 && ready.size === total ? true : undefined), 120_000, 'every process ready');
  const regions = client.topology.regions.map((r) => r.name);
  // A healthy start: a committed snapshot with every region a member.
  await eventually(() => client.latestSnapshot().then((s) => (s.members.length === regions.length ? s : undefined), () => undefined), 60_000, 'a snapshot with every region a member');

  const prefix = `model/${seed}/`;
  // A small keyspace, so regions overwrite and delete each other's keys and LWW decides.
  const load = new WriteLoad(client, { regions, keyPrefix: prefix, ratePerS: 300, keys: 40, deleteFraction: 0.3, seed, maxWrites: 1200, maxDurationMs: 4000 });
  load.start();
  await load.done();
  const stats = load.stats();
  t.log(`${stats.acknowledged} writes acknowledged, failures ${JSON.stringify(stats.failures)}, shed ${stats.shed}`);
  t.true(stats.acknowledged > 0);
  const writes = load.acknowledged();
  const model = new LwwModel(writes);
  const newest = load.newestTs()!;

  // A committed snapshot covering every acknowledged write.
  const last = await eventually(
    () => client.latestSnapshot().then((s) => (compareGlt(s.glt, newest) >= 0 ? s : undefined), () => undefined),
    WAIT_MS,
    'a snapshot above the last write',
  );
  const during = (await client.snapshots({ limit: 1000 })).filter((s) => compareGlt(s.glt, writes[0]!.ts) >= 0 && compareGlt(s.glt, last.glt) <= 0);
  const partial = during.filter((s) => s.members.length < regions.length);
  t.log(`${during.length} snapshots committed during the load, ${partial.length} without every region${partial.length ? ` (e.g. ${formatGlt(partial[0]!.glt)}: ${partial[0]!.members.join(', ')})` : ''}`);
  const committed = during.map((s) => s.glt);
  const picks: { glt: Glt; why: string }[] = [{ glt: last.glt, why: 'committed, after every write' }];
  for (let i = 0; i < 3 && committed.length > 0; i++) picks.push({ glt: committed[rng.int(committed.length)]!, why: 'committed, during the load' });
  const lo = writes[0]!.ts.wall;
  const span = last.glt.wall - lo;
  for (let i = 0; i < 4; i++) picks.push({ glt: glt(lo + (span * BigInt(rng.int(1000))) / 1000n, rng.int(3)), why: 'random, at or below the frontier' });
  // The plain LWW model cannot vouch for a key (a) written by a failed write (it may have
  // been applied: a timeout), or (b) written by a region excluded during the load: its
  // unshipped writes are re-stamped when it rejoins (DESIGN.md, D). S is checked on every key.
  const excluded = new Set(partial.flatMap((s) => regions.filter((r) => !s.members.includes(r))));
  const uncertain = new Set([...load.uncertainKeys(), ...writes.filter((w) => excluded.has(w.region)).map((w) => w.key)]);
  if (excluded.size > 0) t.log(`regions excluded during the load: ${[...excluded].join(', ')}; the model is checked on the ${model.keys().length - uncertain.size} keys they did not write`);

  const problems: string[] = [];
  let nonEmpty = 0;
  let checkedAgainstModel = 0;
  for (const p of picks) {
    const scans = await Promise.all(regions.map((region) => scanAt(client, region, prefix, p.glt)));
    if (scans[0]!.length > 0) nonEmpty++;
    checkedAgainstModel += model.keys().filter((k) => !uncertain.has(k)).length;
    scans.forEach((rows, i) => {
      for (const d of checkSameSnapshot(scans[0]!, rows)) problems.push(`S at ${formatGlt(p.glt)} (${p.why}): ${regions[i]} vs ${regions[0]}: ${formatDifference(d)}`);
      for (const d of checkAgainstModel(model, p.glt, rows)) {
        if (!uncertain.has(d.key)) problems.push(`model at ${formatGlt(p.glt)} (${p.why}): ${regions[i]}: ${formatDifference(d)}`);
      }
    });
  }
  const sProblems = problems.filter((x) => x.startsWith('S '));
  t.log(`${sProblems.length} differences between regions, ${problems.length - sProblems.length} against the model`);
  t.deepEqual(sProblems.slice(0, 10), [], `seed ${seed}`);
  t.deepEqual(problems.slice(0, 10), [], `seed ${seed}`);
  t.true(nonEmpty > 0, 'some snapshot holds the writes');
  if (excluded.size === 0) t.true(checkedAgainstModel > 0);

  // A write acknowledged in one region is readable in every other at a GLT ≥ its ts.
  for (const from of regions) {
    const key = `${prefix}own/${from}`;
    const w = await client.put(key, `from ${from}`, { region: from });
    for (const to of regions) {
      const r = await client.get(key, { region: to, minGlt: w.ts, waitMs: WAIT_MS });
      t.true(compareGlt(r.glt, w.ts) >= 0);
      t.is(r.value?.toString('utf8'), `from ${from}`, `${from} → ${to}`);
      t.is(r.origin, w.origin);
    }
  }

  up.kill('SIGTERM');
  await eventually(() => (up.exitCode !== null ? true : undefined), 60_000, 'up stopped');
  t.deepEqual(processesMentioning(dir), []);
});
