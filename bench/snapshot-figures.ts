/**
 * The figures of `bench snapshot` (bench/snapshot.ts) from what it measured, with the
 * goals of issue 13 ("Benchmarks") judged where they apply. Pure: unit-tested without
 * a deployment.
 */
import { encodeDelta } from '../datanode/delta.js';
import type { Version } from '../datanode/version.js';
import { AetherError } from '../common/errors.js';
import { systemPhysicalNs } from '../glts/clock.js';
import type { Topology } from '../topology/types.js';
import { Random } from '../common/random.js';
import type { WindowMetrics } from './deployment-metrics.js';
import type { VisibilityFloor } from './floors.js';
import type { Figure } from '../common/figure.js';
import type { CpuUsage } from './proc-cpu.js';
import { percentile } from '../common/latency-histogram.js';
import { fractionAtMost, histogramCount, histogramQuantile, roundTo } from './stats.js';
import type { VisibilityResult } from '../history/visibility-sampler.js';
import { DEFAULT_WRITE_LOAD, loadValue } from '../history/write-load.js';

export const DEFAULT_RATES: readonly number[] = [0, 1000, 2500, 5000];

/** The goals of issue 13 ("Benchmarks"), in one place. */
export const GOALS = {
  /** A rate is sustained when at least this share of the offered writes is acknowledged. */
  sustainedShare: 0.98,
  localVisibilityP99Ms: 100,
  localCommitP99Ms: 20,
  localAckedRate: 5000,
  /** Commit p99 at 5,000 writes/s ≤ commit p99 at 0 + this. */
  commitFlatMs: 10,
  wanVisibilityRate: 2500,
  /** wan.yaml: visibility p99 ≤ the topology's floor + this. */
  wanVisibilitySlackMs: 50,
  /** At ≥ this rate: wire bytes per version per peer ≤ wireFactor × the LZ4-encoded version. */
  wireFromRate: 1000,
  wireFactor: 1.5,
  idleCores: 0.3,
  cpuMsPerWrite: 0.3,
  eventLoopRate: 5000,
  longestTaskMs: 50,
  loopDelayMaxMs: 250,
} as const;

/** Everything measured at one offered rate. */
export interface RateMeasurement {
  readonly ratePerS: number;
  readonly durationS: number;
  /** Writes due under the open-loop schedule (sent + shed), acknowledged, failed (by code), shed. */
  readonly offered: number;
  readonly acknowledged: number;
  readonly failed: number;
  readonly failures: Readonly<Record<string, number>>;
  readonly shed: number;
  readonly writeP99Ms: number;
  readonly metrics: WindowMetrics;
  readonly cpu: CpuUsage;
  /** Cores busy by role (datanode, leader, coordinator, etcd) and by process over the window. */
  readonly coresByRole: Readonly<Record<string, number>>;
  readonly coresByProcess: Readonly<Record<string, number>>;
  readonly freshnessMs: ReadonlyMap<string, readonly number[]>;
  readonly frontierAhead: { readonly samples: number; readonly maxMs: number };
  readonly visibility?: VisibilityResult;
  /** Reads that missed an acknowledged write: stale versions plus absences no later delete explains (writes of regions excluded meanwhile left out). */
  readonly missedWrites: number;
  /** The same, of writes acknowledged in a region excluded meanwhile: hidden until re-stamped (rule D), not a violation. */
  readonly missedExcused: number;
  /** Regions left out of some commit seen during the window (and the reads after it). */
  readonly excludedRegions: readonly string[];
}

export interface IdleMeasurement {
  readonly cpu: CpuUsage;
  readonly coresByRole: Readonly<Record<string, number>>;
  readonly coresByProcess: Readonly<Record<string, number>>;
  readonly metrics: WindowMetrics;
}

export interface SnapshotBenchInput {
  /** The source topology's name ("local", "wan"): it names the figures. */
  readonly name: string;
  readonly wan: boolean;
  readonly floor: VisibilityFloor;
  readonly lz4VersionBytes: number;
  readonly idle: IdleMeasurement;
  readonly rates: readonly RateMeasurement[];
  readonly exits: readonly string[];
}

/** True when the topology emulates any WAN delay. */
export function isWan(topology: Topology): boolean {
  return topology.links.default.delayMs > 0 || topology.links.overrides.some((o) => o.delayMs > 0);
}

export function sustained(m: Pick<RateMeasurement, 'offered' | 'acknowledged'>): boolean {
  return m.offered > 0 && m.acknowledged >= GOALS.sustainedShare * m.offered;
}

const ms = (seconds: number) => seconds * 1000;
const rateLabel = (r: number) => r.toLocaleString('en-US');

/** The figures of one topology's run: goals as issue 13 states them, judged where they apply. */
export function snapshotFigures(x: SnapshotBenchInput): Figure[] {
  const figs: Figure[] = [];
  const add = (name: string, measured: number, unit: string, goal: string | null = null, met: boolean | null = null) => figs.push({ name: `${x.name} ${name}`, measured, unit, goal, met });
  const local = !x.wan;
  add('visibility floor (worst origin → member → coordinator → reader, + one interval)', x.floor.floorMs, 'ms');
  add('LZ4-encoded size of one version of the workload', roundTo(x.lz4VersionBytes, 1), 'B');
  add('idle CPU, whole deployment (no clients)', roundTo(x.idle.cpu.cores, 3), 'cores', local ? `≤ ${GOALS.idleCores} cores` : null, local ? x.idle.cpu.cores <= GOALS.idleCores : null);
  add('idle commits/s', roundTo(x.idle.metrics.commits / Math.max(1e-9, x.idle.cpu.wallS), 1), 'commits/s');

  const commitP99 = new Map<number, number>();
  for (const m of x.rates) {
    const at = `@${rateLabel(m.ratePerS)}/s`;
    const ok = m.ratePerS === 0 || sustained(m);
    const notJudged = ' (rate not sustained: not judged)';
    const total = m.metrics.commitBuckets.total;
    const c50 = ms(histogramQuantile(total, 0.5));
    const c99 = ms(histogramQuantile(total, 0.99));
    commitP99.set(m.ratePerS, c99);
    if (m.ratePerS > 0) {
      const share = (100 * m.acknowledged) / Math.max(1, m.offered);
      const judgeAck = local && m.ratePerS === GOALS.localAckedRate;
      add(`${at} writes acknowledged/s`, roundTo(m.acknowledged / m.durationS, 0), 'writes/s');
      add(`${at} writes acknowledged of offered`, roundTo(share, 1), '%', judgeAck ? `≥ ${GOALS.sustainedShare * 100} % (${rateLabel(GOALS.localAckedRate)} writes/s acknowledged)` : null, judgeAck ? sustained(m) : null);
      add(`${at} writes failed`, m.failed, 'writes');
      add(`${at} writes shed by the load generator (in-flight bound)`, m.shed, 'writes');
      add(`${at} writes refused by back-pressure`, m.metrics.backpressured.refused, 'writes');
      add(`${at} writes that waited for back-pressure, then admitted`, m.metrics.backpressured.admitted, 'writes');
      add(`${at} write latency p99`, roundTo(m.writeP99Ms, 1), 'ms');
    }
    const judgeCommit = local;
    add(`${at} commits/s`, roundTo(m.metrics.commits / m.durationS, 1), 'commits/s');
    add(`${at} commit time p50`, roundTo(c50, 2), 'ms');
    add(
      `${at} commit time p99`,
      roundTo(c99, 2),
      'ms',
      judgeCommit ? `≤ ${GOALS.localCommitP99Ms} ms${ok ? '' : notJudged}` : null,
      judgeCommit && ok ? histogramCount(total) > 0 && fractionAtMost(total, GOALS.localCommitP99Ms / 1000) >= 0.99 : null,
    );
    add(`${at} commit persist (etcd) p99`, roundTo(ms(histogramQuantile(m.metrics.commitBuckets.persist, 0.99)), 2), 'ms');
    if (m.visibility) {
      const v = m.visibility;
      const v50 = percentile(v.censoredMs, 50);
      const v99 = percentile(v.censoredMs, 99);
      let goal: string | null = null;
      let met: boolean | null = null;
      if (local) {
        goal = `≤ ${GOALS.localVisibilityP99Ms} ms${ok ? '' : notJudged}`;
        met = ok ? v.censoredMs.length > 0 && v99 <= GOALS.localVisibilityP99Ms : null;
      } else if (m.ratePerS === GOALS.wanVisibilityRate) {
        const limit = x.floor.floorMs + GOALS.wanVisibilitySlackMs;
        goal = `≤ floor ${x.floor.floorMs} ms + ${GOALS.wanVisibilitySlackMs} ms = ${limit} ms`;
        met = v.censoredMs.length > 0 && v99 <= limit;
      }
      add(`${at} visibility in another region p50`, roundTo(v50, 1), 'ms');
      add(`${at} visibility in another region p99`, roundTo(v99, 1), 'ms', goal, met);
      add(`${at} visibility reads (sampled writes × other regions)`, v.reads, 'reads');
      add(`${at} visibility reads timed out or failed`, v.timeouts + v.errors, 'reads');
      add(`${at} reads that missed an acknowledged write`, m.missedWrites, 'reads', '= 0', m.missedWrites === 0);
      add(`${at} reads that missed a write of a region excluded meanwhile (hidden until re-stamped, rule D)`, m.missedExcused, 'reads');
    }
    for (const [region, samples] of m.freshnessMs) add(`${at} freshness ${region} p99`, roundTo(percentile(samples, 99), 1), 'ms');
    add(`${at} regions excluded during the window`, m.excludedRegions.length, 'regions');
    if (m.ratePerS > 0) {
      const versions = m.metrics.shippedVersions;
      const shipped = versions > 0 ? m.metrics.shippedBytes / versions : Number.NaN;
      const wire = versions > 0 ? m.metrics.quantumOutBytes / versions : Number.NaN;
      const judgeWire = m.ratePerS >= GOALS.wireFromRate;
      const limit = GOALS.wireFactor * x.lz4VersionBytes;
      add(`${at} shipped bytes per version per peer (framed LZ4 deltas)`, roundTo(shipped, 1), 'B');
      add(`${at} Quantum bytes on the wire per version per peer`, roundTo(wire, 1), 'B', judgeWire ? `≤ ${GOALS.wireFactor} × ${roundTo(x.lz4VersionBytes, 1)} B = ${roundTo(limit, 1)} B` : null, judgeWire ? wire <= limit : null);
      const cpuMs = m.acknowledged > 0 ? (1000 * m.cpu.seconds) / m.acknowledged : Number.NaN;
      add(`${at} CPU per acknowledged write, all processes`, roundTo(cpuMs, 3), 'ms', local ? `≤ ${GOALS.cpuMsPerWrite} ms` : null, local ? cpuMs <= GOALS.cpuMsPerWrite : null);
      const marginal = m.acknowledged > 0 ? (1000 * (m.cpu.seconds - x.idle.cpu.cores * m.cpu.wallS)) / m.acknowledged : Number.NaN;
      add(`${at} CPU per acknowledged write above idle`, roundTo(marginal, 3), 'ms');
    }
    add(`${at} CPU busy, all processes`, roundTo(m.cpu.cores, 2), 'cores');
    const judgeLoop = m.ratePerS === GOALS.eventLoopRate;
    const task = m.metrics.longestTask ? ms(m.metrics.longestTask.value) : Number.NaN;
    const delay = m.metrics.loopDelayMax ? ms(m.metrics.loopDelayMax.value) : Number.NaN;
    add(`${at} longest event-loop task, worst process`, roundTo(task, 1), 'ms', judgeLoop ? `≤ ${GOALS.longestTaskMs} ms` : null, judgeLoop ? task <= GOALS.longestTaskMs : null);
    add(`${at} event-loop delay max, worst process`, roundTo(delay, 1), 'ms', judgeLoop ? `≤ ${GOALS.loopDelayMaxMs} ms` : null, judgeLoop ? delay <= GOALS.loopDelayMaxMs : null);
  }
  const at0 = commitP99.get(0);
  const atTop = commitP99.get(GOALS.localAckedRate);
  if (local && at0 !== undefined && atTop !== undefined) {
    const diff = atTop - at0;
    add(`commit time p99 @${rateLabel(GOALS.localAckedRate)}/s − @0/s (flat)`, roundTo(diff, 2), 'ms', `≤ ${GOALS.commitFlatMs} ms`, Number.isFinite(diff) && diff <= GOALS.commitFlatMs);
  }
  add('role process exits during the run', x.exits.length, 'exits');
  return figs;
}

/**
 * The LZ4-encoded size of one version of the workload: `count` versions as the load
 * writes them (its keys, values, share of deletes; one data node's, stamped in order),
 * encoded as one delta, divided by the count.
 */
export function lz4VersionBytes(o: { readonly regions: readonly string[]; readonly origin: string; readonly keys: number; readonly keyPrefix: string; readonly valueBytes: number; readonly seed: number; readonly ratePerS: number }, count = 20_000): number {
  const rng = new Random(o.seed);
  const width = String(o.keys - 1).length;
  const stepNs = BigInt(Math.max(1, Math.round(1e9 / Math.max(1, o.ratePerS))));
  const start = systemPhysicalNs();
  const versions: Version[] = [];
  for (let n = 0; n < count; n++) {
    const region = o.regions[n % o.regions.length]!;
    const key = Buffer.from(`${o.keyPrefix}${String(rng.int(o.keys)).padStart(width, '0')}`);
    const value = rng.next() < DEFAULT_WRITE_LOAD.deleteFraction ? null : Buffer.from(loadValue(region, n, o.valueBytes));
    versions.push({ key, value, ts: { wall: start + BigInt(n) * stepNs, logical: 0 }, origin: o.origin });
  }
  return encodeDelta(versions).length / count;
}


/** "0,1000, 2500" → [0, 1000, 2500]; USAGE on anything but non-negative numbers. */
export function parseRates(text: string): number[] {
  const rates = text.split(',').map((s) => s.trim()).filter((s) => s !== '').map(Number);
  if (rates.length === 0 || rates.some((r) => !Number.isFinite(r) || r < 0)) throw new AetherError('USAGE', `--rates must be a comma-separated list of writes/s ≥ 0, got ${JSON.stringify(text)}`);
  return rates;
}
