/**
 * `aetherflow bench snapshot`: a scratch copy of a topology (default topology/local.yaml;
 * `make bench` also runs topology/wan.yaml) run on this machine, first idle, then under a
 * sweep of offered write rates (0, 1,000, 2,500, 5,000 writes/s over all regions by
 * default), each for a window of its own. Per rate it reports, from the client's side and
 * from the processes' /metrics and /proc:
 *  - writes acknowledged/s and the share of the offered writes acknowledged;
 *  - commit time p50/p99: the coordinator's snapshot_commit_seconds{phase="total"}
 *    histogram (tick → decided → persisted in etcd → Commit sent to every region), as
 *    histogram_quantile interpolates it; a goal on a bucket bound (20 ms) is judged
 *    exactly from the bucket counts;
 *  - cross-region visibility p50/p99 measured by a client (history/visibility-sampler.ts): every
 *    Nth acknowledged write is read at once in every other region with min_glt = its ts;
 *    visibility = ack → that read returning;
 *  - freshness p99 per region: now − the wall time its frontier covers, sampled every
 *    10 ms (the frontier from the region leader's Snapshots.Watch);
 *  - stream bytes per version per peer: the leaders' shipped (framed, LZ4) bytes ÷ shipped
 *    versions, summed over peers, and their Quantum bytes on the wire ÷ the same, beside
 *    the LZ4-encoded size of one version of this workload (a large batch of its versions
 *    through datanode/delta.ts encodeDelta, divided by their count);
 *  - CPU per acknowledged write: user + system seconds of every role process and etcd
 *    (/proc/<pid>/stat) over the window ÷ writes acknowledged in it — this process, the
 *    load generator, is not counted;
 *  - the longest event-loop task and the event-loop delay max over every process.
 * Once per topology: idle CPU of the whole deployment (cores, no client at all) and the
 * topology's visibility floor (bench/floors.ts).
 */
import type { Command } from 'commander';
import { AetherError } from '../common/errors.js';
import { printJson } from '../common/output.js';
import { printFigures } from './figure-table.js';
import type { Glt } from '../glts/glt.js';
import { withScratchCopy, type CopyOverrides } from '../topology/copy.js';
import type { Topology } from '../topology/types.js';
import { loadTopology } from '../topology/load.js';
import {
  FIRST_COMMIT_TIMEOUT_MS,
  SnapshotObserver,
  coordinatorRegion,
  runWindow,
  startDeployment,
  startProgress,
  stopDeployment,
  withStopSignal,
  type Deployment,
  type SecondTick,
  type WindowResult,
} from './deployment.js';
import { scrapeDeployment, windowMetrics, type DeploymentScrape } from './deployment-metrics.js';
import { visibilityFloor } from './floors.js';
import type { Figure } from '../common/figure.js';
import { cpuBetween, cpuByGroup, readCpu, type CpuReading } from './proc-cpu.js';
import { percentile } from '../common/latency-histogram.js';
import { histogramCount, histogramQuantile, roundTo } from './stats.js';
import { DEFAULT_RATES, isWan, lz4VersionBytes, parseRates, snapshotFigures, type IdleMeasurement, type RateMeasurement, type SnapshotBenchInput } from './snapshot-figures.js';
import { VisibilitySampler, sampleEvery } from '../history/visibility-sampler.js';
import { DEFAULT_WRITE_LOAD } from '../history/write-load.js';

export { DEFAULT_RATES, GOALS, snapshotFigures } from './snapshot-figures.js';

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
const ms = (seconds: number) => seconds * 1000;

export interface Options {
  readonly rates: string;
  readonly duration: string;
  readonly idle: string;
  readonly keys: string;
  readonly valueBytes: string;
  readonly seed: string;
  readonly visibilitySamples: string;
  readonly visibilityTimeout: string;
  readonly settle: string;
}

const VISIBILITY_MAX_IN_FLIGHT = 512;
/** Longest wait, after a window, for every frontier to reach the newest acknowledged write before the next one starts. */
const SETTLE_TIMEOUT_MS = 15_000;

interface RunContext {
  readonly d: Deployment;
  readonly regions: readonly string[];
  readonly o: SweepOptions;
  readonly keyPrefix: string;
  readonly log: (s: string) => void;
  readonly stopRequested: () => boolean;
}

function coresByRole(before: CpuReading, after: CpuReading, roles: ReadonlyMap<number, string>): Record<string, number> {
  const wallS = Math.max(1e-9, (after.atMs - before.atMs) / 1000);
  return Object.fromEntries([...cpuByGroup(before, after, roles)].map(([role, seconds]) => [role, roundTo(seconds / wallS, 3)]));
}

/** No client at all: /proc before and after, bracketed by the scrapes (which reset the event-loop maxima). */
async function measureIdle(c: RunContext): Promise<IdleMeasurement> {
  const before = await scrapeDeployment(c.d.topology);
  const cpu0 = readCpu(c.d.pids());
  await sleep(c.o.idleS * 1000);
  const cpu1 = readCpu(c.d.pids());
  const after = await scrapeDeployment(c.d.topology);
  return { cpu: cpuBetween(cpu0, cpu1), coresByRole: coresByRole(cpu0, cpu1, c.d.roles()), coresByProcess: coresByRole(cpu0, cpu1, c.d.ids()), metrics: windowMetrics(before, after) };
}

async function measureRate(c: RunContext, ratePerS: number, onSecond?: (t: SecondTick) => void): Promise<{ m: RateMeasurement; newest: Glt | undefined }> {
  const { d, regions, o } = c;
  const observer = new SnapshotObserver(d.client, regions);
  await observer.start();
  const sampler =
    ratePerS > 0
      ? new VisibilitySampler(
          async (region, key, minGlt, waitMs) => {
            const r = await d.client.get(key, { region, minGlt, waitMs });
            return { found: r.found, glt: r.glt, ...(r.version ? { version: r.version } : {}), ...(r.origin !== undefined ? { origin: r.origin } : {}) };
          },
          { regions, every: sampleEvery(ratePerS, o.samplesPerS), maxInFlight: VISIBILITY_MAX_IN_FLIGHT, timeoutMs: o.timeoutMs },
        )
      : undefined;
  let w: WindowResult;
  let cpu0: CpuReading | undefined;
  let cpu1: CpuReading | undefined;
  let before: DeploymentScrape;
  let after: DeploymentScrape;
  try {
    // The watches announce each region's frontier from the next commit on.
    await observer.waitFrontiers(2000);
    before = await scrapeDeployment(d.topology);
    w = await runWindow(d, observer, {
      ratePerS,
      durationS: o.durationS,
      seed: o.seed + ratePerS,
      keys: o.keys,
      keyPrefix: c.keyPrefix,
      valueBytes: o.valueBytes,
      stopRequested: c.stopRequested,
      ...(sampler ? { onAcknowledged: (x) => sampler.onAck(x) } : {}),
      ...(onSecond ? { onSecond } : {}),
      onLoadStart: () => (cpu0 = readCpu(d.pids())),
      onLoadEnd: () => (cpu1 = readCpu(d.pids())),
    });
    after = await scrapeDeployment(d.topology);
    sampler?.stop();
    await sampler?.drain();
  } finally {
    await observer.stop();
  }
  const commitsSeen = observer.commitsSince(0);
  const s = w.load;
  const failed = s ? Object.values(s.failures).reduce((a, b) => a + b, 0) : 0;
  const visibility = sampler?.result();
  const excludedRegions = regions.filter((r) => commitsSeen.some((x) => !x.snapshot.members.includes(r)));
  const excused = new Set(excludedRegions);
  const missed = (ex: ReadonlySet<string>) => (sampler ? sampler.staleReads(ex) + sampler.unexplainedAbsences(w.writeLoad!.acknowledged(), w.writeLoad!.uncertainKeys(), ex) : 0);
  const missedWrites = missed(excused);
  return {
    m: {
      ratePerS,
      durationS: w.durationS,
      offered: s ? s.sent + s.shed : 0,
      acknowledged: s?.acknowledged ?? 0,
      failed,
      failures: s?.failures ?? {},
      shed: s?.shed ?? 0,
      writeP99Ms: s?.latencyMs.p99 ?? Number.NaN,
      metrics: windowMetrics(before, after),
      cpu: cpuBetween(cpu0!, cpu1!),
      coresByRole: coresByRole(cpu0!, cpu1!, d.roles()),
      coresByProcess: coresByRole(cpu0!, cpu1!, d.ids()),
      freshnessMs: w.freshnessMs,
      frontierAhead: w.frontierAhead,
      ...(visibility ? { visibility } : {}),
      missedWrites,
      missedExcused: missed(new Set()) - missedWrites,
      excludedRegions,
    },
    newest: w.writeLoad?.newestTs(),
  };
}

/** Waits (bounded) until every region's frontier holds the newest acknowledged write, then `settleS`: the next window starts without a backlog. */
async function settle(c: RunContext, newest: Glt | undefined): Promise<void> {
  if (newest) {
    const observer = new SnapshotObserver(c.d.client, c.regions);
    await observer.start();
    try {
      if (!(await observer.allReached(newest, SETTLE_TIMEOUT_MS))) c.log(`  not every frontier reached the last write within ${SETTLE_TIMEOUT_MS / 1000} s; going on`);
    } finally {
      await observer.stop();
    }
  }
  await sleep(c.o.settleS * 1000);
}

function logRate(log: (s: string) => void, m: RateMeasurement): void {
  const v = m.visibility;
  const total = m.metrics.commitBuckets.total;
  log(
    `  ${m.ratePerS}/s: ${m.acknowledged} acknowledged of ${m.offered} offered (${Object.entries(m.failures).map(([k, n]) => `${n} ${k}`).join(', ') || 'none failed'}, ${m.shed} shed); ` +
      `commit p99 ${roundTo(ms(histogramQuantile(total, 0.99)), 1)} ms over ${histogramCount(total)} commits; ` +
      (v ? `visibility p50 ${roundTo(percentile(v.censoredMs, 50), 1)} p99 ${roundTo(percentile(v.censoredMs, 99), 1)} ms (${v.reads} reads, ${v.timeouts} timeouts, ${v.errors} errors${v.firstError ? `: ${v.firstError}` : ''}); ` : '') +
      `CPU ${roundTo(m.cpu.cores, 2)} cores (${Object.entries(m.coresByRole).map(([r, x]) => `${r} ${x}`).join(', ')}); longest task ${m.metrics.longestTask ? `${roundTo(ms(m.metrics.longestTask.value), 1)} ms (${m.metrics.longestTask.process})` : '–'}, loop delay max ${m.metrics.loopDelayMax ? `${roundTo(ms(m.metrics.loopDelayMax.value), 1)} ms (${m.metrics.loopDelayMax.process})` : '–'}` +
      (m.metrics.silent.length ? `; not answering /metrics: ${m.metrics.silent.join(', ')}` : '') +
      (m.cpu.gone || m.cpu.appeared ? `; processes gone ${m.cpu.gone}, new ${m.cpu.appeared}` : '') +
      (m.metrics.shippedVersions > 0 ? `; leaders' Quantum: ${m.metrics.quantumOutPackets} datagrams (${m.metrics.fecParityPackets} FEC parity, ${m.metrics.retransmissions} retransmitted), ${m.metrics.quantumOutBytes} B for ${m.metrics.shippedBytes} B shipped in ${m.metrics.shippedVersions} version·peers` : '') +
      (m.excludedRegions.length ? `; EXCLUDED meanwhile: ${m.excludedRegions.join(', ')}` : '') +
      (m.missedWrites || m.missedExcused ? `; reads that missed a write: ${m.missedWrites} (+${m.missedExcused} of excluded regions)` : '') +
      (m.frontierAhead.samples ? `; frontier ahead of real time in ${m.frontierAhead.samples} samples (max ${roundTo(m.frontierAhead.maxMs, 1)} ms)` : ''),
  );
  for (const s of v?.stale ?? []) log(`    stale read in ${s.region} of a write in ${s.writer}: ${s.key} wrote ${s.wrote}, read ${s.got} at ${s.glt}`);
}

/** The parsed options of one sweep. */
export interface SweepOptions {
  readonly rates: readonly number[];
  readonly durationS: number;
  readonly idleS: number;
  readonly keys: number;
  readonly valueBytes: number;
  readonly seed: number;
  readonly samplesPerS: number;
  readonly timeoutMs: number;
  readonly settleS: number;
}

export function parseSweepOptions(options: Options): SweepOptions {
  const num = (s: string, name: string, min: number) => {
    const v = Number(s);
    if (!Number.isFinite(v) || v < min) throw new AetherError('USAGE', `${name} must be a number ≥ ${min}, got ${s}`);
    return v;
  };
  const o = {
    rates: parseRates(options.rates),
    durationS: num(options.duration, '--duration', 0.5),
    idleS: num(options.idle, '--idle', 0.5),
    keys: num(options.keys, '--keys', 1),
    valueBytes: num(options.valueBytes, '--value-bytes', 1),
    seed: num(options.seed, '--seed', 0),
    samplesPerS: num(options.visibilitySamples, '--visibility-samples', 0.1),
    timeoutMs: num(options.visibilityTimeout, '--visibility-timeout', 0.1) * 1000,
    settleS: num(options.settle, '--settle', 0),
  };
  if (o.timeoutMs > 15_000) throw new AetherError('USAGE', '--visibility-timeout is at most 15 s');
  return o;
}

/**
 * Runs a scratch copy of `topology` (changed by `overrides`), idle and then at each rate,
 * and returns what snapshotFigures turns into figures. `log` gets the progress lines.
 */
export async function measureSweep(topology: Topology, o: SweepOptions, overrides: CopyOverrides, log: (s: string) => void, quiet: boolean): Promise<SnapshotBenchInput> {
  const regions = topology.regions.map((r) => r.name);
  const keyPrefix = `bench/${Date.now()}/`;
  return withScratchCopy(
    topology,
    'bench',
    (copy) =>
      withStopSignal(async (stopRequested) => {
        const d = await startDeployment(copy, quiet ? () => {} : startProgress(copy, log));
        try {
          const c: RunContext = { d, regions, o, keyPrefix, log, stopRequested };
          log(`all processes ready; waiting for a committed snapshot with every region…`);
          const first = new SnapshotObserver(d.client, regions);
          await first.start();
          try {
            await first.firstCommit(FIRST_COMMIT_TIMEOUT_MS, stopRequested);
          } finally {
            await first.stop();
          }
          await sleep(o.settleS * 1000);
          log(`idle: ${o.idleS} s with no client…`);
          const idle = await measureIdle(c);
          log(`  idle: ${roundTo(idle.cpu.cores, 3)} cores over ${d.pids().length} processes (${Object.entries(idle.coresByRole).map(([r, x]) => `${r} ${x}`).join(', ')}), ${idle.metrics.commits} commits`);
          const measured: RateMeasurement[] = [];
          for (const rate of o.rates) {
            if (stopRequested()) break;
            log(`${rate} writes/s for ${o.durationS} s…`);
            const { m, newest } = await measureRate(c, rate, quiet ? undefined : (t) => log(`  ${t.elapsedS} s: ${t.commitsLastS} commits, ${t.writesLastS.toFixed(0)} writes/s acknowledged, frontier lag ${Object.values(t.lagMs).map((x) => (x === undefined ? '–' : x.toFixed(0))).join('/')} ms`));
            logRate(log, m);
            measured.push(m);
            await settle(c, newest);
          }
          const region = await coordinatorRegion(copy);
          const floor = visibilityFloor(topology, region);
          const origin = topology.regions[0]!.datanodes[0]!.id;
          const lz4 = lz4VersionBytes({ regions, origin, keys: o.keys, keyPrefix, valueBytes: o.valueBytes, seed: o.seed, ratePerS: Math.max(...o.rates, 1) });
          return { name: topology.name, wan: isWan(topology), floor, lz4VersionBytes: lz4, idle, rates: measured, exits: d.exits() };
        } finally {
          await stopDeployment(d);
        }
      }),
    overrides,
  );
}

export async function runSnapshotBench(topologyFile: string, options: Options & { readonly json?: boolean }): Promise<Figure[]> {
  const o = parseSweepOptions(options);
  const topology = loadTopology(topologyFile);
  const log = (s: string) => void (options.json || process.stderr.write(`${s}\n`));
  const input = await measureSweep(topology, o, {}, log, options.json === true);
  const figures = snapshotFigures(input);
  if (options.json) {
    printJson({ figures, floor: input.floor, idle: { cores: input.idle.cpu.cores, coresByRole: input.idle.coresByRole, coresByProcess: input.idle.coresByProcess }, rates: input.rates.map((m) => detailsOf(m)) });
  } else {
    process.stdout.write(`\nvisibility floor (coordinator in ${input.floor.coordinatorRegion}): ${input.floor.floorMs} ms — ${input.floor.path}\n`);
    if (input.exits.length) process.stdout.write(`role processes that exited during the run: ${input.exits.join(', ')}\n`);
    process.stdout.write('\n');
    printFigures(figures);
  }
  return figures;
}

/** What --json adds beside the figures: per rate, which process was worst and what failed. */
function detailsOf(m: RateMeasurement): Record<string, unknown> {
  return {
    ratePerS: m.ratePerS,
    failures: m.failures,
    longestTask: m.metrics.longestTask ?? null,
    loopDelayMax: m.metrics.loopDelayMax ?? null,
    silent: m.metrics.silent,
    cpu: m.cpu,
    coresByRole: m.coresByRole,
    coresByProcess: m.coresByProcess,
    frontierAhead: m.frontierAhead,
    excludedRegions: m.excludedRegions,
    quantum: { outBytes: m.metrics.quantumOutBytes, outPackets: m.metrics.quantumOutPackets, fecParityPackets: m.metrics.fecParityPackets, retransmissions: m.metrics.retransmissions, shippedBytes: m.metrics.shippedBytes, shippedVersions: m.metrics.shippedVersions },
    visibility: m.visibility ? { sampledWrites: m.visibility.sampledWrites, skipped: m.visibility.skipped, timeouts: m.visibility.timeouts, errors: m.visibility.errors, firstError: m.visibility.firstError ?? null, stale: m.visibility.stale, absent: m.visibility.absent } : null,
  };
}

export function registerSnapshotBench(bench: Command): void {
  bench
    .command('snapshot')
    .description('run a scratch copy of the topology idle, then at each offered write rate: writes acknowledged/s, commit time, cross-region visibility, freshness, stream bytes per version, CPU per write and idle, event-loop stalls')
    .option('--rates <list>', 'offered writes/s over all regions, one window each', DEFAULT_RATES.join(','))
    .option('--duration <s>', 'seconds per rate', '20')
    .option('--idle <s>', 'seconds of the idle window (no client) that measures idle CPU', '10')
    .option('--keys <n>', 'keyspace size', '10000')
    .option('--value-bytes <n>', 'bytes per written value', String(DEFAULT_WRITE_LOAD.valueBytes))
    .option('--seed <n>', 'seed of the write load', '1')
    .option('--visibility-samples <n>', 'acknowledged writes per second read at once in every other region', '50')
    .option('--visibility-timeout <s>', 'longest wait of a visibility read (counted as this long when it times out)', '5')
    .option('--settle <s>', 'pause between windows, after every frontier holds the last write', '1')
    .addHelpText('after', `\nCommit time is the coordinator's snapshot_commit_seconds{phase="total"} histogram (tick → decided → persisted → Commit sent). Visibility: ack → a read elsewhere with min_glt = the write's ts returns. CPU: every role process and etcd, from /proc; this process (the load generator) is not counted.`)
    .action(async (_o: unknown, cmd: Command) => {
      const o = cmd.optsWithGlobals() as Options & { topology: string; json?: boolean };
      await runSnapshotBench(o.topology, o);
    });
}
