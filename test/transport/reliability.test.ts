import test from 'ava';
import type { LinkConditions } from '../../transport/emulator.js';
import { Random } from '../../common/random.js';
import { A, B, run, seedFromEnv, simPair, type SimPair } from './sim.js';

/**
 * Over the seeded emulator and a simulated clock: every message arrives exactly once,
 * in order per stream, and each send resolves only once the peer has delivered it.
 * A failure names its seed; QUANTUM_SEED=<seed> replays it.
 */

interface Traffic {
  readonly count: number;
  readonly maxBytes: number;
  readonly streams: number;
}

/** Sends `count` messages each way, tagged (stream, index), and checks delivery. */
async function exchange(s: SimPair, seed: number, traffic: Traffic, during?: (s: SimPair) => void): Promise<string | undefined> {
  const random = new Random(seed ^ 0x5eed);
  const problems: string[] = [];
  let resolved = 0;
  const expected = traffic.count * 2;
  const nextIndex = [new Map<number, number>(), new Map<number, number>()];
  for (let i = 0; i < traffic.count; i++) {
    for (const [dir, from, to, inbox] of [
      [0, s.a, B, s.atB],
      [1, s.b, A, s.atA],
    ] as const) {
      const streamId = random.int(traffic.streams);
      const index = nextIndex[dir]!.get(streamId) ?? 0;
      nextIndex[dir]!.set(streamId, index + 1);
      const size = 8 + random.int(random.next() < 0.1 ? traffic.maxBytes : 2000);
      const data = random.bytes(size);
      data.writeUInt32BE(streamId, 0);
      data.writeUInt32BE(index, 4);
      from.send(to, data, { streamId }).then(
        () => {
          resolved++;
          if (!inbox.some((m) => m.data.equals(data))) problems.push(`send resolved before delivery (dir ${dir}, stream ${streamId}, index ${index})`);
        },
        (err: { code?: string }) => problems.push(`send failed: ${err.code}`),
      );
    }
  }
  during?.(s);
  const done = await run(s.clock, () => resolved === expected || problems.length > 0, 120_000);
  if (!done) problems.push(`only ${resolved}/${expected} sends resolved`);
  for (const [name, inbox, total] of [
    ['B', s.atB, traffic.count],
    ['A', s.atA, traffic.count],
  ] as const) {
    if (inbox.length !== total) problems.push(`${name} received ${inbox.length}, expected ${total}`);
    const seen = new Map<number, number>();
    for (const m of inbox) {
      const stream = m.data.readUInt32BE(0);
      const index = m.data.readUInt32BE(4);
      if (m.streamId !== stream) problems.push(`${name}: message on the wrong stream`);
      const want = seen.get(stream) ?? 0;
      if (index !== want) problems.push(`${name}: stream ${stream} got index ${index}, expected ${want}`);
      seen.set(stream, index + 1);
    }
  }
  return problems.length === 0 ? undefined : problems.slice(0, 5).join('; ');
}

const scenarios: { name: string; link: LinkConditions; traffic?: Traffic }[] = [
  { name: 'clean link', link: { delayMs: 20, jitterMs: 0, loss: 0 } },
  { name: '1% loss', link: { delayMs: 20, jitterMs: 2, loss: 0.01 } },
  { name: '5% loss', link: { delayMs: 20, jitterMs: 2, loss: 0.05 } },
  { name: '10% loss', link: { delayMs: 15, jitterMs: 3, loss: 0.1 } },
  { name: '20% loss', link: { delayMs: 10, jitterMs: 3, loss: 0.2 } },
  { name: 'bursty loss (Gilbert–Elliott)', link: { delayMs: 20, jitterMs: 1, loss: 0.005, burst: { goodToBad: 0.02, badToGood: 0.3, lossInBad: 0.7 } } },
  { name: 'reordering', link: { delayMs: 10, jitterMs: 8, loss: 0.01, reorder: 0.2, reorderDelayMs: 15 } },
  { name: 'duplication', link: { delayMs: 10, jitterMs: 1, loss: 0.02, duplicate: 0.2 } },
  { name: 'bottleneck with a small queue', link: { delayMs: 10, jitterMs: 0, loss: 0, rateBytesPerSec: 2_000_000, queueBytes: 30_000 } },
];

for (const sc of scenarios) {
  test(`exactly once, in order: ${sc.name}`, async (t) => {
    const seed = seedFromEnv(0xabc0 + scenarios.indexOf(sc));
    const s = simPair(seed, sc.link);
    const problem = await exchange(s, seed, sc.traffic ?? { count: 150, maxBytes: 60_000, streams: 3 });
    t.is(problem, undefined, `seed ${seed}`);
  });
}

test('a partition that heals: everything sent during it arrives afterwards', async (t) => {
  const seed = seedFromEnv(0xbeef);
  const s = simPair(seed, { delayMs: 20, jitterMs: 1, loss: 0.01 });
  const problem = await exchange(s, seed, { count: 80, maxBytes: 20_000, streams: 2 }, (sim) => {
    sim.a.link(B)!.setPartitioned(true);
    sim.b.link(A)!.setPartitioned(true);
    sim.clock.schedule(sim.clock.nowMs() + 3000, () => {
      sim.a.link(B)!.setPartitioned(false);
      sim.b.link(A)!.setPartitioned(false);
    });
  });
  t.is(problem, undefined, `seed ${seed}`);
});

test('messages of several MB, both ways, over a lossy link', async (t) => {
  const seed = seedFromEnv(0x3b);
  const s = simPair(seed, { delayMs: 15, jitterMs: 1, loss: 0.02 });
  const random = new Random(seed);
  const big = [random.bytes(6 * 1024 * 1024), random.bytes(3 * 1024 * 1024 + 17)];
  let resolved = 0;
  void s.a.send(B, big[0]!).then(() => resolved++);
  void s.b.send(A, big[1]!).then(() => resolved++);
  t.true(await run(s.clock, () => resolved === 2, 600_000), `seed ${seed}`);
  t.is(s.atB.length, 1);
  t.true(s.atB[0]!.data.equals(big[0]!), `seed ${seed}`);
  t.true(s.atA[0]!.data.equals(big[1]!), `seed ${seed}`);
});

test('a blackout under steady load: what was sent into it drains within two seconds of the heal, both ways', async (t) => {
  // The cut spans the end of BBR's 10 s min-RTT window, so the first ack after the heal
  // puts the sender in PROBE_RTT (cwnd 4 packets) while the packets lost in the cut still
  // count as in flight: nothing new fits the window until they are declared lost.
  const seed = seedFromEnv(0xb1ac);
  const s = simPair(seed, { delayMs: 1, jitterMs: 0, loss: 0 });
  const pending = [new Set<number>(), new Set<number>()];
  let sentIntoCut: Set<number>[] = [];
  const failures: string[] = [];
  let next = 0;
  let loading = true;
  const load = (): void => {
    if (!loading) return;
    for (const [dir, from, to] of [
      [0, s.a, B],
      [1, s.b, A],
    ] as const) {
      // Ships on a stream of their own, control messages on stream 0, as kernel/peer-transport.ts sends them.
      for (const [streamId, bytes] of [
        [1 + dir, 160],
        [0, 60],
      ] as const) {
        const id = next++;
        pending[dir]!.add(id);
        from.send(to, Buffer.alloc(bytes, id & 0xff), { streamId }).then(
          () => {
            pending[dir]!.delete(id);
            sentIntoCut[dir]?.delete(id);
          },
          (err: { code?: string }) => failures.push(`${err.code}`),
        );
      }
    }
    s.clock.schedule(s.clock.nowMs() + 4, load);
  };
  load();
  await run(s.clock, () => false, 9000);
  s.a.link(B)!.setPartitioned(true);
  s.b.link(A)!.setPartitioned(true);
  await run(s.clock, () => false, 3000);
  sentIntoCut = pending.map((p) => new Set(p));
  s.a.link(B)!.setPartitioned(false);
  s.b.link(A)!.setPartitioned(false);
  // The next probe leaves at most rtoMaxMs (1 s) after the heal; then a few round trips.
  const drained = await run(s.clock, () => sentIntoCut.every((p) => p.size === 0), 2000);
  t.true(drained, `2 s after the heal, ${sentIntoCut.map((p) => p.size).join(' and ')} sends from before it still pending (seed ${seed})`);
  loading = false;
  t.true(await run(s.clock, () => pending.every((p) => p.size === 0), 5000), `seed ${seed}`);
  t.deepEqual(failures, []);
});
