import test from 'ava';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { checkAgainstModel, checkSameSnapshot, formatDifference, type ScannedRow } from '../../bench/lww-model.js';
import { WriteLoad } from '../../bench/workload.js';
import { CommitHistory, type WriteFate } from '../../chaos/commit-history.js';
import { Deployment } from '../../chaos/deployment.js';
import { healPartitions, partitionRegion } from '../../chaos/faults.js';
import { restampedModel } from '../../chaos/restamped-model.js';
import { RoundObserver } from '../../chaos/round-observer.js';
import { connect, type AetherClient } from '../../client/client.js';
import { compareGlt, formatGlt, glt, gltEquals, type Glt } from '../../glts/glt.js';
import { Random } from '../../transport/random.js';
import { eventually } from '../cluster/etcd-fixture.js';
import { copyLocalTopology } from './topology-copy.js';
import { processesMentioning } from './deployment.js';

// End to end on real processes (`up` from dist/, built by `make test`, on a private copy of
// topology/local.yaml): concurrent random puts and deletes in every region, then scans at
// committed and at random GLTs are identical in every region and equal the LWW model of the
// acknowledged writes (invariant S); a write acknowledged in one region is readable in
// every other at a GLT ≥ its ts. The model follows rule D exactly: a region excluded
// under load (a loaded machine excludes regions now and then) re-stamps the writes it
// had not shipped above the frontier when it rejoins; the commit records and the
// membership in etcd tell which writes (chaos/commit-history.ts).

const CLI = fileURLToPath(new URL('../../dist/cli/main.js', import.meta.url));
const WAIT_MS = 15_000;
/** How long a membership record may trail the commit record it goes with (two etcd watches). */
const MEMBERSHIP_LAG_MS = 300;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function scanAt(client: AetherClient, region: string, prefix: string, at: Glt): Promise<ScannedRow[]> {
  const { rows } = await client.scan({ region, prefix, glt: at, waitMs: WAIT_MS });
  const out: ScannedRow[] = [];
  for await (const r of rows) out.push(r);
  return out;
}

test('scans at committed and random GLTs agree in every region and equal the LWW model of the acknowledged writes', async (t) => {
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

  const endpoints = readFileSync(join(dir, '.aetherflow', 'model', 'etcd-endpoints'), 'utf8').split('\n').filter((l) => l.trim());
  const deployment = Deployment.open({ ...client.topology, etcd: { ...client.topology.etcd, endpoints } });
  const observer = await RoundObserver.start(deployment);
  t.teardown(async () => {
    await observer.stop();
    deployment.close();
  });
  const history = (): CommitHistory =>
    new CommitHistory([...(observer.prior ? [observer.prior] : []), ...observer.commits.map((c) => c.record)], observer.memberships.flatMap((m) => m.record.excluded));
  // A committed round ≥ T of every region, settled (every readmitted region shipped its re-stamps), judged again after the membership lag.
  const settledAbove = async (T: Glt, what: string): Promise<Glt> => {
    const find = (): Glt | undefined => {
      const h = history();
      return observer.commits.find((c) => compareGlt(c.record.T, T) >= 0 && c.record.members.length === regions.length && h.settledAt(c.record.T))?.record.T;
    };
    return eventually(async () => (find() ? (await sleep(MEMBERSHIP_LAG_MS), find()) : undefined), 30_000, what);
  };

  const prefix = `model/${seed}/`;
  // A small keyspace, so regions overwrite and delete each other's keys and LWW decides.
  const load = new WriteLoad(client, { regions, keyPrefix: prefix, ratePerS: 300, keys: 40, deleteFraction: 0.3, seed, maxWrites: 1200, maxDurationMs: 4000 });
  load.start();
  await load.done();
  const stats = load.stats();
  t.log(`${stats.acknowledged} writes acknowledged, failures ${JSON.stringify(stats.failures)}, shed ${stats.shed}`);
  t.true(stats.acknowledged > 0);
  const writes = load.acknowledged();
  const newest = load.newestTs()!;

  // A settled snapshot of every region covering every acknowledged write (and every re-stamp).
  const lastGlt = await settledAbove(newest, 'a settled snapshot of every region above the last write');
  const during = observer.commits.map((c) => c.record).filter((r) => compareGlt(r.T, writes[0]!.ts) >= 0 && compareGlt(r.T, lastGlt) <= 0);
  const partial = during.filter((r) => r.members.length < regions.length);
  t.log(`${during.length} snapshots committed during the load, ${partial.length} without every region${partial.length ? ` (e.g. ${formatGlt(partial[0]!.T)}: ${partial[0]!.members.join(', ')})` : ''}`);
  const committed = during.map((r) => r.T);
  const picks: { glt: Glt; why: string }[] = [{ glt: lastGlt, why: 'committed, settled, after every write' }];
  for (let i = 0; i < 3 && committed.length > 0; i++) picks.push({ glt: committed[rng.int(committed.length)]!, why: 'committed, during the load' });
  const lo = writes[0]!.ts.wall;
  const span = lastGlt.wall - lo;
  for (let i = 0; i < 4; i++) picks.push({ glt: glt(lo + (span * BigInt(rng.int(1000))) / 1000n, rng.int(3)), why: 'random, at or below the frontier' });
  const scans: ScannedRow[][][] = [];
  for (const p of picks) scans.push(await Promise.all(regions.map((region) => scanAt(client, region, prefix, p.glt))));

  // The model of rule D: every write at its ts, or re-stamped where a scan shows it. It cannot
  // vouch for a key (a) written by a failed write (it may have been applied: a timeout), or
  // (b) near a re-stamped delete: a tombstone shows in no scan, so its new ts is known only
  // to lie in a window (`blindAt`).
  const { model, restamps, violations, blindAt } = restampedModel(writes, history(), scans.flat(2));
  const failedKeys = new Set(load.uncertainKeys());
  const uncertain = (key: string, T: Glt): boolean => failedKeys.has(key) || blindAt(key, T);
  t.log(`${restamps.length} writes re-stamped (${restamps.filter((r) => r.to).length} seen, ${restamps.filter((r) => !r.to && r.w.value === null).length} unseen deletes); ${failedKeys.size} keys with failed writes`);

  const problems: string[] = [...violations];
  let nonEmpty = 0;
  let checkedAgainstModel = 0;
  picks.forEach((p, n) => {
    const byRegion = scans[n]!;
    if (byRegion[0]!.length > 0) nonEmpty++;
    const vouched = model.keys().filter((k) => !uncertain(k, p.glt)).length;
    checkedAgainstModel += vouched;
    t.log(`${formatGlt(p.glt)} (${p.why}): the model vouches for ${vouched} of ${model.keys().length} keys`);
    byRegion.forEach((rows, i) => {
      for (const d of checkSameSnapshot(byRegion[0]!, rows)) problems.push(`S at ${formatGlt(p.glt)} (${p.why}): ${regions[i]} vs ${regions[0]}: ${formatDifference(d)}`);
      for (const d of checkAgainstModel(model, p.glt, rows)) {
        if (!uncertain(d.key, p.glt)) problems.push(`model at ${formatGlt(p.glt)} (${p.why}): ${regions[i]}: ${formatDifference(d)}`);
      }
    });
  });
  const sProblems = problems.filter((x) => x.startsWith('S '));
  t.log(`${sProblems.length} differences between regions, ${problems.length - sProblems.length} against the model`);
  t.deepEqual(sProblems.slice(0, 10), [], `seed ${seed}`);
  t.deepEqual(problems.slice(0, 10), [], `seed ${seed}`);
  t.true(nonEmpty > 0, 'some snapshot holds the writes');
  t.true(checkedAgainstModel > 0);

  // A write acknowledged in one region is readable in every other at a GLT ≥ its ts — with
  // its ts, or (rule D) re-stamped above the frontier when its region rejoined, if the
  // region was excluded before shipping it.
  for (const from of regions) {
    const key = `${prefix}own/${from}`;
    const value = `from ${from}`;
    const w = await client.put(key, value, { region: from });
    const reads = [];
    for (const to of regions) reads.push({ to, r: await client.get(key, { region: to, minGlt: w.ts, waitMs: WAIT_MS }) });
    const fate = await settledFate(from, w.ts);
    for (const { to, r } of reads) {
      const where = `${from} → ${to}`;
      t.true(compareGlt(r.glt, w.ts) >= 0, where);
      if (fate.kind === 'original' || (fate.kind === 'restamped' && fate.maybe && r.version && gltEquals(r.version, w.ts))) {
        t.is(r.value?.toString('utf8'), value, where);
        t.is(r.origin, w.origin, where);
        t.deepEqual(r.version, w.ts, where);
        continue;
      }
      t.is(fate.kind, 'restamped', where);
      if (fate.kind !== 'restamped') continue;
      t.log(`${where}: ${from} was excluded before shipping its write at ${formatGlt(w.ts)}; re-stamped above ${formatGlt(fate.above)}`);
      // Before the re-stamp is committed the key reads as absent; after, as the re-stamped write.
      if (r.found) t.true(r.version !== undefined && compareGlt(r.version, fate.above) > 0 && compareGlt(r.version, w.ts) > 0, where);
      const after = await client.get(key, { region: to, minGlt: await settledAbove(fate.rejoin!, `a settled snapshot after ${from} rejoined`), waitMs: WAIT_MS });
      t.is(after.value?.toString('utf8'), value, where);
      t.is(after.origin, w.origin, where);
      t.true(after.version !== undefined && compareGlt(after.version, fate.above) > 0 && compareGlt(after.version, w.ts) > 0, where);
    }
  }

  // Rule D on purpose: a write a region acknowledges while excluded (cut off from the others
  // and the coordinator) is in no snapshot at its ts; after healing it is re-stamped above the
  // frontier when the region rejoined, and every region reads it there.
  const cut = regions[rng.int(regions.length)]!;
  await partitionRegion(deployment, cut);
  let excludedWrite;
  try {
    await eventually(() => observer.memberships.at(-1)?.record.excluded.some((e) => e.region === cut) || undefined, 30_000, `${cut} excluded`);
    // The partition cuts Quantum links between regions; the region still takes writes.
    excludedWrite = await client.put(`${prefix}excluded/${cut}`, `while ${cut} was excluded`, { region: cut });
  } finally {
    await healPartitions(deployment, cut);
  }
  const fate = await settledFate(cut, excludedWrite.ts);
  t.like(fate, { kind: 'restamped', maybe: false }, `${cut}'s write at ${formatGlt(excludedWrite.ts)} while excluded`);
  if (fate.kind === 'restamped') {
    const at = await settledAbove(fate.rejoin!, `a settled snapshot after ${cut} rejoined`);
    t.log(`${cut}'s write at ${formatGlt(excludedWrite.ts)} while excluded: re-stamped above ${formatGlt(fate.above)}, read at ${formatGlt(at)}`);
    for (const to of regions) {
      const r = await client.get(`${prefix}excluded/${cut}`, { region: to, minGlt: at, waitMs: WAIT_MS });
      t.is(r.value?.toString('utf8'), `while ${cut} was excluded`, `${cut} → ${to}`);
      t.is(r.origin, excludedWrite.origin, `${cut} → ${to}`);
      t.true(r.version !== undefined && compareGlt(r.version, fate.above) > 0 && compareGlt(r.version, excludedWrite.ts) > 0, `${cut} → ${to}: re-stamped above ${formatGlt(fate.above)}`);
    }
  }

  /** Rule D's fate of `region`'s write at ts, once a round covers it (and, if re-stamped, once the region rejoined). */
  function settledFate(region: string, ts: Glt): Promise<WriteFate> {
    const known = (): WriteFate | undefined => {
      // The round after the covering one: an exclusion between them is in etcd by then.
      if (observer.commits.filter((c) => compareGlt(c.record.T, ts) >= 0).length < 2) return undefined;
      const fate = history().fate(region, ts);
      return fate.kind === 'open' || (fate.kind === 'restamped' && !fate.rejoin) ? undefined : fate;
    };
    return eventually(async () => (known() ? (await sleep(MEMBERSHIP_LAG_MS), known()) : undefined), 30_000, `the fate of ${region}'s write at ${formatGlt(ts)}`);
  }

  up.kill('SIGTERM');
  await eventually(() => (up.exitCode !== null ? true : undefined), 60_000, 'up stopped');
  t.deepEqual(processesMentioning(dir), []);
});
