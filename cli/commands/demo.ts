import type { Command } from 'commander';
import { checkAgainstModel, checkSameSnapshot, formatDifference, LwwModel, type ScannedRow } from '../../bench/lww-model.js';
import { percentile } from '../../bench/compare-etcd-workload.js';
import { runUnderLoad, startDeployment, startProgress, stopDeployment, withStopSignal, type Deployment, type LoadRunResult, type SecondTick } from '../../bench/snapshot.js';
import { AetherError } from '../../common/errors.js';
import { compareGlt, formatGlt, type Glt } from '../../glts/glt.js';
import { loadTopology } from '../../topology/load.js';
import type { LaunchEvent } from '../../topology/launcher.js';
import { printJson } from '../output.js';
import { globalOptions } from '../program.js';

/**
 * `aetherflow demo` (`make demo`): the topology (default topology/local.yaml, with a local
 * etcd) on this machine, a mixed write load in every region, one line a second of live
 * snapshot figures; then one key read at one committed GLT in every region, and each
 * region's scan at that GLT, shown to agree with each other and with the LWW model of the
 * acknowledged writes. Stops everything it started.
 */

interface RegionRead {
  readonly region: string;
  readonly found: boolean;
  readonly value: string | null;
  readonly version: string | null;
  readonly origin: string | null;
}

interface Agreement {
  readonly glt: string;
  readonly key: string;
  readonly reads: RegionRead[];
  readonly keyAgrees: boolean;
  /** Regions left out of some round during the load (the model is not checked on their keys). */
  readonly excludedRegions: string[];
  readonly keyMatchesModel: boolean;
  /** Rows of the demo's keys in each region's scan at the GLT. */
  readonly scanRows: Record<string, number>;
  readonly scansAgree: boolean;
  readonly scansMatchModel: boolean;
  readonly differences: string[];
}

const MAX_DIFFERENCES_SHOWN = 10;
/** How long the final reads wait for a snapshot covering the last writes. */
const SETTLE_WAIT_MS = 10_000;

async function scanAll(d: Deployment, region: string, prefix: string, glt: Glt): Promise<ScannedRow[]> {
  const { rows } = await d.client.scan({ region, prefix, glt, waitMs: SETTLE_WAIT_MS });
  const out: ScannedRow[] = [];
  for await (const r of rows) out.push(r);
  return out;
}

/**
 * The GLT to compare at: the first committed snapshot at or above the newest acknowledged
 * write (so the comparison covers every write), waiting up to SETTLE_WAIT_MS for it; else
 * the newest GLT every region had reached.
 */
async function comparisonGlt(d: Deployment, r: LoadRunResult): Promise<Glt | undefined> {
  const newest = r.writeLoad.newestTs();
  const deadline = performance.now() + SETTLE_WAIT_MS;
  while (newest !== undefined && performance.now() < deadline) {
    try {
      const s = await d.client.latestSnapshot();
      if (compareGlt(s.glt, newest) >= 0) return s.glt;
    } catch {
      // none yet, or a failover: ask again
    }
    await new Promise((res) => setTimeout(res, d.topology.snapshot.intervalMs));
  }
  return r.observer.commonFrontier();
}

/** Reads the most written key, and scans the demo's keys, at one committed GLT in every region. */
async function checkAgreement(d: Deployment, r: LoadRunResult, prefix: string): Promise<Agreement> {
  const regions = d.topology.regions.map((x) => x.name);
  const glt = await comparisonGlt(d, r);
  if (glt === undefined) throw new AetherError('SNAPSHOT_NOT_READY', 'not every region has a committed snapshot; nothing to compare');
  const writes = r.writeLoad.acknowledged();
  const model = new LwwModel(writes);
  // The plain LWW model cannot vouch for a key written by a failed write (it may have been
  // applied: a timeout) or by a region excluded meanwhile (its unshipped writes are re-stamped
  // when it rejoins, DESIGN.md rule D); the regions must agree on every key all the same.
  const excluded = new Set(r.rounds.flatMap((x) => regions.filter((region) => !x.snapshot.members.includes(region))));
  const uncertain = new Set([...r.writeLoad.uncertainKeys(), ...writes.filter((w) => excluded.has(w.region)).map((w) => w.key)]);
  // The most written key the model vouches for and that is present at the GLT, else the most written.
  const counts = new Map<string, number>();
  for (const w of writes) counts.set(w.key, (counts.get(w.key) ?? 0) + 1);
  const ranked = [...counts].sort((a, b) => b[1] - a[1]).map(([k]) => k);
  const key = ranked.find((k) => !uncertain.has(k) && model.get(k, glt) !== null) ?? ranked[0] ?? r.writeLoad.key(0);
  const reads = await Promise.all(
    regions.map(async (region): Promise<RegionRead> => {
      const g = await d.client.get(key, { region, glt, waitMs: SETTLE_WAIT_MS });
      return { region, found: g.found, value: g.value?.toString('utf8') ?? null, version: g.version ? formatGlt(g.version) : null, origin: g.origin ?? null };
    }),
  );
  const expected = model.get(key, glt);
  const same = (a: RegionRead, b: RegionRead) => a.found === b.found && a.value === b.value && a.version === b.version && a.origin === b.origin;
  const scans = await Promise.all(regions.map((region) => scanAll(d, region, prefix, glt)));
  const differences: string[] = [];
  const modelDiffs = (rows: ScannedRow[]) => checkAgainstModel(model, glt, rows).filter((x) => !uncertain.has(x.key));
  scans.forEach((rows, i) => {
    for (const diff of checkSameSnapshot(scans[0]!, rows)) differences.push(`${regions[i]} vs ${regions[0]}: ${formatDifference(diff)}`);
    for (const diff of modelDiffs(rows)) differences.push(`${regions[i]} vs model: ${formatDifference(diff)}`);
  });
  return {
    glt: formatGlt(glt),
    key,
    reads,
    keyAgrees: reads.every((x) => same(x, reads[0]!)),
    excludedRegions: [...excluded],
    keyMatchesModel: uncertain.has(key) || reads.every((x) => (expected === null ? !x.found : x.value === expected.value && x.version === formatGlt(expected.ts) && x.origin === expected.origin)),
    scanRows: Object.fromEntries(regions.map((region, i) => [region, scans[i]!.length])),
    scansAgree: scans.every((rows) => checkSameSnapshot(scans[0]!, rows).length === 0),
    scansMatchModel: scans.every((rows) => modelDiffs(rows).length === 0),
    differences: differences.slice(0, MAX_DIFFERENCES_SHOWN),
  };
}

function summaryOf(r: LoadRunResult, budgetMs: number) {
  const durations = r.rounds.map((x) => x.snapshot.durationMs).sort((a, b) => a - b);
  return {
    durationS: Math.round(r.durationS * 10) / 10,
    roundsCommitted: r.rounds.length,
    roundsAborted: r.counters.aborted,
    roundP50Ms: percentile(durations, 50),
    roundP99Ms: percentile(durations, 99),
    budgetMs,
    writesAcknowledged: r.load.acknowledged,
    writesPerS: Math.round(r.load.writesPerS),
    writesFailed: r.load.failures,
    writesShed: r.load.shed,
  };
}

const ms = (x: number | undefined) => (x === undefined || !Number.isFinite(x) ? '   -' : x.toFixed(0).padStart(4));

function tickLine(t: SecondTick, budgetMs: number): string {
  const lag = Object.entries(t.lagMs)
    .map(([region, v]) => `${region} ${ms(v)}`)
    .join('  ');
  return (
    `${String(t.elapsedS).padStart(3)} s  rounds ${String(t.roundsTotal).padStart(5)} (+${String(t.roundsLastS).padStart(2)})  ` +
    `round p50 ${ms(t.roundP50Ms)} p99 ${ms(t.roundP99Ms)} ms / budget ${budgetMs}  lag ms: ${lag}  writes ${ms(t.writesLastS)}/s` +
    (t.failuresTotal > 0 ? `  (${t.failuresTotal} failed)` : '')
  );
}

export function registerDemo(program: Command): void {
  program
    .command('demo')
    .description('run the topology (default topology/local.yaml) with a mixed write load in every region and live snapshot figures, then show one key read at one GLT agreeing in every region')
    .option('--duration <s>', 'seconds of load (Ctrl-C ends it sooner)', '20')
    .option('--rate <n>', 'writes per second, total over all regions', '1000')
    .option('--keys <n>', 'keyspace size', '1000')
    .option('--seed <n>', 'seed of the write load', '1')
    .addHelpText(
      'after',
      `
Each line: seconds; rounds committed (total, +last second); round time p50/p99 against the
budget; per region, how far its frontier trails the deployment's clock; writes/s.
With --json: JSON lines ({"event": …}). Logs: .aetherflow/<name>/logs/.`,
    )
    .action(async (o: { duration: string; rate: string; keys: string; seed: string }, cmd: Command) => {
      const opts = globalOptions(cmd);
      const durationS = Number(o.duration);
      const ratePerS = Number(o.rate);
      if (!(durationS > 0) || !(ratePerS > 0) || !(Number(o.keys) >= 1)) throw new AetherError('USAGE', '--duration, --rate and --keys must be positive numbers');
      const topology = loadTopology(opts.topology);
      const out = (s: string) => void process.stdout.write(`${s}\n`);
      const budgetMs = topology.snapshot.budgetMs;
      const prefix = `demo/${Date.now()}/`;
      const onEvent = opts.json ? (e: LaunchEvent) => printJson({ event: e.type === 'process' ? `process-${e.state}` : e.type, ...('process' in e ? { id: e.process.id } : {}) }) : startProgress(topology, out);
      await withStopSignal(async (stopRequested) => {
        if (!opts.json) out(`AetherFlow demo: topology ${topology.name} (${topology.regions.map((r) => r.name).join(', ')}), a snapshot round every ${topology.snapshot.intervalMs} ms within ${budgetMs} ms`);
        const d = await startDeployment(topology, onEvent);
        try {
          if (stopRequested()) return;
          if (!opts.json) out(`all processes ready; waiting for a committed snapshot with every region, then ${ratePerS} writes/s (puts and deletes) in every region for ${durationS} s — Ctrl-C ends it sooner`);
          const r = await runUnderLoad(d, {
            ratePerS,
            durationS,
            seed: Number(o.seed),
            keys: Number(o.keys),
            keyPrefix: prefix,
            stopRequested,
            onSecond: (t) => (opts.json ? printJson({ event: 'second', ...t }) : out(tickLine(t, budgetMs))),
          });
          const summary = summaryOf(r, budgetMs);
          const agreement = await checkAgreement(d, r, prefix);
          if (opts.json) {
            printJson({ event: 'agreement', ...agreement });
            printJson({ event: 'summary', ...summary });
          } else {
            out(`\nread of "${agreement.key}" at GLT ${agreement.glt} (a snapshot every region has committed):`);
            for (const x of agreement.reads) out(`  ${x.region.padEnd(10)} ${x.found ? `${JSON.stringify(x.value)}  version ${x.version} from ${x.origin}` : '(absent)'}`);
            out(`  ${agreement.keyAgrees ? 'every region agrees' : 'REGIONS DISAGREE'}; ${agreement.keyMatchesModel ? 'equal to' : 'DIFFERENT FROM'} the last-writer-wins winner of the acknowledged writes`);
            out(`scan of the demo's keys at that GLT: ${Object.entries(agreement.scanRows).map(([k, v]) => `${k} ${v} rows`).join(', ')} — ${agreement.scansAgree ? 'identical in every region' : 'DIFFERENT'}, ${agreement.scansMatchModel ? 'equal to the model' : 'NOT the model'}`);
            if (agreement.excludedRegions.length > 0) out(`  (left out of some rounds meanwhile: ${agreement.excludedRegions.join(', ')} — their writes are re-stamped on rejoin, so the model is checked on the other keys only)`);
            for (const line of agreement.differences) out(`  ${line}`);
            out(
              `\nsummary: ${summary.roundsCommitted} rounds committed in ${summary.durationS} s (${summary.roundsAborted} aborted), round p50 ${ms(summary.roundP50Ms).trim()} ms, p99 ${ms(summary.roundP99Ms).trim()} ms (budget ${budgetMs} ms); ` +
                `${summary.writesAcknowledged} writes acknowledged (${summary.writesPerS}/s)`,
            );
          }
          if (!agreement.keyAgrees || !agreement.scansAgree || !agreement.scansMatchModel || !agreement.keyMatchesModel) {
            throw new AetherError('INTERNAL', `regions disagree at GLT ${agreement.glt}: ${agreement.differences[0] ?? 'the key read differs'}`);
          }
        } finally {
          await stopDeployment(d);
        }
      });
    });
}
