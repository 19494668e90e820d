import test from 'ava';
import { AssertionFailure } from '../../common/errors.js';
import { LatencyHistogram, percentile } from '../../common/latency-histogram.js';

// Figures are the top of the sample's HdrHistogram bucket: at most 0.1% above the sample.
const close = (got: number, sample: number) => got >= sample && got <= sample * 1.001;

test('a percentile is the nearest-rank sample, to 3 significant digits and never below it', (t) => {
  const xs = Array.from({ length: 200 }, (_, i) => 200 - i);
  t.is(percentile(xs, 50), 100.007935);
  t.is(percentile(xs, 99), 198.049791);
  t.is(percentile(xs, 100), 200.015871);
  t.is(percentile(xs, 0), 1.000447);
  for (const [p, rank] of [[50, 100], [90, 180], [99.5, 199], [1, 2]] as const) t.true(close(percentile(xs, p), rank), `p${p}`);
  t.is(percentile([7], 99), 7.000063);
});

test('below 2.048 µs a sample is kept to the nanosecond', (t) => {
  t.is(percentile([0.0015, 0.002], 50), 0.0015);
  t.is(percentile([0.0015, 0.002], 100), 0.002);
});

test('no samples: NaN; a negative sample or a percentile outside [0, 100] is refused', (t) => {
  t.true(Number.isNaN(percentile([], 50)));
  t.throws(() => new LatencyHistogram().record(-1), { instanceOf: AssertionFailure });
  t.throws(() => percentile([1], 101), { instanceOf: AssertionFailure });
});

test('infinite samples (never arrived) rank above every finite one', (t) => {
  const h = LatencyHistogram.of([0.5, 1.25, 2.5, Number.POSITIVE_INFINITY]);
  t.is(h.count, 4);
  t.true(close(h.percentile(75), 2.5));
  t.is(h.percentile(76), Number.POSITIVE_INFINITY);
});
