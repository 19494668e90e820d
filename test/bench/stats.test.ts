import test from 'ava';
import { fractionAtMost, histogramCount, histogramQuantile, roundTo, subtractBuckets } from '../../bench/stats.js';

const buckets = [
  { le: 0.01, count: 50 },
  { le: 0.02, count: 90 },
  { le: 0.05, count: 100 },
  { le: Infinity, count: 100 },
];

test('histogram quantiles interpolate inside their bucket as histogram_quantile does', (t) => {
  t.is(histogramCount(buckets), 100);
  t.is(histogramQuantile(buckets, 0.5), 0.01);
  t.is(roundTo(histogramQuantile(buckets, 0.9), 6), 0.02);
  t.is(roundTo(histogramQuantile(buckets, 0.99), 6), 0.047);
  t.is(roundTo(histogramQuantile(buckets, 0.25), 6), 0.005);
  // In the +Inf bucket: the highest finite bound.
  t.is(histogramQuantile([{ le: 0.01, count: 1 }, { le: Infinity, count: 10 }], 0.99), 0.01);
  t.true(Number.isNaN(histogramQuantile([], 0.5)));
  t.true(Number.isNaN(histogramQuantile([{ le: Infinity, count: 0 }], 0.5)));
});

test('the share at or below a bucket bound is exact', (t) => {
  t.is(fractionAtMost(buckets, 0.02), 0.9);
  t.is(fractionAtMost(buckets, 0.05), 1);
  t.is(fractionAtMost(buckets, 0.015), 0.7);
  t.is(fractionAtMost(buckets, 10), 1);
});

test('a window is the difference of two scrapes, bucket by bucket', (t) => {
  const before = [{ le: 0.01, count: 10 }, { le: Infinity, count: 12 }];
  t.deepEqual(subtractBuckets(buckets, before), [
    { le: 0.01, count: 40 },
    { le: 0.02, count: 90 },
    { le: 0.05, count: 100 },
    { le: Infinity, count: 88 },
  ]);
});

test('roundTo keeps NaN', (t) => {
  t.is(roundTo(1.2345, 2), 1.23);
  t.true(Number.isNaN(roundTo(Number.NaN)));
});
