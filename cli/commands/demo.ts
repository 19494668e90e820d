import type { Command } from 'commander';
import { FIRST_COMMIT_TIMEOUT_MS, SnapshotObserver, runWindow, startDeployment, startProgress, stopDeployment, withStopSignal, type Deployment, type SecondTick, type WindowResult } from '../../bench/deployment.js';
import { scrapeDeployment, windowMetrics, type DeploymentScrape, type WindowMetrics } from '../../bench/deployment-metrics.js';
import { histogramQuantile } from '../../bench/stats.js';
import { percentile } from '../../common/latency-histogram.js';
import { VisibilitySampler, sampleEvery, type VisibilityResult } from '../../history/visibility-sampler.js';
import { CommitObserver } from '../../chaos/commit-observer.js';
import { Deployment as ClusterView } from '../../chaos/deployment.js';
import { readBack } from '../../chaos/read-back.js';
import { AetherError } from '../../common/errors.js';
import { GLT_ZERO, formatGlt, type Glt } from '../../glts/glt.js';
import { withScratchCopy } from '../../topology/copy.js';
import { loadTopology } from '../../topology/load.js';
import type { LaunchEvent } from '../../topology/launcher.js';
import { printJson } from '../../common/output.js';
import { globalOptions } from '../program.js';

/**
 * `aetherflow demo` (`make demo`): a fresh copy of the topology (default
 * topology/local.yaml; own ports, a local etcd, data in a temp dir) on this machine, a
 * mixed write load in every region, one line a second of live figures; then one key read
 * at one settled GLT in every region, and every acknowledged write read back there in
 * every region, shown to agree with each other and with the LWW model under rule D.
 * Stops everything it started.
 *
 * The figures: writes acknowledged per second; commits per second and commit time (the
 * elected coordinator's snapshot_commit_seconds{phase="total"}: interval tick → decided →
 * persisted in etcd → announced, scraped every second); per region, freshness (now − the
 * wall time its frontier covers: how old the snapshot a read at the frontier sees);
 * cross-region visibility (history/visibility-sampler.ts: a sample of writes acknowledged in one
 * region, each read at once in every other region with min_glt = its ts — the time from
 * the acknowledgement until the read returns).
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
  /** Regions excluded at some point during the load: their writes after the watermark were re-stamped when readmitted (rule D). */
  readonly excludedRegions: string[];
  /** The key's read equals what the acknowledged writes make of it under rule D (the read-back covers it with every other key). */
  readonly keyMatchesModel: boolean;
  /** Rows of the demo's keys in each region's scan at the GLT. */
  readonly scanRows: Record<string, number>;
  readonly scansAgree: boolean;
  /** Every region's scan equals the LWW model of the acknowledged writes, re-stamps where rule D puts them (chaos/read-back.ts). */
  readonly scansMatchModel: boolean;
  /** Acknowledged writes some region's scan does not hold where rule D puts them (must be 0). */
  readonly lost: number;
  /** Writes a readmission re-stamped above the frontier (rule D), and how many of them a scan showed at their new stamp. */
  readonly restamped: number;
  readonly restampsSeen: number;
  /**
   * Visibility reads that returned an older version than the write they checked, or found
   * a put's key absent with no later delete to explain it: a violation, unless a region
   * was excluded (its writes are hidden until re-stamped, rule D).
   */
  readonly staleReads: number;
  readonly unexplainedAbsences: number;
  readonly differences: string[];
}

const MAX_DIFFERENCES_SHOWN = 10;
/** How long the final reads wait for a snapshot covering the last writes. */
const SETTLE_WAIT_MS = 10_000;
/** Writes a second whose visibility is measured (each read in every other region). */
const VISIBILITY_SAMPLES_PER_S = 20;
/** A visibility read waits this long for the frontier; longer counts as a timeout. */
const VISIBILITY_TIMEOUT_MS = 10_000;
const VISIBILITY_MAX_IN_FLIGHT = 256;

/**
 * The GLT to compare at: the first commit of every region after the load stopped, at or
 * above the newest acknowledged write, and settled — every region readmitted meanwhile
 * has its re-stamped writes in — so it holds every acknowledged write; waiting up to
 * SETTLE_WAIT_MS.
 */
async function comparisonGlt(d: Deployment, w: WindowResult, commits: CommitObserver, loadStoppedMs: number): Promise<Glt | undefined> {
  const regions = d.topology.regions.map((x) => x.name);
  return (await commits.settledCommit(regions, w.writeLoad!.newestTs() ?? GLT_ZERO, loadStoppedMs, Date.now() + SETTLE_WAIT_MS))?.record.T;
}

/** Reads the most written key, and every acknowledged write back (chaos/read-back.ts), at one settled GLT in every region. */
async function checkAgreement(d: Deployment, w: WindowResult, commits: CommitObserver, visibility: VisibilitySampler, loadStoppedMs: number, prefix: string, keys: number): Promise<Agreement> {
  const regions = d.topology.regions.map((x) => x.name);
  const glt = await comparisonGlt(d, w, commits, loadStoppedMs);
  if (glt === undefined) throw new AetherError('SNAPSHOT_NOT_READY', `no settled snapshot of every region above the last write within ${SETTLE_WAIT_MS / 1000} s; nothing to compare`);
  const load = w.writeLoad!;
  const writes = load.acknowledged();
  const history = commits.history();
  const counts = new Map<string, number>();
  for (const x of writes) counts.set(x.key, (counts.get(x.key) ?? 0) + 1);
  const key = [...counts].sort((a, b) => b[1] - a[1])[0]?.[0] ?? load.key(0);
  const reads = await Promise.all(
    regions.map(async (region): Promise<RegionRead> => {
      const g = await d.client.get(key, { region, glt, waitMs: SETTLE_WAIT_MS });
      return { region, found: g.found, value: g.value?.toString('utf8') ?? null, version: g.version ? formatGlt(g.version) : null, origin: g.origin ?? null };
    }),
  );
  const same = (a: RegionRead, b: RegionRead) => a.found === b.found && a.value === b.value && a.version === b.version && a.origin === b.origin;
  const rb = await readBack(d.client, { regions, prefix, keys, acked: writes, history, glts: [glt], uncertainKeys: load.uncertainKeys() });
  const modelHeld = rb.modelHeld && rb.lost === 0 && rb.scanErrors.length === 0;
  const v = visibility.result();
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
    restampsSeen: rb.restampsSeen,
    staleReads: visibility.staleReads(),
    unexplainedAbsences: visibility.unexplainedAbsences(writes, load.uncertainKeys()),
    differences: [
      ...rb.problems,
      ...rb.scanErrors.map((e) => `scan failed: ${e}`),
      ...v.stale.map((s) => `visibility read in ${s.region} of ${s.key} at ${s.glt}: wrote ${s.wrote}, got ${s.got}`),
    ].slice(0, MAX_DIFFERENCES_SHOWN),
  };
}

const ms = (seconds: number): number => Math.round(seconds * 10_000) / 10;
const pct = (xs: readonly number[], p: number): number | null => (xs.length === 0 ? null : Math.round(percentile(xs, p) * 10) / 10);

/** Commit figures of a scrape difference: count, and commit time p50/p99 (ms) as histogram_quantile interpolates it. */
function commitFigures(m: WindowMetrics, seconds: number) {
  const total = m.commitBuckets.total;
  const q = (x: number) => (m.commits > 0 ? ms(histogramQuantile(total, x)) : null);
  return { commits: m.commits, commitsPerS: Math.round((m.commits / Math.max(seconds, 1e-3)) * 10) / 10, commitP50Ms: q(0.5), commitP99Ms: q(0.99) };
}

/** One second of the demo: the load's tick (writes, freshness) and the processes' metrics over the same second. */
function secondFigures(t: SecondTick, m: WindowMetrics, seconds: number, v: VisibilityResult) {
  return {
    elapsedS: t.elapsedS,
    writesPerS: Math.round(t.writesLastS),
    failedTotal: t.failuresTotal,
    ...commitFigures(m, seconds),
    refused: m.backpressured.refused,
    freshnessMs: Object.fromEntries(Object.entries(t.lagMs).map(([r, x]) => [r, x === undefined ? null : Math.round(x)])),
    visibleP50Ms: pct(v.censoredMs, 50),
    visibleP99Ms: pct(v.censoredMs, 99),
    longestTaskMs: m.longestTask ? ms(m.longestTask.value) : null,
    longestTaskIn: m.longestTask?.process ?? null,
  };
}

type Second = ReturnType<typeof secondFigures>;

const num = (x: number | null, width = 4) => (x === null ? '-' : x.toFixed(0)).padStart(width);

function secondLine(s: Second, budgetMs: number): string {
  const fresh = Object.entries(s.freshnessMs)
    .map(([region, x]) => `${region} ${num(x, 3)}`)
    .join('  ');
  return (
    `${String(s.elapsedS).padStart(3)} s  writes ${num(s.writesPerS, 5)}/s  commits ${num(s.commitsPerS, 3)}/s  ` +
    `commit p50 ${num(s.commitP50Ms, 3)} p99 ${num(s.commitP99Ms, 3)} ms (budget ${budgetMs})  fresh ms: ${fresh}  ` +
    `visible p50 ${num(s.visibleP50Ms, 3)} p99 ${num(s.visibleP99Ms, 3)} ms` +
    (s.longestTaskMs !== null && s.longestTaskMs > 50 ? `  loop stalled ${s.longestTaskMs.toFixed(0)} ms in ${s.longestTaskIn}` : '') +
    (s.refused > 0 ? `  ${s.refused} refused (back-pressure)` : '') +
    (s.failedTotal > 0 ? `  (${s.failedTotal} failed)` : '')
  );
}

/** The longest event-loop task of any process over the run: the worst of the per-second scrapes (each covers the second before it). */
interface LongestTask {
  readonly ms: number;
  readonly process: string;
}

function summaryOf(w: WindowResult, m: WindowMetrics, v: VisibilityResult, longestTask: LongestTask | undefined, budgetMs: number) {
  const load = w.load!;
  return {
    durationS: Math.round(w.durationS * 10) / 10,
    writesAcknowledged: load.acknowledged,
    writesPerS: Math.round(load.writesPerS),
    writesFailed: load.failures,
    writesShed: load.shed,
    writesRefused: m.backpressured.refused,
    ...commitFigures(m, w.durationS),
    budgetMs,
    freshnessMs: Object.fromEntries([...w.freshnessMs].map(([r, xs]) => [r, { p50: pct(xs, 50), p99: pct(xs, 99) }])),
    visibility: { reads: v.reads, timeouts: v.timeouts, errors: v.errors, p50Ms: pct(v.censoredMs, 50), p99Ms: pct(v.censoredMs, 99) },
    longestTask: longestTask ?? null,
  };
}

const LEGEND = `each second: writes acknowledged/s; commits/s and commit time p50/p99 (interval tick → decided → persisted in etcd → announced, against the budget);
fresh: per region, now − the wall time its frontier covers (how old the snapshot a read at the frontier sees);
visible: a sample of writes acknowledged in one region, read at once in every other region with min_glt = their ts — ack → readable, p50/p99 so far`;

export function registerDemo(program: Command): void {
  program
    .command('demo')
    .description('run a fresh copy of the topology (default topology/local.yaml) with a mixed write load in every region and live snapshot figures, then read every acknowledged write back at one GLT in every region')
    .option('--duration <s>', 'seconds of load (Ctrl-C ends it sooner)', '20')
    .option('--rate <n>', 'writes per second, total over all regions', '1000')
    .option('--keys <n>', 'keyspace size', '1000')
    .option('--seed <n>', 'seed of the write load', '1')
    .addHelpText(
      'after',
      `
${LEGEND}.
With --json: JSON lines ({"event": …}). Logs: .aetherflow/<name>-demo/logs/.`,
    )
    .action(async (o: { duration: string; rate: string; keys: string; seed: string }, cmd: Command) => {
      const opts = globalOptions(cmd);
      const durationS = Number(o.duration);
      const ratePerS = Number(o.rate);
      const keys = Number(o.keys);
      if (!(durationS > 0) || !(ratePerS > 0) || !(keys >= 1)) throw new AetherError('USAGE', '--duration, --rate and --keys must be positive numbers');
      const source = loadTopology(opts.topology);
      const out = (s: string) => void process.stdout.write(`${s}\n`);
      const budgetMs = source.snapshot.budgetMs;
      const prefix = `demo/${Date.now()}/`;
      // On a fresh copy: data an earlier run left behind made a region that had fallen more
      // than retentionSec behind rejoin through a full state transfer, slower than a demo waits.
      await withScratchCopy(source, 'demo', (topology) => withStopSignal(async (stopRequested) => {
        const regions = topology.regions.map((r) => r.name);
        const onEvent = opts.json ? (e: LaunchEvent) => printJson({ event: e.type === 'process' ? `process-${e.state}` : e.type, ...('process' in e ? { id: e.process.id } : {}) }) : startProgress(topology, out);
        if (!opts.json) out(`AetherFlow demo: topology ${source.name} (${regions.join(', ')}), a commit every ${topology.snapshot.intervalMs} ms within a ${budgetMs} ms budget, on a fresh copy of it`);
        const d = await startDeployment(topology, onEvent);
        const cluster = ClusterView.open(topology);
        const observer = new SnapshotObserver(d.client, regions);
        let commits: CommitObserver | undefined;
        try {
          commits = await CommitObserver.start(cluster);
          await observer.start();
          if (!opts.json) out(`all processes ready; waiting for a committed snapshot with every region, then ${ratePerS} writes/s (puts and deletes) in every region for ${durationS} s — Ctrl-C ends it sooner`);
          await observer.firstCommit(FIRST_COMMIT_TIMEOUT_MS, stopRequested);
          if (stopRequested()) return;
          if (!opts.json) out(LEGEND);
          const visibility = new VisibilitySampler(
            async (region, key, minGlt, waitMs) => d.client.get(key, { region, minGlt, waitMs }),
            { regions, every: sampleEvery(ratePerS, VISIBILITY_SAMPLES_PER_S), maxInFlight: VISIBILITY_MAX_IN_FLIGHT, timeoutMs: VISIBILITY_TIMEOUT_MS },
          );
          let first: DeploymentScrape | undefined;
          let last: { scrape: DeploymentScrape; atMs: number } | undefined;
          // Each second's metrics come from a scrape of every process, printed in order.
          let lines = Promise.resolve();
          let longestTask: LongestTask | undefined;
          const w = await runWindow(d, observer, {
            ratePerS,
            durationS,
            seed: Number(o.seed),
            keys,
            keyPrefix: prefix,
            stopRequested,
            onAcknowledged: (x) => visibility.onAck(x),
            onLoadStart: () => {
              const atMs = performance.now();
              lines = lines.then(async () => {
                first = await scrapeDeployment(topology);
                last = { scrape: first, atMs };
              });
            },
            onSecond: (t) => {
              lines = lines.then(async () => {
                const scrape = await scrapeDeployment(topology);
                const atMs = performance.now();
                const m = windowMetrics(last!.scrape, scrape);
                const s = secondFigures(t, m, (atMs - last!.atMs) / 1000, visibility.result());
                last = { scrape, atMs };
                if (m.longestTask && (!longestTask || ms(m.longestTask.value) > longestTask.ms)) longestTask = { ms: ms(m.longestTask.value), process: m.longestTask.process };
                if (opts.json) printJson({ event: 'second', ...s });
                else out(secondLine(s, budgetMs));
              });
            },
          });
          const loadStoppedMs = Date.now();
          visibility.stop();
          await lines;
          const metrics = windowMetrics(first!, await scrapeDeployment(topology));
          await visibility.drain();
          const summary = summaryOf(w, metrics, visibility.result(), longestTask, budgetMs);
          const agreement = await checkAgreement(d, w, commits, visibility, loadStoppedMs, prefix, keys);
          const visibilityHeld = (agreement.staleReads === 0 && agreement.unexplainedAbsences === 0) || agreement.excludedRegions.length > 0;
          if (opts.json) {
            printJson({ event: 'agreement', ...agreement });
            printJson({ event: 'summary', ...summary });
          } else {
            out(`\nread of "${agreement.key}" at GLT ${agreement.glt} (a settled snapshot every region has committed):`);
            for (const x of agreement.reads) out(`  ${x.region.padEnd(10)} ${x.found ? `${JSON.stringify(x.value)}  version ${x.version} from ${x.origin}` : '(absent)'}`);
            out(`  ${agreement.keyAgrees ? 'every region agrees' : 'REGIONS DISAGREE'}; ${agreement.keyMatchesModel ? 'equal to' : 'DIFFERENT FROM'} the last-writer-wins winner of the acknowledged writes`);
            out(`scan of the demo's keys at that GLT: ${Object.entries(agreement.scanRows).map(([k, v]) => `${k} ${v} rows`).join(', ')} — ${agreement.scansAgree ? 'identical in every region' : 'DIFFERENT'}, ${agreement.scansMatchModel ? 'equal to the model' : 'NOT the model'}; ${agreement.lost} of ${summary.writesAcknowledged} acknowledged writes lost`);
            if (agreement.excludedRegions.length > 0) out(`  (excluded for a while: ${agreement.excludedRegions.join(', ')} — ${agreement.restamped} of their writes after the watermark were re-stamped above the frontier when readmitted, rule D; ${agreement.restampsSeen} seen at their new stamps)`);
            out(`visibility reads: ${summary.visibility.reads}, ${agreement.staleReads} returned an older version, ${agreement.unexplainedAbsences} missed a write${agreement.staleReads + agreement.unexplainedAbsences > 0 && agreement.excludedRegions.length > 0 ? ' (a region was excluded meanwhile: its writes stay hidden until re-stamped)' : ''}`);
            for (const line of agreement.differences) out(`  ${line}`);
            const fresh = Object.entries(summary.freshnessMs).map(([r, f]) => `${r} ${f.p50 ?? '-'}/${f.p99 ?? '-'}`).join(', ');
            out(
              `\nsummary: ${summary.writesAcknowledged} writes acknowledged in ${summary.durationS} s (${summary.writesPerS}/s), ${summary.writesRefused} refused by back-pressure; ` +
                `${summary.commits} commits (${summary.commitsPerS}/s), commit time p50 ${summary.commitP50Ms ?? '-'} ms, p99 ${summary.commitP99Ms ?? '-'} ms (budget ${budgetMs} ms);\n` +
                `  freshness p50/p99 ms: ${fresh} — how old the snapshot a read at a region's frontier sees;\n` +
                `  cross-region visibility p50 ${summary.visibility.p50Ms ?? '-'} ms, p99 ${summary.visibility.p99Ms ?? '-'} ms over ${summary.visibility.reads} reads (${summary.visibility.timeouts} not readable within ${VISIBILITY_TIMEOUT_MS / 1000} s) — from a write's acknowledgement in one region until a read in another (min_glt = its ts) returns it` +
                (summary.longestTask ? `;\n  longest event-loop task ${summary.longestTask.ms} ms (${summary.longestTask.process})` : ''),
            );
          }
          if (!agreement.keyAgrees || !agreement.scansAgree || !agreement.scansMatchModel || !visibilityHeld) {
            throw new AetherError('INTERNAL', `regions disagree at GLT ${agreement.glt}: ${agreement.differences[0] ?? 'the key read differs'}`);
          }
        } finally {
          await observer.stop();
          await commits?.stop();
          cluster.close();
          await stopDeployment(d);
        }
      }));
    });
}
