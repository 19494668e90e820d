import test from 'ava';
import { Random } from '../../common/random.js';
import { B, run, seedFromEnv, simPair, type SimPair } from './sim.js';

const MESSAGE_BYTES = 250_000;

/** Sends `total` random messages of MESSAGE_BYTES from A to B at once; returns when each completed, filled in as they do. */
function sendBulk(s: SimPair, seed: number, total: number): number[] {
  const random = new Random(seed);
  const doneAt: number[] = [];
  for (let i = 0; i < total; i++) void s.a.send(B, random.bytes(MESSAGE_BYTES)).then(() => void doneAt.push(s.clock.nowMs()));
  return doneAt;
}

/** BBR over the emulator's bottleneck, on simulated time: it leaves STARTUP and finds the rate. */
test('BBR leaves STARTUP and settles within ±25% of the bottleneck rate', async (t) => {
  const seed = seedFromEnv(21);
  const rate = 1_250_000; // 10 Mbit/s
  const s = simPair(seed, { delayMs: 20, jitterMs: 0, loss: 0, rateBytesPerSec: rate, queueBytes: 100_000 }, { extra: { fec: false }, linkBack: { delayMs: 20, jitterMs: 0, loss: 0 } });
  const total = 40;
  const doneAt = sendBulk(s, seed, total);
  const done = () => doneAt.length;
  const states = new Set<string>();
  const estimates: number[] = [];
  const sample = (): void => {
    const st = s.a.stats()[0]?.stats;
    if (st !== undefined) {
      states.add(st.congestionState ?? '?');
      if (done() >= total / 2) estimates.push(st.btlBwBytesPerSec ?? 0);
    }
    if (done() < total) s.clock.schedule(s.clock.nowMs() + 50, sample);
  };
  sample();
  t.true(await run(s.clock, () => done() === total, 120_000), `seed ${seed}`);
  t.true(states.has('PROBE_BW'), `states seen: ${[...states].join(',')} (seed ${seed})`);
  const mid = doneAt[total / 2 - 1]!;
  const goodput = ((total / 2) * MESSAGE_BYTES * 1000) / (doneAt[total - 1]! - mid);
  t.log(`goodput ${goodput.toFixed(0)} B/s, btlBw ${estimates.at(-1)?.toFixed(0)} B/s, bottleneck ${rate} B/s`);
  t.true(goodput >= 0.75 * rate && goodput <= 1.25 * rate, `goodput ${goodput} vs ${rate} (seed ${seed})`);
  for (const e of estimates) t.true(e >= 0.75 * rate && e <= 1.25 * rate, `btlBw ${e} vs ${rate} (seed ${seed})`);
});

/**
 * A loaded event loop runs every timer late. The pacer must not lose the sending time its
 * late wake-ups cost, or each wake-up sends one packet, the delivery rate falls to a
 * packet per wake-up, BBR's estimate follows it down, and a backlog crawls (seen: 20–300
 * KB/s between two leaders on one loaded machine).
 */
test('timers that fire late do not pull the rate down to a packet per wake-up', async (t) => {
  const seed = seedFromEnv(22);
  const rate = 10_000_000;
  const lateMs = 20;
  const s = simPair(seed, { delayMs: 0.2, jitterMs: 0, loss: 0, rateBytesPerSec: rate, queueBytes: 4_000_000 }, { extra: { fec: false }, lateTimersMsA: lateMs });
  const total = 40;
  const doneAt = sendBulk(s, seed, total);
  const done = () => doneAt.length;
  t.true(await run(s.clock, () => done() === total, 120_000), `seed ${seed}`);
  const mid = doneAt[total / 2 - 1]!;
  const goodput = ((total / 2) * MESSAGE_BYTES * 1000) / (doneAt[total - 1]! - mid);
  t.log(`goodput ${goodput.toFixed(0)} B/s with timers ${lateMs} ms late, bottleneck ${rate} B/s`);
  t.true(goodput >= 0.5 * rate, `goodput ${goodput} vs ${rate} (seed ${seed})`);
});
