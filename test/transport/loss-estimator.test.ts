import test from 'ava';
import { LossEstimator } from '../../transport/loss-estimator.js';

/** Feeds `packets` sends with a deterministic loss pattern of the given rate. */
function measured(lossRate: number, packets = 5000): LossEstimator {
  const e = new LossEstimator({ windowPackets: 1000 });
  let owed = 0;
  for (let i = 0; i < packets; i++) {
    e.onSent(1);
    owed += lossRate;
    if (owed >= 1) {
      e.onLost(1);
      owed -= 1;
    }
  }
  return e;
}

test('a clean link needs no parity', (t) => {
  const e = measured(0);
  t.is(e.lossRate, 0);
  for (let k = 1; k <= 24; k++) t.is(e.parityFor(k), 0);
  t.is(new LossEstimator({ windowPackets: 100 }).parityFor(16), 0);
});

test('the loss rate follows the measured loss', (t) => {
  for (const rate of [0.01, 0.02, 0.05, 0.2]) {
    const e = measured(rate);
    t.true(Math.abs(e.lossRate - rate) <= rate * 0.2, `${rate}: ${e.lossRate}`);
  }
});

test('parity grows monotonically with loss and is capped at 6', (t) => {
  let previousRate = -1;
  let previousParity = -1;
  for (let permille = 0; permille <= 500; permille += 5) {
    const e = measured(permille / 1000);
    t.true(e.lossRate >= previousRate, `rate at ${permille}‰`);
    t.true(e.parityFor(16) >= previousParity, `parity at ${permille}‰`);
    previousRate = e.lossRate;
    previousParity = e.parityFor(16);
  }
  t.is(previousParity, 6);
  t.is(measured(0.001).parityFor(16), 0);
  t.is(measured(0.01).parityFor(16), 1);
  t.is(measured(0.05).parityFor(16), 2);
  t.true(measured(0.1).parityFor(16) >= 3);
});

test('old losses fade once the link is clean again', (t) => {
  const e = measured(0.05);
  for (let i = 0; i < 20_000; i++) e.onSent(1);
  t.true(e.lossRate < 0.001);
  t.is(e.parityFor(16), 0);
});
