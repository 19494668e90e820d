/**
 * `aetherflow bench snapshot`: a topology run on this machine under a write load in every
 * region, measured from the client's side: round time and its phases (from the committed
 * snapshots' timings), freshness per region (the deployment's clock − the region's
 * frontier, sampled every 10 ms from the snapshots each region's leader announces),
 * write → visible per region, writes/s, delta bytes per round and aborted rounds (from
 * the processes' metrics). `aetherflow demo` runs the same machinery and prints it live.
 */
import type { Command } from 'commander';
import { connect, type AetherClient, type SnapshotSummary } from '../client/client.js';
import { currentLeader } from '../cluster/election.js';
import { connectEtcd } from '../cluster/etcd.js';
import { clusterPaths } from '../cluster/paths.js';
import { join } from 'node:path';
import { AetherError, assert, toAetherError } from '../common/errors.js';
import { systemPhysicalNs } from '../glts/clock.js';
import { compareGlt, gltDiffMs, maxGlt, nextGlt, type Glt } from '../glts/glt.js';
import { globalOptions } from '../cli/program.js';
import { printJson, printTable } from '../cli/output.js';
import { withScratchCopy } from '../topology/copy.js';
import { loadTopology } from '../topology/load.js';
import { Launch, type LaunchEvent } from '../topology/launcher.js';
import { etcdEndpoints, runtimeDir } from '../topology/local-etcd.js';
import type { Topology } from '../topology/types.js';
import { percentile } from './compare-etcd-workload.js';
import type { Figure } from './index.js';
import { WriteLoad, type WriteLoadStats } from './workload.js';

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** A region's frontier moved to `glt` at `atMs` (performance.now()). */
export interface FrontierPoint {
  readonly atMs: number;
  readonly glt: Glt;
}

/** A committed round as first seen by the observer. */
export interface ObservedRound {
  readonly snapshot: SnapshotSummary;
  readonly seenAtMs: number;
}

/** Rounds and frontier points kept: 30 minutes of 20 rounds/s. */
const MAX_KEPT = 36_000;
/** Pause before watching a region again after its watch ended (leader failover, restart). */
const REWATCH_MS = 200;
/** A frontier read waits this long for the frontier to move before asking again. */
const FRONTIER_WAIT_MS = 1000;
/** The key the frontier reads read (never written: only the GLT served matters). */
const FRONTIER_PROBE_KEY = '\u0000aetherflow/frontier-probe';

/**
 * The committed rounds (phase timings), through each region's Snapshots.Watch, and per
 * region when its frontier moved, through reads that wait for it. Watches that end are resumed.
 * idle → watching (start) → stopped (stop).
 */
export class SnapshotObserver {
  private state: 'idle' | 'watching' | 'stopped' = 'idle';
  /** Distinct committed rounds, GLTs strictly increasing (M); bounded to MAX_KEPT. */
  private readonly rounds: ObservedRound[] = [];
  /** Per region, its frontier over time, GLTs strictly increasing; bounded to MAX_KEPT. */
  private readonly frontiers = new Map<string, FrontierPoint[]>();
  private readonly watches = new Set<AsyncGenerator<SnapshotSummary>>();
  private readonly loops: Promise<void>[] = [];

  constructor(
    private readonly client: AetherClient,
    readonly regions: readonly string[],
  ) {
    for (const r of regions) this.frontiers.set(r, []);
  }

  async start(): Promise<void> {
    assert(this.state === 'idle', () => `start in state ${this.state}`);
    this.state = 'watching';
    for (const region of this.regions) this.loops.push(this.watchLoop(region), this.frontierLoop(region));
  }

  /** Stops watching; resolves when every watch has ended (a frontier read in flight is abandoned after its wait). */
  async stop(): Promise<void> {
    if (this.state !== 'watching') return;
    this.state = 'stopped';
    for (const w of this.watches) void w.return(undefined);
    await Promise.race([Promise.all(this.loops), sleep(FRONTIER_WAIT_MS + REWATCH_MS)]);
  }

  /** Committed rounds and their phase timings, as the region's leader announces them. */
  private async watchLoop(region: string): Promise<void> {
    while (this.state === 'watching') {
      const watch = this.client.watchSnapshots({ region });
      this.watches.add(watch);
      try {
        for await (const s of watch) {
          if (this.state !== 'watching') break;
          this.recordRound(s);
        }
      } catch {
        // the leader went away; watch again
      } finally {
        this.watches.delete(watch);
      }
      if (this.state === 'watching') await sleep(REWATCH_MS);
    }
  }

  /**
   * The region's frontier (what it can serve, which may trail the committed rounds): a
   * read that waits for the frontier to pass the last one seen returns as soon as it moves.
   */
  private async frontierLoop(region: string): Promise<void> {
    while (this.state === 'watching') {
      const last = this.frontier(region);
      try {
        const g = await this.client.get(FRONTIER_PROBE_KEY, { region, waitMs: FRONTIER_WAIT_MS, ...(last ? { minGlt: nextGlt(last) } : {}) });
        this.recordFrontier(region, g.glt);
      } catch (err) {
        // Not moved within the wait: ask again at once; anything else (failover): after a pause.
        if (toAetherError(err).code !== 'SNAPSHOT_NOT_READY' && this.state === 'watching') await sleep(REWATCH_MS);
      }
    }
  }

  private recordFrontier(region: string, glt: Glt): void {
    if (glt.wall === 0n) return; // no snapshot yet in this region: no frontier to measure
    const points = this.frontiers.get(region)!;
    const last = points[points.length - 1];
    if (last !== undefined && compareGlt(glt, last.glt) <= 0) return;
    points.push({ atMs: performance.now(), glt });
    if (points.length > MAX_KEPT) points.shift();
  }

  private recordRound(s: SnapshotSummary): void {
    // Every region announces each round: the first announcement counts.
    const newest = this.rounds[this.rounds.length - 1];
    if (newest !== undefined && compareGlt(s.glt, newest.snapshot.glt) <= 0) return;
    this.rounds.push({ snapshot: s, seenAtMs: performance.now() });
    if (this.rounds.length > MAX_KEPT) this.rounds.shift();
  }

  /** The region's frontier as last seen, if any. */
  frontier(region: string): Glt | undefined {
    const points = this.frontiers.get(region);
    return points?.[points.length - 1]?.glt;
  }

  frontierPoints(region: string): readonly FrontierPoint[] {
    return this.frontiers.get(region) ?? [];
  }

  /** The committed rounds seen at or after `sinceMs` (performance.now()), oldest first. */
  roundsSince(sinceMs = 0): ObservedRound[] {
    return this.rounds.filter((r) => r.seenAtMs >= sinceMs);
  }

  /** The newest GLT every region's frontier has reached (a GLT all of them can read). */
  commonFrontier(): Glt | undefined {
    let common: Glt | undefined;
    for (const r of this.regions) {
      const f = this.frontier(r);
      if (f === undefined) return undefined;
      common = common === undefined || compareGlt(f, common) < 0 ? f : common;
    }
    return common;
  }

  /**
   * Resolves once a round with every region as a member has been seen — the deployment is
   * whole (at start-up a region whose data nodes came up last may be excluded and rejoin
   * first), so a load starts from steady state; SNAPSHOT_NOT_READY after `timeoutMs`.
   */
  async firstRound(timeoutMs: number, stopRequested: () => boolean = () => false): Promise<void> {
    const deadline = performance.now() + timeoutMs;
    while (!this.rounds.some((r) => this.regions.every((x) => r.snapshot.members.includes(x)))) {
      if (stopRequested()) return;
      if (performance.now() > deadline) throw new AetherError('SNAPSHOT_NOT_READY', `no snapshot with every region committed within ${Math.round(timeoutMs / 1000)} s of the deployment being ready; see the coordinator's and leaders' logs`);
      await sleep(50);
    }
  }
}

/**
 * How far behind the deployment's clock a frontier is, in ms: the clock is the greater of
 * this machine's physical clock and the newest acknowledged write (writes after a round
 * are stamped above its T, which may lead the physical clock by up to maxOffset).
 * Never negative: a frontier at or ahead of the clock is fresh.
 */
export function frontierLagMs(frontier: Glt, newestWrite: Glt | undefined): number {
  const physical: Glt = { wall: systemPhysicalNs(), logical: 0 };
  const now = newestWrite ? maxGlt(physical, newestWrite) : physical;
  return Math.max(0, gltDiffMs(now, frontier));
}

/** The one-way link delay the topology sets from one region to another (as Quantum emulates it). */
export function linkDelayMs(topology: Topology, from: string, to: string): number {
  return (topology.links.overrides.find((o) => o.from === from && o.to === to) ?? topology.links.default).delayMs;
}

/**
 * The network floor of a round with the coordinator in `coordinatorRegion` and every
 * region a member: Begin to each leader; each leader's delta to every other leader (sent
 * once it has Begin); each leader's Ready back once it holds every delta. The slowest
 * member's path is the floor.
 */
export function roundNetworkFloor(topology: Topology, coordinatorRegion: string): { readonly floorMs: number; readonly path: string } {
  const regions = topology.regions.map((r) => r.name);
  const d = (a: string, b: string) => linkDelayMs(topology, a, b);
  let best = { floorMs: -1, path: '' };
  for (const m of regions) {
    let arrive = d(coordinatorRegion, m);
    let via = `Begin ${coordinatorRegion}→${m} ${arrive} ms`;
    for (const p of regions) {
      if (p === m) continue;
      const t = d(coordinatorRegion, p) + d(p, m);
      if (t > arrive) {
        arrive = t;
        via = `Begin ${coordinatorRegion}→${p} ${d(coordinatorRegion, p)} ms + delta ${p}→${m} ${d(p, m)} ms`;
      }
    }
    const total = arrive + d(m, coordinatorRegion);
    if (total > best.floorMs) best = { floorMs: total, path: `${via} + Ready ${m}→${coordinatorRegion} ${d(m, coordinatorRegion)} ms` };
  }
  return best;
}

/** The region of the elected coordinator, from etcd; the first candidate's when etcd cannot say. */
export async function coordinatorRegion(topology: Topology): Promise<string> {
  const fallback = topology.coordinators[0]!.region;
  let endpoints: string[];
  try {
    endpoints = etcdEndpoints(topology);
  } catch {
    return fallback;
  }
  const etcd = connectEtcd(endpoints);
  try {
    const paths = clusterPaths(topology.name);
    const leader = await currentLeader<{ id: string }>(etcd, paths.electionPrefix(paths.coordinatorElection));
    return topology.coordinators.find((c) => c.id === leader?.value.id)?.region ?? fallback;
  } catch {
    return fallback;
  } finally {
    etcd.close();
  }
}

/** Counters read from the processes' /metrics: rounds by result (coordinators) and delta bytes sent (leaders). */
export interface RoundCounters {
  readonly committed: number;
  readonly aborted: number;
  readonly deltaBytes: number;
}

const SCRAPE_TIMEOUT_MS = 2000;

function sumMetric(text: string, name: RegExp): number {
  let sum = 0;
  for (const line of text.split('\n')) {
    const m = name.exec(line);
    if (m) sum += Number(m[1]);
  }
  return sum;
}

/** Sums the round and delta counters over every coordinator and leader that answers (a standby's are 0). */
export async function scrapeRoundCounters(topology: Topology): Promise<RoundCounters> {
  const coordinators = topology.coordinators.map((c) => c.metrics);
  const leaders = topology.regions.flatMap((r) => r.leaders.map((l) => l.metrics));
  const fetchText = async (address: string): Promise<string> => {
    try {
      const res = await fetch(`http://${address}/metrics`, { signal: AbortSignal.timeout(SCRAPE_TIMEOUT_MS) });
      return res.ok ? await res.text() : '';
    } catch {
      return '';
    }
  };
  const [c, l] = await Promise.all([Promise.all(coordinators.map(fetchText)), Promise.all(leaders.map(fetchText))]);
  const coordText = c.join('\n');
  return {
    committed: sumMetric(coordText, /^\w*snapshot_rounds_total\{[^}]*result="committed"[^}]*\}\s+(\S+)/),
    aborted: sumMetric(coordText, /^\w*snapshot_rounds_total\{[^}]*result="aborted"[^}]*\}\s+(\S+)/),
    deltaBytes: sumMetric(l.join('\n'), /^\w*delta_bytes_total(?:\{[^}]*\})?\s+(\S+)/),
  };
}

/** A topology running on this machine, started as `aetherflow up` starts it, and a client of it. */
export interface Deployment {
  readonly topology: Topology;
  readonly launch: Launch;
  readonly client: AetherClient;
}

/** Starts every process of the topology (and a local etcd when it names none) and waits until all are ready. */
export async function startDeployment(topology: Topology, onEvent: (e: LaunchEvent) => void): Promise<Deployment> {
  const launch = await Launch.start(topology, { onEvent });
  try {
    await launch.ready();
    return { topology, launch, client: connect({ topology }) };
  } catch (err) {
    await launch.stop();
    throw err;
  }
}

export async function stopDeployment(d: Deployment): Promise<void> {
  d.client.close();
  await d.launch.stop();
}

/** Human progress while a deployment starts: one line per process as it becomes ready. */
export function startProgress(topology: Topology, out: (line: string) => void): (e: LaunchEvent) => void {
  const logDir = join(runtimeDir(topology), 'logs');
  let total = 0;
  let ready = 0;
  let stopping = false;
  return (e) => {
    if (e.type === 'stopping') stopping = true;
    if (e.type === 'etcd-starting') out(`starting a local etcd…`);
    else if (e.type === 'etcd-ready') out(`etcd ready at ${e.endpoints.join(', ')}`);
    else if (e.type === 'starting') {
      total = e.processes.length;
      out(`starting ${total} processes (data nodes, leaders, coordinators)…`);
    } else if (e.type === 'process' && e.state === 'ready' && e.restarts === 0) out(`  [${++ready}/${total}] ${e.process.id} ready`);
    else if (e.type === 'process' && e.state === 'exited' && !stopping) out(`  ${e.process.id} exited (${e.signal ?? `code ${e.exitCode}`}); it is restarted — see ${join(logDir, `${e.process.id}.log`)}`);
    else if (e.type === 'stopping') out('stopping every process it started…');
    else if (e.type === 'stopped') out('stopped');
  };
}

export interface LoadRunOptions {
  readonly ratePerS: number;
  readonly durationS: number;
  readonly seed: number;
  readonly keys: number;
  readonly keyPrefix: string;
  /** Called about once a second while the load runs. */
  readonly onSecond?: (tick: SecondTick) => void;
  /** Ends the run early (Ctrl-C). */
  readonly stopRequested?: () => boolean;
}

/** What one second of the run looked like. */
export interface SecondTick {
  readonly elapsedS: number;
  readonly roundsTotal: number;
  readonly roundsLastS: number;
  readonly roundP50Ms: number;
  readonly roundP99Ms: number;
  /** Per region, ms behind the deployment's clock (undefined before its first snapshot). */
  readonly lagMs: Readonly<Record<string, number | undefined>>;
  readonly writesLastS: number;
  readonly failuresTotal: number;
}

export interface LoadRunResult {
  readonly rounds: readonly ObservedRound[];
  /** Per region, frontier lag samples (ms), every FRESHNESS_SAMPLE_MS. */
  readonly freshnessMs: ReadonlyMap<string, number[]>;
  /** Per region, ack → the region's frontier reaching the write's ts (ms), for the writes it reached. */
  readonly visibleMs: ReadonlyMap<string, number[]>;
  readonly load: WriteLoadStats;
  readonly counters: RoundCounters;
  readonly durationS: number;
  readonly writeLoad: WriteLoad;
  readonly observer: SnapshotObserver;
}

const FRESHNESS_SAMPLE_MS = 10;
/** Writes whose visibility is computed (evenly spread) — the rest add nothing but time. */
const MAX_VISIBILITY_SAMPLES = 20_000;
/** Wait this long for a committed snapshot with every region once every process is ready. */
export const FIRST_ROUND_TIMEOUT_MS = 60_000;

function sub(a: RoundCounters, b: RoundCounters): RoundCounters {
  return { committed: a.committed - b.committed, aborted: a.aborted - b.aborted, deltaBytes: a.deltaBytes - b.deltaBytes };
}

/** Runs the write load on the deployment for the duration, observing every round and frontier. */
export async function runUnderLoad(d: Deployment, o: LoadRunOptions): Promise<LoadRunResult> {
  const regions = d.topology.regions.map((r) => r.name);
  const observer = new SnapshotObserver(d.client, regions);
  await observer.start();
  const stopRequested = o.stopRequested ?? (() => false);
  try {
    await observer.firstRound(FIRST_ROUND_TIMEOUT_MS, stopRequested);
    const before = await scrapeRoundCounters(d.topology);
    const load = new WriteLoad(d.client, {
      regions,
      ratePerS: o.ratePerS,
      keys: o.keys,
      keyPrefix: o.keyPrefix,
      seed: o.seed,
      maxWrites: Math.ceil(o.ratePerS * o.durationS) + 1,
      maxDurationMs: o.durationS * 1000,
      maxInFlight: Math.max(256, Math.ceil(o.ratePerS / 4)),
    });
    const freshnessMs = new Map(regions.map((r) => [r, [] as number[]]));
    const maxSamples = Math.ceil((o.durationS * 1000) / FRESHNESS_SAMPLE_MS) + 10;
    const sampler = setInterval(() => {
      for (const r of regions) {
        const f = observer.frontier(r);
        const samples = freshnessMs.get(r)!;
        if (f !== undefined && samples.length < maxSamples) samples.push(frontierLagMs(f, load.newestTs()));
      }
    }, FRESHNESS_SAMPLE_MS);
    const startedAt = performance.now();
    load.start();
    let lastTick = startedAt;
    let lastAcked = 0;
    try {
      while (load.running && !stopRequested()) {
        await sleep(Math.max(0, lastTick + 1000 - performance.now()));
        if (!load.running || stopRequested()) break;
        const now = performance.now();
        const recent = observer.roundsSince(lastTick);
        const all = observer.roundsSince(startedAt);
        const durations = (recent.length > 0 ? recent : all).map((r) => r.snapshot.durationMs).sort((a, b) => a - b);
        const s = load.stats();
        o.onSecond?.({
          elapsedS: Math.round((now - startedAt) / 1000),
          roundsTotal: all.length,
          roundsLastS: recent.length,
          roundP50Ms: percentile(durations, 50),
          roundP99Ms: percentile(durations, 99),
          lagMs: Object.fromEntries(regions.map((r) => [r, observer.frontier(r) && frontierLagMs(observer.frontier(r)!, load.newestTs())])),
          writesLastS: ((s.acknowledged - lastAcked) * 1000) / (now - lastTick),
          failuresTotal: Object.values(s.failures).reduce((a, b) => a + b, 0),
        });
        lastAcked = s.acknowledged;
        lastTick = now;
      }
    } finally {
      await load.stop();
      clearInterval(sampler);
    }
    const durationS = (performance.now() - startedAt) / 1000;
    // Let the writes acknowledged last reach every frontier (a few rounds), then count.
    await sleep(Math.min(2000, 10 * d.topology.snapshot.intervalMs + d.topology.snapshot.budgetMs));
    const after = await scrapeRoundCounters(d.topology);
    return {
      rounds: observer.roundsSince(startedAt),
      freshnessMs,
      visibleMs: visibility(observer, regions, load),
      load: load.stats(),
      counters: sub(after, before),
      durationS,
      writeLoad: load,
      observer,
    };
  } finally {
    await observer.stop();
  }
}

/** Per region, how long after its ack each (sampled) write was first covered by the region's frontier. */
function visibility(observer: SnapshotObserver, regions: readonly string[], load: WriteLoad): Map<string, number[]> {
  const writes = load.acknowledged();
  const stride = Math.max(1, Math.ceil(writes.length / MAX_VISIBILITY_SAMPLES));
  const out = new Map<string, number[]>();
  for (const r of regions) {
    const points = observer.frontierPoints(r);
    const ms: number[] = [];
    for (let i = 0; i < writes.length; i += stride) {
      const w = writes[i]!;
      // The first frontier point at or above the write's ts (frontiers only grow).
      let lo = 0;
      let hi = points.length;
      while (lo < hi) {
        const mid = (lo + hi) >> 1;
        if (compareGlt(points[mid]!.glt, w.ts) >= 0) hi = mid;
        else lo = mid + 1;
      }
      if (lo < points.length) ms.push(Math.max(0, points[lo]!.atMs - w.ackedAtMs));
    }
    out.set(r, ms.sort((a, b) => a - b));
  }
  return out;
}

const round1 = (x: number) => Math.round(x * 10) / 10;

/** Each phase's share of the summed round time, in %, by phase name (in first-seen order). */
export function phaseShares(rounds: readonly ObservedRound[]): { name: string; meanMs: number; sharePercent: number }[] {
  const sums = new Map<string, number>();
  let total = 0;
  for (const r of rounds) {
    for (const p of r.snapshot.phases) sums.set(p.name, (sums.get(p.name) ?? 0) + p.ms);
    total += r.snapshot.durationMs;
  }
  return [...sums].map(([name, ms]) => ({ name, meanMs: rounds.length ? ms / rounds.length : Number.NaN, sharePercent: total > 0 ? (100 * ms) / total : Number.NaN }));
}

interface SnapshotBenchReport {
  readonly figures: Figure[];
  /** For the report's round-time plot: the raw samples (bounded) and their percentiles. */
  readonly roundTimes: { readonly topology: string; readonly budgetMs: number; readonly samplesMs: number[]; readonly percentilesMs: Record<string, number> };
  readonly networkFloor: { readonly coordinatorRegion: string; readonly floorMs: number; readonly path: string };
}

const MAX_PLOT_SAMPLES = 5000;

function benchReport(topology: Topology, ratePerS: number, floor: SnapshotBenchReport['networkFloor'], r: LoadRunResult): SnapshotBenchReport {
  const name = topology.name;
  const durations = r.rounds.map((x) => x.snapshot.durationMs).sort((a, b) => a - b);
  const p = (q: number) => round1(percentile(durations, q));
  const isWan = topology.links.overrides.length > 0 || topology.links.default.delayMs > 0;
  const p99Goal = isWan ? floor.floorMs + 10 : 50;
  const figures: Figure[] = [
    { name: `${name} round time p50`, measured: p(50), unit: 'ms', goal: null, met: null },
    { name: `${name} round time p95`, measured: p(95), unit: 'ms', goal: null, met: null },
    {
      name: `${name} round time p99`,
      measured: p(99),
      unit: 'ms',
      goal: isWan ? `≤ network floor ${floor.floorMs} ms + 10 ms` : '≤ 50 ms (stretch ≤ 20 ms)',
      met: durations.length > 0 ? p(99) <= p99Goal : false,
    },
    ...(isWan ? [{ name: `${name} round network floor (coordinator in ${floor.coordinatorRegion})`, measured: floor.floorMs, unit: 'ms', goal: null, met: null }] : []),
    ...phaseShares(r.rounds).map((ph) => ({ name: `${name} round phase ${ph.name} share`, measured: round1(ph.sharePercent), unit: '%', goal: null, met: null })),
  ];
  for (const [region, samples] of r.freshnessMs) {
    const sorted = [...samples].sort((a, b) => a - b);
    figures.push({ name: `${name} freshness ${region} p50`, measured: round1(percentile(sorted, 50)), unit: 'ms', goal: null, met: null });
    const f99 = round1(percentile(sorted, 99));
    figures.push({ name: `${name} freshness ${region} p99`, measured: f99, unit: 'ms', goal: isWan ? null : '≤ 100 ms', met: isWan ? null : sorted.length > 0 && f99 <= 100 });
  }
  for (const [region, ms] of r.visibleMs) {
    figures.push({ name: `${name} write → visible at ${region}'s frontier p50`, measured: round1(percentile(ms, 50)), unit: 'ms', goal: null, met: null });
    figures.push({ name: `${name} write → visible at ${region}'s frontier p99`, measured: round1(percentile(ms, 99)), unit: 'ms', goal: null, met: null });
  }
  const achieved = round1(r.load.writesPerS);
  figures.push(
    { name: `${name} writes/s (target ${ratePerS})`, measured: achieved, unit: 'writes/s', goal: `≥ ${ratePerS}`, met: achieved >= ratePerS * 0.95 },
    { name: `${name} write latency p99`, measured: round1(r.load.latencyMs.p99), unit: 'ms', goal: null, met: null },
    { name: `${name} writes failed`, measured: Object.values(r.load.failures).reduce((a, b) => a + b, 0), unit: 'writes', goal: null, met: null },
    { name: `${name} writes shed (client at its in-flight bound)`, measured: r.load.shed, unit: 'writes', goal: null, met: null },
    { name: `${name} rounds committed`, measured: r.rounds.length, unit: 'rounds', goal: null, met: null },
    { name: `${name} rounds aborted`, measured: r.counters.aborted, unit: 'rounds', goal: isWan ? null : '0', met: isWan ? null : r.counters.aborted === 0 },
    { name: `${name} delta bytes per round`, measured: Math.round(r.counters.deltaBytes / Math.max(1, r.counters.committed || r.rounds.length)), unit: 'B', goal: null, met: null },
  );
  const stride = Math.max(1, Math.ceil(durations.length / MAX_PLOT_SAMPLES));
  return {
    figures,
    roundTimes: {
      topology: name,
      budgetMs: topology.snapshot.budgetMs,
      samplesMs: r.rounds.filter((_, i) => i % stride === 0).map((x) => x.snapshot.durationMs),
      percentilesMs: { p50: p(50), p90: p(90), p95: p(95), p99: p(99), max: p(100) },
    },
    networkFloor: floor,
  };
}

function printHuman(report: SnapshotBenchReport, r: LoadRunResult): void {
  const out = (s: string) => process.stdout.write(`${s}\n`);
  out(`\n${r.rounds.length} rounds committed in ${r.durationS.toFixed(1)} s, ${r.counters.aborted} aborted; ${r.load.acknowledged} writes acknowledged (${r.load.writesPerS.toFixed(0)}/s), ${Object.values(r.load.failures).reduce((a, b) => a + b, 0)} failed, ${r.load.shed} shed`);
  out(`network floor of a round (coordinator in ${report.networkFloor.coordinatorRegion}): ${report.networkFloor.floorMs} ms — ${report.networkFloor.path}\n`);
  printTable(
    ['figure', 'measured', 'goal', 'met'],
    report.figures.map((f) => [f.name, Number.isFinite(f.measured) ? `${f.measured} ${f.unit}` : '–', f.goal ?? '', f.met === null ? '' : f.met ? 'yes' : 'NO']),
  );
}

/** Waits for SIGINT/SIGTERM while `fn` runs; `fn` sees whether one arrived. */
export async function withStopSignal<T>(fn: (stopRequested: () => boolean) => Promise<T>): Promise<T> {
  let stop = false;
  const onSignal = (): void => void (stop = true);
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    return await fn(() => stop);
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

export function registerSnapshotBench(bench: Command): void {
  bench
    .command('snapshot')
    .description('run a topology on this machine under a write load in every region: round time p50/p95/p99 and phase shares, freshness per region, writes/s, delta bytes per round, aborted rounds')
    .option('--rate <n>', 'writes per second, total over all regions', '5000')
    .option('--duration <s>', 'seconds of load', '20')
    .option('--keys <n>', 'keyspace size', '10000')
    .option('--seed <n>', 'seed of the write load', '1')
    .action(async (o: { rate: string; duration: string; keys: string; seed: string }, cmd: Command) => {
      const opts = globalOptions(cmd);
      const ratePerS = Number(o.rate);
      const durationS = Number(o.duration);
      if (!(ratePerS > 0) || !(durationS > 0) || !(Number(o.keys) >= 1)) throw new AetherError('USAGE', '--rate, --duration and --keys must be positive numbers');
      const topology = loadTopology(opts.topology);
      const log = (s: string) => void process.stderr.write(`${s}\n`);
      await withScratchCopy(topology, 'bench', (copy) =>
        withStopSignal(async (stopRequested) => {
          const d = await startDeployment(copy, opts.json ? () => {} : startProgress(copy, log));
          try {
            if (!opts.json) log(`all processes ready; waiting for a committed snapshot with every region, then ${ratePerS} writes/s for ${durationS} s…`);
            const r = await runUnderLoad(d, {
              ratePerS,
              durationS,
              seed: Number(o.seed),
              keys: Number(o.keys),
              keyPrefix: `bench/${Date.now()}/`,
              stopRequested,
              ...(opts.json ? {} : { onSecond: (t: SecondTick) => log(`  ${t.elapsedS} s: ${t.roundsLastS} rounds (p99 ${t.roundP99Ms.toFixed(1)} ms), ${t.writesLastS.toFixed(0)} writes/s`) }),
            });
            const region = await coordinatorRegion(copy);
            const report = benchReport(topology, ratePerS, { coordinatorRegion: region, ...roundNetworkFloor(topology, region) }, r);
            if (opts.json) printJson(report);
            else printHuman(report, r);
          } finally {
            await stopDeployment(d);
          }
        }),
      );
    });
}
