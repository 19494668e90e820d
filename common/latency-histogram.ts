import { build, type Histogram } from 'hdr-histogram-js';
import { assert } from './errors.js';

/** Samples are recorded in whole nanoseconds: HdrHistogram counts integers. */
const NS_PER_MS = 1_000_000;

/**
 * Latency samples in milliseconds and their percentiles: the one percentile definition of
 * the project (benchmarks, drills, demo, `status`), on an HdrHistogram (hdr-histogram-js)
 * so a long run's samples take bounded memory.
 *
 * The p-th percentile is the ⌈p/100 · n⌉-th smallest of n samples (nearest rank; the
 * smallest for p = 0), as the histogram holds it: to the nanosecond below
 * 2.048 µs, to 3 significant digits above, and reported as the top of its bucket — so at
 * most 0.1% above the exact sample, never below. NaN with no samples. An infinite sample
 * (a message that never arrived) ranks above every finite one: a percentile that falls
 * among them is Infinity.
 */
export class LatencyHistogram {
  private readonly histogram: Histogram = build({ numberOfSignificantValueDigits: 3, useWebAssembly: false });
  private infinite = 0;

  static of(samplesMs: Iterable<number>): LatencyHistogram {
    const h = new LatencyHistogram();
    for (const ms of samplesMs) h.record(ms);
    return h;
  }

  record(ms: number): void {
    assert(ms >= 0, () => `a latency sample must be ≥ 0 ms, got ${ms}`);
    if (ms === Number.POSITIVE_INFINITY) this.infinite++;
    else this.histogram.recordValue(Math.round(ms * NS_PER_MS));
  }

  get count(): number {
    return this.histogram.totalCount + this.infinite;
  }

  percentile(p: number): number {
    assert(p >= 0 && p <= 100, () => `a percentile is in [0, 100], got ${p}`);
    const finite = this.histogram.totalCount;
    if (finite + this.infinite === 0) return Number.NaN;
    const rank = Math.max(1, Math.ceil((p / 100) * (finite + this.infinite)));
    if (rank > finite) return Number.POSITIVE_INFINITY;
    // The same rank among the finite samples alone (HdrHistogram takes a percentage).
    return this.histogram.getValueAtPercentile(Math.min(100, (rank / finite) * 100)) / NS_PER_MS;
  }
}

/** The p-th percentile (in [0, 100]) of latency samples in any order, as LatencyHistogram defines it. */
export function percentile(samplesMs: Iterable<number>, p: number): number {
  return LatencyHistogram.of(samplesMs).percentile(p);
}
