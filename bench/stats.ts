/**
 * Quantiles of Prometheus histograms (cumulative buckets) read from the processes'
 * /metrics, as PromQL's histogram_quantile computes them, so a figure matches what a
 * dashboard shows. Percentiles of raw samples are common/latency-histogram.ts's.
 */

/** One cumulative bucket of a Prometheus histogram: `count` observations ≤ `le` (le may be Infinity). */
export interface Bucket {
  readonly le: number;
  readonly count: number;
}

/** Observations in a histogram: the +Inf bucket's count (0 when there are no buckets). */
export function histogramCount(buckets: readonly Bucket[]): number {
  return buckets.length === 0 ? 0 : buckets[buckets.length - 1]!.count;
}

/**
 * The q-quantile (0 ≤ q ≤ 1) of a cumulative histogram, interpolated linearly inside the
 * bucket it falls in (the lowest bucket from 0), like PromQL's histogram_quantile: NaN
 * with no observations; the highest finite bound when it falls in the +Inf bucket.
 * `buckets` ascending by `le`, the last one +Inf.
 */
export function histogramQuantile(buckets: readonly Bucket[], q: number): number {
  const total = histogramCount(buckets);
  if (!(total > 0) || !(q >= 0 && q <= 1)) return Number.NaN;
  const rank = q * total;
  let prevLe = 0;
  let prevCount = 0;
  for (const b of buckets) {
    if (b.count >= rank && b.count > prevCount) {
      if (!Number.isFinite(b.le)) return prevLe;
      return prevLe + ((b.le - prevLe) * (rank - prevCount)) / (b.count - prevCount);
    }
    if (Number.isFinite(b.le)) prevLe = b.le;
    prevCount = b.count;
  }
  return prevLe;
}

/**
 * The share of observations ≤ x. Exact when x is a bucket bound (the goals sit on bounds);
 * otherwise interpolated linearly inside its bucket. NaN with no observations.
 */
export function fractionAtMost(buckets: readonly Bucket[], x: number): number {
  const total = histogramCount(buckets);
  if (!(total > 0)) return Number.NaN;
  let prevLe = 0;
  let prevCount = 0;
  for (const b of buckets) {
    if (b.le === x) return b.count / total;
    if (b.le > x) {
      if (!Number.isFinite(b.le)) return prevCount / total;
      return (prevCount + ((b.count - prevCount) * (x - prevLe)) / (b.le - prevLe)) / total;
    }
    prevLe = b.le;
    prevCount = b.count;
  }
  return 1;
}

/** after − before, bucket by bucket (the same bounds; a bound missing before counts 0 there). */
export function subtractBuckets(after: readonly Bucket[], before: readonly Bucket[]): Bucket[] {
  const was = new Map(before.map((b) => [b.le, b.count]));
  return after.map((b) => ({ le: b.le, count: Math.max(0, b.count - (was.get(b.le) ?? 0)) }));
}

/** x rounded to `digits` decimals; NaN stays NaN. */
export function roundTo(x: number, digits = 1): number {
  if (!Number.isFinite(x)) return Number.NaN;
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}
