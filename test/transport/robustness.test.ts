import test from 'ava';
import fc from 'fast-check';
import { Flag, encodePacket } from '../../transport/packet.js';
import { Random } from '../../common/random.js';
import type { SimSocket } from './sim-network.js';
import { A, B, run, seedFromEnv, simPair } from './sim.js';

async function counter(c: { get(): Promise<{ values: { value: number; labels: Record<string, string | number | undefined> }[] }> }, label?: [string, string]): Promise<number> {
  return (await c.get()).values.filter((v) => label === undefined || v.labels[label[0]] === label[1]).reduce((s, v) => s + v.value, 0);
}

/** Datagrams an attacker or a broken network might produce, derived from real ones seen on the wire. */
function hostile(seed: number, seen: Buffer[], count: number, guuid: Buffer): Buffer[] {
  const random = new Random(seed);
  const crafted = fc.record({
    flags: fc.integer({ min: 0, max: 0x7f }),
    sequence: fc.nat({ max: 0xffffffff }),
    ack: fc.nat({ max: 50 }),
    payload: fc.uint8Array({ maxLength: 64 }).map((a) => Buffer.from(a)),
  });
  const out: Buffer[] = [];
  for (const c of fc.sample(crafted, { seed, numRuns: count / 4 })) {
    out.push(encodePacket({ ...c, guuid, sack: [], payload: c.payload }, 16));
  }
  while (out.length < count) {
    const kind = random.int(4);
    const base = seen[random.int(seen.length)]!;
    if (kind === 0) out.push(random.bytes(random.int(300)));
    else if (kind === 1) out.push(Buffer.from(base)); // verbatim replay
    else if (kind === 2) out.push(base.subarray(0, random.int(base.length)));
    else {
      const b = Buffer.from(base);
      for (let i = 1 + random.int(4); i > 0; i--) b[random.int(b.length)] = random.int(256);
      out.push(b);
    }
  }
  return out;
}

for (const keyed of [true, false]) {
  test(`the receive path survives random, mutated and replayed datagrams (${keyed ? 'with' : 'without'} a key)`, async (t) => {
    const seed = seedFromEnv(keyed ? 501 : 502);
    const seen: Buffer[] = [];
    const s = simPair(seed, { delayMs: 5, jitterMs: 1, loss: 0.02 }, {
      extra: keyed ? { key: Buffer.from('a pre-shared key for the tests') } : {},
      tap: (_from, d) => {
        if (seen.length < 2000) seen.push(Buffer.from(d));
        return [d];
      },
    });
    const random = new Random(seed);
    const sent = new Set<string>();
    let resolved = 0;
    let failed = 0;
    const total = 40;
    const sendAll = (): void => {
      for (let i = 0; i < total; i++) {
        const data = random.bytes(10 + random.int(5000));
        sent.add(data.toString('hex'));
        s.a.send(B, data).then(
          () => resolved++,
          () => failed++,
        );
      }
    };
    sendAll();
    // Let the handshake happen, then aim hostile traffic at both endpoints while data flows.
    await run(s.clock, () => seen.length > 4, 1000);
    const guuid = Buffer.from(s.a.stats()[0]!.guuid, 'hex');
    const socketOf = (e: typeof s.a): SimSocket => (e as unknown as { options: { socket: SimSocket } }).options.socket;
    let injected = 0;
    for (const d of hostile(seed, seen, 1500, guuid)) {
      const target = random.int(2) === 0 ? s.b : s.a;
      s.clock.schedule(s.clock.nowMs() + random.int(3000), () => {
        injected++;
        socketOf(target).receive(d, random.int(3) === 0 ? '10.6.6.6:1' : target === s.b ? A : B);
      });
    }
    await run(s.clock, () => resolved + failed === total && injected === 1500, 60_000);
    t.is(injected, 1500);
    t.is(await counter(s.metricsA.drops, ['reason', 'internal']), 0, `seed ${seed}`);
    t.is(await counter(s.metricsB.drops, ['reason', 'internal']), 0, `seed ${seed}`);
    if (keyed) {
      // Nothing forged or replayed is ever delivered, and the real traffic is intact.
      t.is(resolved, total, `seed ${seed}`);
      t.is(s.atB.length, total, `seed ${seed}`);
      t.true(s.atB.every((m) => sent.has(m.data.toString('hex'))), `seed ${seed}`);
      t.true((await counter(s.metricsB.authFailures)) > 0);
      t.is(s.atA.length, 0);
    }
  });
}

test('a packet with a bad MAC is never delivered', async (t) => {
  const s = simPair(77, { delayMs: 5, jitterMs: 0, loss: 0 }, {
    extra: { key: Buffer.from('k1') },
    tap: (from, d) => {
      if (from !== 'A') return [d];
      // Every DATA packet is first sent with its payload altered (tag left as it was), then the original.
      const isData = (d[5]! & Flag.DATA) !== 0;
      if (!isData) return [d];
      const forged = Buffer.from(d);
      forged[forged.length - 20]! ^= 0xff;
      return [forged, d];
    },
  });
  const messages = [Buffer.from('first message'), new Random(5).bytes(20_000)];
  let resolved = 0;
  for (const m of messages) void s.a.send(B, m).then(() => resolved++);
  t.true(await run(s.clock, () => resolved === 2, 10_000));
  t.deepEqual(
    s.atB.map((m) => m.data.toString('hex')),
    messages.map((m) => m.toString('hex')),
  );
  t.true((await counter(s.metricsB.authFailures)) >= 2);
});

test('endpoints with different keys never talk', async (t) => {
  const s = simPair(78, { delayMs: 5, jitterMs: 0, loss: 0 }, { extra: { key: Buffer.from('k1'), tuning: { handshakeTimeoutMs: 2000 } }, extraB: { key: Buffer.from('k2') } });
  let error: { code?: string } | undefined;
  s.a.send(B, Buffer.from('x')).catch((e: { code?: string }) => (error = e));
  await run(s.clock, () => error !== undefined, 10_000);
  t.is(error?.code, 'TIMEOUT');
  t.is(s.atB.length, 0);
});
