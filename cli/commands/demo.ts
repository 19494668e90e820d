import type { Command } from 'commander';
import { percentile } from '../../bench/compare-etcd-workload.js';
import { runUnderLoad, startDeployment, startProgress, stopDeployment, withStopSignal, type Deployment, type LoadRunResult, type SecondTick } from '../../bench/snapshot.js';
import { Deployment as ClusterView } from '../../chaos/deployment.js';
import { readBack } from '../../chaos/read-back.js';
import { RoundObserver } from '../../chaos/round-observer.js';
import { AetherError } from '../../common/errors.js';
import { GLT_ZERO, formatGlt, type Glt } from '../../glts/glt.js';
import { withScratchCopy } from '../../topology/copy.js';
import { loadTopology } from '../../topology/load.js';
import type { LaunchEvent } from '../../topology/launcher.js';
import { printJson } from '../output.js';
import { globalOptions } from '../program.js';

/**
 * `aetherflow demo` (`make demo`): a fresh copy of the topology (default
 * topology/local.yaml; own ports, a local etcd, data in a temp dir) on this machine, a
 * mixed write load in every region, one line a second of live snapshot figures; then one
 * key read at one settled GLT in every region, and every acknowledged write read back
 * there in every region, shown to agree with each other and with the LWW model under
 * rule D. Stops everything it started.
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
  /** Regions left out of some round during the load: their unshipped writes were re-stamped when they rejoined (rule D). */
  readonly excludedRegions: string[];
  /** The key's read equals what the acknowledged writes make of it under rule D (the read-back covers it with every other key). */
  readonly keyMatchesModel: boolean;
  /** Rows of the demo's keys in each region's scan at the GLT. */
  readonly scanRows: Record<string, number>;
  readonly scansAgree: boolean;
  /** Every region's scan equals the LWW model of the acknowledged writes, re-stamps where rule D puts them (chaos/read-back.ts). */
  readonly scansMatchModel: boolean;
  /** Acknowledged writes no region's scan holds (must be 0), and writes found under a new timestamp. */
  readonly lost: number;
  readonly restamped: number;
  readonly differences: string[];
}

const MAX_DIFFERENCES_SHOWN = 10;
/** How long the final reads wait for a snapshot covering the last writes. */
const SETTLE_WAIT_MS = 10_000;

/**
 * The GLT to compare at: the first round of every region committed after the load stopped,
 * at or above the newest acknowledged write, and settled — every region readmitted
 * meanwhile has shipped its re-stamped writes — so it holds every acknowledged write;
 * waiting up to SETTLE_WAIT_MS.
 */
async function comparisonGlt(d: Deployment, r: LoadRunResult, rounds: RoundObserver, loadStoppedMs: number): Promise<Glt | undefined> {
  const regions = d.topology.regions.map((x) => x.name);
  return (await rounds.settledCommit(regions, r.writeLoad.newestTs() ?? GLT_ZERO, loadStoppedMs, Date.now() + SETTLE_WAIT_MS))?.record.T;
}

/** Reads the most written key, and every acknowledged write back (chaos/read-back.ts), at one settled GLT in every region. */
async function checkAgreement(d: Deployment, r: LoadRunResult, rounds: RoundObserver, loadStoppedMs: number, prefix: string, keys: number): Promise<Agreement> {
  const regions = d.topology.regions.map((x) => x.name);
  const glt = await comparisonGlt(d, r, rounds, loadStoppedMs);
  if (glt === undefined) throw new AetherError('SNAPSHOT_NOT_READY', `no settled snapshot of every region above the last write within ${SETTLE_WAIT_MS / 1000} s; nothing to compare`);
  const writes = r.writeLoad.acknowledged();
  const history = rounds.history();
  const counts = new Map<string, number>();
  for (const w of writes) counts.set(w.key, (counts.get(w.key) ?? 0) + 1);
  const key = [...counts].sort((a, b) => b[1] - a[1])[0]?.[0] ?? r.writeLoad.key(0);
  const reads = await Promise.all(
    regions.map(async (region): Promise<RegionRead> => {
      const g = await d.client.get(key, { region, glt, waitMs: SETTLE_WAIT_MS });
      return { region, found: g.found, value: g.value?.toString('utf8') ?? null, version: g.version ? formatGlt(g.version) : null, origin: g.origin ?? null };
    }),
  );
  const same = (a: RegionRead, b: RegionRead) => a.found === b.found && a.value === b.value && a.version === b.version && a.origin === b.origin;
  const rb = await readBack(d.client, { regions, prefix, keys, acked: writes, history, glts: [glt] });
  const modelHeld = rb.modelHeld && rb.lost === 0 && rb.scanErrors.length === 0;
  return {
    glt: formatGlt(glt),
    key,
    reads,
    keyAgrees: reads.every((x) => same(x, reads[0]!)),
    excludedRegions: history.excludedRegions(),
    keyMatchesModel: modelHeld,
    scanRows: rb.finalRows,
    scansAgree: rb.sameSnapshot,
    scansMatchModel: modelHeld,
    lost: rb.lost,
    restamped: rb.restamped,
    differences: [...rb.problems, ...rb.scanErrors.map((e) => `scan failed: ${e}`)].slice(0, MAX_DIFFERENCES_SHOWN),
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
    .description('run a fresh copy of the topology (default topology/local.yaml) with a mixed write load in every region and live snapshot figures, then show one key read at one GLT agreeing in every region')
    .option('--duration <s>', 'seconds of load (Ctrl-C ends it sooner)', '20')
    .option('--rate <n>', 'writes per second, total over all regions', '1000')
    .option('--keys <n>', 'keyspace size', '1000')
    .option('--seed <n>', 'seed of the write load', '1')
    .addHelpText(
      'after',
      `
Each line: seconds; rounds committed (total, +last second); round time p50/p99 against the
budget; per region, how far its frontier trails the deployment's clock; writes/s.
With --json: JSON lines ({"event": …}). Logs: .aetherflow/<name>-demo/logs/.`,
    )
    .action(async (o: { duration: string; rate: string; keys: string; seed: string }, cmd: Command) => {
      const opts = globalOptions(cmd);
      const durationS = Number(o.duration);
      const ratePerS = Number(o.rate);
      if (!(durationS > 0) || !(ratePerS > 0) || !(Number(o.keys) >= 1)) throw new AetherError('USAGE', '--duration, --rate and --keys must be positive numbers');
      const source = loadTopology(opts.topology);
      const out = (s: string) => void process.stdout.write(`${s}\n`);
      const budgetMs = source.snapshot.budgetMs;
      const prefix = `demo/${Date.now()}/`;
      // On a fresh copy: data an earlier run left behind made a region that had fallen more
      // than retentionSec behind rejoin through a full state transfer, slower than a demo waits.
      await withScratchCopy(source, 'demo', (topology) => withStopSignal(async (stopRequested) => {
        const onEvent = opts.json ? (e: LaunchEvent) => printJson({ event: e.type === 'process' ? `process-${e.state}` : e.type, ...('process' in e ? { id: e.process.id } : {}) }) : startProgress(topology, out);
        if (!opts.json) out(`AetherFlow demo: topology ${source.name} (${topology.regions.map((r) => r.name).join(', ')}), a snapshot round every ${topology.snapshot.intervalMs} ms within ${budgetMs} ms, on a fresh copy of it`);
        const d = await startDeployment(topology, onEvent);
        const cluster = ClusterView.open(topology);
        let rounds: RoundObserver | undefined;
        try {
          rounds = await RoundObserver.start(cluster);
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
          const loadStoppedMs = Date.now();
          const summary = summaryOf(r, budgetMs);
          const agreement = await checkAgreement(d, r, rounds, loadStoppedMs, prefix, Number(o.keys));
          if (opts.json) {
            printJson({ event: 'agreement', ...agreement });
            printJson({ event: 'summary', ...summary });
          } else {
            out(`\nread of "${agreement.key}" at GLT ${agreement.glt} (a settled snapshot every region has committed):`);
            for (const x of agreement.reads) out(`  ${x.region.padEnd(10)} ${x.found ? `${JSON.stringify(x.value)}  version ${x.version} from ${x.origin}` : '(absent)'}`);
            out(`  ${agreement.keyAgrees ? 'every region agrees' : 'REGIONS DISAGREE'}; ${agreement.keyMatchesModel ? 'equal to' : 'DIFFERENT FROM'} the last-writer-wins winner of the acknowledged writes`);
            out(`scan of the demo's keys at that GLT: ${Object.entries(agreement.scanRows).map(([k, v]) => `${k} ${v} rows`).join(', ')} — ${agreement.scansAgree ? 'identical in every region' : 'DIFFERENT'}, ${agreement.scansMatchModel ? 'equal to the model' : 'NOT the model'}; ${agreement.lost} acknowledged writes lost`);
            if (agreement.excludedRegions.length > 0) out(`  (left out of some rounds meanwhile: ${agreement.excludedRegions.join(', ')} — their unshipped writes were re-stamped when they rejoined, rule D; ${agreement.restamped} found under their new timestamps)`);
            for (const line of agreement.differences) out(`  ${line}`);
            out(
              `\nsummary: ${summary.roundsCommitted} rounds committed in ${summary.durationS} s (${summary.roundsAborted} aborted), round p50 ${ms(summary.roundP50Ms).trim()} ms, p99 ${ms(summary.roundP99Ms).trim()} ms (budget ${budgetMs} ms); ` +
                `${summary.writesAcknowledged} writes acknowledged (${summary.writesPerS}/s)`,
            );
          }
          if (!agreement.keyAgrees || !agreement.scansAgree || !agreement.scansMatchModel) {
            throw new AetherError('INTERNAL', `regions disagree at GLT ${agreement.glt}: ${agreement.differences[0] ?? 'the key read differs'}`);
          }
        } finally {
          await rounds?.stop();
          cluster.close();
          await stopDeployment(d);
        }
      }));
    });
}
