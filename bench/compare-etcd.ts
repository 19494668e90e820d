/**
 * `aetherflow bench compare-etcd`: AetherFlow against one strongly consistent etcd cluster
 * stretched across the same regions, in one run on this machine, over the same emulated
 * wide-area delays (the topology's links: one-way delay and jitter per pair of regions).
 *  (a) AetherFlow: the topology under `aetherflow up`; each region writes to its own
 *      leader. Quantum applies the links.
 *  (b) etcd: one member per region, peers behind TcpDelayRelays with the same delays; each
 *      region writes to its own member.
 * Both are measured the same way, from the client's side (compare-etcd-workload.ts):
 *  - write latency: request → acknowledgement, in the writer's own region;
 *  - local read latency: a consistent read at the reader's own region — AetherFlow: a get
 *    at the region's frontier (a consistent snapshot, no GLT asked); etcd: a linearizable
 *    get at the region's member (a ReadIndex through the leader);
 *  - visibility in another region: from the write's acknowledgement to a consistent read
 *    issued at that moment in another region returning the write — AetherFlow: a get with
 *    min_glt = the write's ts (it waits for that region's frontier); etcd: a linearizable
 *    get at that region's member (retried until it returns the value; after the ack the
 *    first one does).
 * Beside the figures, both floors (bench/floors.ts): AetherFlow's watermark must wait for
 * the slowest member, etcd's quorum only for a majority.
 * The systems run one after the other (never both at once: they share two cores), with
 * the same open-loop workload.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Command } from 'commander';
import { AetherError, toAetherError } from '../common/errors.js';
import { printJson, printTable } from '../common/output.js';
import { loadTopology } from '../topology/load.js';
import type { Topology } from '../topology/types.js';
import { AetherFlowDeployment } from './compare-etcd-aetherflow.js';
import { etcdVisibilityFloor, linkDelayMs, visibilityFloor } from './floors.js';
import { EtcdCluster } from './compare-etcd-cluster.js';
import { percentile } from '../common/latency-histogram.js';
import { runWorkload, type SystemUnderTest, type WorkloadOptions, type WorkloadResult } from './compare-etcd-workload.js';
import type { Figure } from '../common/figure.js';
import type { OneWay } from './tcp-delay-relay.js';

interface Options {
  readonly topology: string;
  readonly json?: boolean;
  readonly duration: string;
  readonly rate: string;
  readonly maxInFlight: string;
  readonly maxChecks: string;
  readonly visibilityTimeout: string;
  readonly seed: string;
}

const DEFAULT_TOPOLOGY = 'topology/wan.yaml';
const VALUE_BYTES = 100;
const READY_TIMEOUT_MS = 120_000;
/** Whole-run bound per system beyond its workload: start, warm-up, drain, stop. */
const SYSTEM_OVERHEAD_MS = 240_000;

/** The one-way delay of `from` → `to`: the topology's override for the pair, else its default link. */
export function linkBetween(topology: Topology, from: string, to: string): OneWay {
  const o = topology.links.overrides.find((l) => l.from === from && l.to === to);
  const l = o ?? topology.links.default;
  return { delayMs: l.delayMs, jitterMs: l.jitterMs };
}

type Outcome = { readonly ok: true; readonly result: WorkloadResult } | { readonly ok: false; readonly error: string };

export type CompareOutcome = Outcome;

interface Summary {
  readonly writeP50: number;
  readonly writeP99: number;
  readonly writesPerS: number;
  readonly readP50: number;
  readonly readP99: number;
  readonly visibilityP50: number;
  readonly visibilityP99: number;
}

/** Percentiles of visibility over every acknowledged write; one that never became visible counts as the timeout (a lower bound). */
function summarize(r: WorkloadResult, visibilityTimeoutMs: number): Summary {
  const censored = [...r.visibilityMs, ...Array<number>(r.visibilityTimeouts + r.visibilityErrors).fill(visibilityTimeoutMs)];
  return {
    writeP50: percentile(r.writeMs, 50),
    writeP99: percentile(r.writeMs, 99),
    writesPerS: r.elapsedS > 0 ? r.writeMs.length / r.elapsedS : 0,
    readP50: percentile(r.readMs, 50),
    readP99: percentile(r.readMs, 99),
    visibilityP50: percentile(censored, 50),
    visibilityP99: percentile(censored, 99),
  };
}

/** The two floors printed beside the figures. */
export interface CompareFloors {
  readonly aetherflowMs: number;
  readonly aetherflowMeanMs: number;
  readonly aetherflowPath: string;
  readonly etcdMs: number;
  readonly etcdMeanMs: number;
  readonly etcdPath: string;
}

/** Both systems' visibility floors over the topology's links, with AetherFlow's coordinator and etcd's leader where they were. */
export function compareFloors(topology: Topology, coordinatorRegion: string, etcdLeaderRegion: string): CompareFloors {
  const regions = topology.regions.map((r) => r.name);
  const af = visibilityFloor(topology, coordinatorRegion);
  const etcd = etcdVisibilityFloor(regions, (a, b) => linkDelayMs(topology, a, b), etcdLeaderRegion);
  return { aetherflowMs: af.floorMs, aetherflowMeanMs: af.meanFloorMs, aetherflowPath: `coordinator in ${coordinatorRegion}: ${af.path}`, etcdMs: etcd.floorMs, etcdMeanMs: etcd.meanFloorMs, etcdPath: etcd.path };
}

const round = (x: number, digits = 2) => (Number.isFinite(x) ? Number(x.toFixed(digits)) : Number.NaN);

function figuresOf(label: string, o: Outcome, visibilityTimeoutMs: number): Figure[] {
  const add = (name: string, measured: number, unit: string): Figure => ({ name: `${label} ${name}`, measured: round(measured), unit, goal: null, met: null });
  if (!o.ok) return [{ name: `${label} run failed: ${o.error}`, measured: Number.NaN, unit: '', goal: null, met: false }];
  const s = summarize(o.result, visibilityTimeoutMs);
  const r = o.result;
  return [
    add('write latency p50', s.writeP50, 'ms'),
    add('write latency p99', s.writeP99, 'ms'),
    add('writes/s (acknowledged)', s.writesPerS, 'writes/s'),
    add(`read in the reader's own region p50 (${label === 'etcd' ? 'linearizable' : 'at its frontier'})`, s.readP50, 'ms'),
    add(`read in the reader's own region p99 (${label === 'etcd' ? 'linearizable' : 'at its frontier'})`, s.readP99, 'ms'),
    add('read errors', r.readErrors, 'reads'),
    add('reads shed (in-flight bound)', r.readsShed, 'reads'),
    add('visibility in another region p50', s.visibilityP50, 'ms'),
    add('visibility in another region p99', s.visibilityP99, 'ms'),
    add('writes acknowledged', r.writeMs.length, `of ${r.attempted}`),
    add('write errors', r.writeErrors, 'writes'),
    add('writes shed (in-flight bound)', r.shed, 'writes'),
    add('writes visible in another region', r.visibilityMs.length, 'writes'),
    add('visibility timeouts', r.visibilityTimeouts + r.visibilityErrors, 'writes'),
    add('writes not checked (check bound)', r.unchecked, 'writes'),
    add('reads at a consistent point that lacked the write', r.missingReads, 'writes'),
  ];
}

const GOALS = { writeRatio: 0.1, readRatio: 0.1, visibilityRatio: 1.5 } as const;

/** The goals of issue 13 for compare-etcd, and both floors beside them. */
export function goalFigures(af: Outcome, etcd: Outcome, visibilityTimeoutMs: number, floors: CompareFloors | undefined): Figure[] {
  const names = {
    write: 'AetherFlow write p99 ÷ etcd write p99',
    read: "AetherFlow snapshot read in the reader's own region p99 ÷ etcd linearizable read there p99",
    vis50: 'AetherFlow visibility in another region p50 ÷ etcd visibility p50',
    vis99: 'AetherFlow visibility in another region p99 ÷ etcd visibility p99',
  };
  const floorFigures: Figure[] = floors
    ? [
        { name: 'AetherFlow visibility floor, worst pair (slowest member path + one interval)', measured: round(floors.aetherflowMs), unit: 'ms', goal: null, met: null },
        { name: 'AetherFlow visibility floor, mean over pairs', measured: round(floors.aetherflowMeanMs), unit: 'ms', goal: null, met: null },
        { name: 'etcd visibility floor, worst reader (ReadIndex through the leader + quorum round trip)', measured: round(floors.etcdMs), unit: 'ms', goal: null, met: null },
        { name: 'etcd visibility floor, mean over readers', measured: round(floors.etcdMeanMs), unit: 'ms', goal: null, met: null },
      ]
    : [];
  if (!af.ok || !etcd.ok) {
    return [
      { name: names.write, measured: Number.NaN, unit: 'ratio', goal: `≤ ${GOALS.writeRatio}`, met: false },
      { name: names.read, measured: Number.NaN, unit: 'ratio', goal: `≤ ${GOALS.readRatio}`, met: false },
      { name: names.vis50, measured: Number.NaN, unit: 'ratio', goal: `≤ ${GOALS.visibilityRatio}`, met: false },
      { name: names.vis99, measured: Number.NaN, unit: 'ratio', goal: `≤ ${GOALS.visibilityRatio}`, met: false },
      ...floorFigures,
    ];
  }
  const a = summarize(af.result, visibilityTimeoutMs);
  const e = summarize(etcd.result, visibilityTimeoutMs);
  const ratio = (x: number, y: number) => (y > 0 ? x / y : Number.NaN);
  const write = ratio(a.writeP99, e.writeP99);
  const read = ratio(a.readP99, e.readP99);
  const vis50 = ratio(a.visibilityP50, e.visibilityP50);
  const vis99 = ratio(a.visibilityP99, e.visibilityP99);
  return [
    { name: names.write, measured: round(write, 4), unit: 'ratio', goal: `≤ ${GOALS.writeRatio}`, met: write <= GOALS.writeRatio },
    { name: names.read, measured: round(read, 4), unit: 'ratio', goal: `≤ ${GOALS.readRatio}`, met: read <= GOALS.readRatio },
    { name: names.vis50, measured: round(vis50, 3), unit: 'ratio', goal: `≤ ${GOALS.visibilityRatio}`, met: vis50 <= GOALS.visibilityRatio },
    { name: names.vis99, measured: round(vis99, 3), unit: 'ratio', goal: `≤ ${GOALS.visibilityRatio}`, met: vis99 <= GOALS.visibilityRatio },
    ...floorFigures,
  ];
}

function positive(s: string, name: string): number {
  const v = Number(s);
  if (!Number.isFinite(v) || v <= 0) throw new AetherError('USAGE', `${name} must be a positive number, got ${s}`);
  return v;
}

/** Runs `fn` with a bound on its whole duration; the system is stopped by the caller's finally either way. */
function bounded<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new AetherError('TIMEOUT', `${what} took over ${ms} ms`)), ms)));
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

export async function runCompareEtcd(options: Options, topologyFile: string): Promise<Figure[]> {
  const durationS = positive(options.duration, '--duration');
  const ratePerS = positive(options.rate, '--rate');
  const visibilityTimeoutMs = positive(options.visibilityTimeout, '--visibility-timeout') * 1000;
  const seed = Number(options.seed) >>> 0;
  if (durationS > 600) throw new AetherError('USAGE', '--duration is at most 600 s');
  if (ratePerS > 2000) throw new AetherError('USAGE', '--rate is at most 2000 writes/s');
  const topology = loadTopology(topologyFile);
  const regions = topology.regions.map((r) => r.name);
  const log = (s: string) => void (options.json || process.stderr.write(`${s}\n`));
  const workload = (prefix: string): WorkloadOptions => ({
    ratePerS,
    durationS,
    maxInFlight: Number(options.maxInFlight),
    maxVisibilityChecks: Number(options.maxChecks),
    visibilityTimeoutMs,
    valueBytes: VALUE_BYTES,
    prefix,
    log,
  });
  const runBound = durationS * 1000 + visibilityTimeoutMs + SYSTEM_OVERHEAD_MS;

  const root = mkdtempSync(join(tmpdir(), 'aetherflow-bench-compare-'));
  let etcd: EtcdCluster | undefined;
  let af: AetherFlowDeployment | undefined;
  const onSignal = (signal: NodeJS.Signals) => {
    etcd?.killNow();
    af?.killNow();
    rmSync(root, { recursive: true, force: true });
    process.exit(signal === 'SIGINT' ? 130 : 143);
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  const failure = (err: unknown): Outcome => {
    const e = toAetherError(err);
    return { ok: false, error: `${e.code}: ${e.message}` };
  };
  let etcdOutcome: Outcome;
  let afOutcome: Outcome;
  let etcdLeader: string | undefined;
  let coordinator: string | undefined;
  try {
    log(`links (one way): ${regions.flatMap((a) => regions.filter((b) => b !== a).map((b) => `${a}→${b} ${linkBetween(topology, a, b).delayMs}±${linkBetween(topology, a, b).jitterMs} ms`)).join(', ')}`);
    log(`workload: ${ratePerS} writes/s for ${durationS} s, round-robin over ${regions.join(', ')}; each then read in another region`);

    log('(b) etcd: one member per region, peers behind delaying relays…');
    try {
      etcdOutcome = await bounded(
        (async () => {
          etcd = await EtcdCluster.start({ regions, link: (a, b) => linkBetween(topology, a, b), dir: join(root, 'etcd'), seed, readyTimeoutMs: 60_000 });
          const cluster = etcd;
          const system: SystemUnderTest<null> = {
            regions,
            write: async (region, key, value) => {
              await cluster.clients.get(region)!.put(key).value(value);
              return null;
            },
            // A linearizable read (etcd3's default): served after a ReadIndex round through the leader.
            readVisible: async (region, key, value) => ((await cluster.clients.get(region)!.get(key).string()) === value ? 'visible' : 'missing'),
            readLocal: async (region, key) => void (await cluster.clients.get(region)!.get(key).string()),
          };
          const result = await runWorkload(system, workload(`bench/etcd-${process.pid}`));
          etcdLeader = await cluster.leaderRegion();
          return { ok: true as const, result };
        })(),
        runBound,
        'the etcd run',
      );
    } catch (err) {
      etcdOutcome = failure(err);
    } finally {
      await etcd?.stop();
    }

    log('(a) AetherFlow: the topology under `aetherflow up`…');
    try {
      afOutcome = await bounded(
        (async () => {
          af = await AetherFlowDeployment.start(topology.file, join(root, 'aetherflow'), READY_TIMEOUT_MS, visibilityTimeoutMs + 5000, log);
          const result = await runWorkload(af, workload(`bench/af-${process.pid}`));
          coordinator = await af.coordinatorRegion();
          return { ok: true as const, result };
        })(),
        runBound,
        'the AetherFlow run',
      );
    } catch (err) {
      afOutcome = failure(err);
    } finally {
      await af?.stop();
    }
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    rmSync(root, { recursive: true, force: true });
  }

  const floors = compareFloors(topology, coordinator ?? topology.coordinators[0]!.region, etcdLeader ?? regions[0]!);
  log(`AetherFlow visibility floor ${floors.aetherflowMs} ms (${floors.aetherflowPath})${coordinator ? '' : ' — coordinator region not known, the first candidate\'s assumed'}`);
  log(`etcd visibility floor ${floors.etcdMs} ms (${floors.etcdPath})${etcdLeader ? '' : ' — leader not known, the first region assumed'}`);
  const figs = [...figuresOf('AetherFlow', afOutcome, visibilityTimeoutMs), ...figuresOf('etcd', etcdOutcome, visibilityTimeoutMs), ...goalFigures(afOutcome, etcdOutcome, visibilityTimeoutMs, floors)];
  for (const [label, o] of [['AetherFlow', afOutcome], ['etcd', etcdOutcome]] as const) {
    if (o.ok && o.result.firstWriteError) log(`${label}: first write error: ${o.result.firstWriteError}`);
    if (o.ok && o.result.firstReadError) log(`${label}: first read error: ${o.result.firstReadError}`);
  }
  if (options.json) printJson({ figures: figs, floors, coordinatorRegion: coordinator ?? null, etcdLeaderRegion: etcdLeader ?? null });
  else printTable(['figure', 'measured', 'unit', 'goal', 'met'], figs.map((f) => [f.name, f.measured, f.unit, f.goal, f.met === null ? '' : f.met ? 'yes' : 'NO']));
  return figs;
}

export function registerCompareEtcdBench(bench: Command): void {
  bench
    .command('compare-etcd')
    .description('AetherFlow vs a 3-member etcd stretched across the same emulated WAN (default topology/wan.yaml): write latency, a consistent read in the own region, time to consistent visibility in another region, both visibility floors')
    .option('--duration <s>', 'seconds of writes per system', '20')
    .option('--rate <n>', 'writes/s offered per system, round-robin over the regions', '30')
    .option('--max-in-flight <n>', 'writes (and separately local reads) in flight at once; beyond it one is shed and counted', '200')
    .option('--max-checks <n>', 'visibility checks in flight at once; beyond it a write is not checked, and counted', '64')
    .option('--visibility-timeout <s>', 'a write not visible in another region this long after its ack counts as a timeout', '10')
    .option('--seed <n>', 'seeds the relays\' jitter', '1')
    .addHelpText('after', '\nWithout --topology it uses topology/wan.yaml. Both systems run one after the other on this machine; nothing is left running after it.')
    .action(async (_options: unknown, cmd: Command) => {
      const fromUser = cmd.getOptionValueSourceWithGlobals('topology') !== 'default';
      const o = cmd.optsWithGlobals() as Options;
      await runCompareEtcd(o, fromUser ? o.topology : DEFAULT_TOPOLOGY);
    });
}
