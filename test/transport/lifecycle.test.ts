import test from 'ava';
import { Registry } from 'prom-client';
import { AetherError } from '../../common/errors.js';
import { Endpoint } from '../../transport/endpoint.js';
import { QuantumMetrics } from '../../transport/metrics.js';
import { Random } from '../../common/random.js';
import { SimClock } from './sim-clock.js';
import { SimNetwork } from './sim-network.js';
import { A, B, run, simPair } from './sim.js';

function outcome(p: Promise<void>): { settled: boolean; code: string | undefined } {
  const o = { settled: false, code: undefined as string | undefined };
  p.then(
    () => (o.settled = true),
    (e: unknown) => {
      o.settled = true;
      o.code = e instanceof AetherError ? e.code : 'not an AetherError';
    },
  );
  return o;
}

test('a restarted peer: in-flight sends reject CONNECTION_RESET, then a new connection works', async (t) => {
  const clock = new SimClock(0);
  const net = new SimNetwork(clock);
  const random = new Random(9);
  const a = new Endpoint({ socket: net.bind(A), scheduler: clock, random });
  let b = new Endpoint({ socket: net.bind(B), scheduler: clock, random });
  const atB: string[] = [];
  b.onMessage((m) => void atB.push(m.data.toString()));
  const first = outcome(a.send(B, Buffer.from('one')));
  t.true(await run(clock, () => first.settled, 5000));
  t.is(first.code, undefined);

  // B crashes (its socket goes away without a FIN) while A has a message in flight; B restarts on the same address.
  await (b as unknown as { options: { socket: { close(): Promise<void> } } }).options.socket.close();
  const lost = outcome(a.send(B, Buffer.from('two')));
  await run(clock, () => false, 50);
  b = new Endpoint({ socket: net.bind(B), scheduler: clock, random });
  b.onMessage((m) => void atB.push(m.data.toString()));
  t.true(await run(clock, () => lost.settled, 20_000));
  t.is(lost.code, 'CONNECTION_RESET');

  const third = outcome(a.send(B, Buffer.from('three')));
  t.true(await run(clock, () => third.settled, 5000));
  t.is(third.code, undefined);
  t.deepEqual(atB, ['one', 'three']);
  t.is(a.connectionCount, 1);
});

test('a restarted peer that connects first replaces the old connection', async (t) => {
  const clock = new SimClock(0);
  const net = new SimNetwork(clock);
  const random = new Random(10);
  const a = new Endpoint({ socket: net.bind(A), scheduler: clock, random });
  const atA: string[] = [];
  a.onMessage((m) => void atA.push(m.data.toString()));
  let b = new Endpoint({ socket: net.bind(B), scheduler: clock, random });
  const hello = outcome(b.send(A, Buffer.from('hello')));
  t.true(await run(clock, () => hello.settled, 5000));
  // A now holds a connection from B's first instance. B restarts and speaks first.
  await (b as unknown as { options: { socket: { close(): Promise<void> } } }).options.socket.close();
  b = new Endpoint({ socket: net.bind(B), scheduler: clock, random });
  const again = outcome(b.send(A, Buffer.from('again')));
  t.true(await run(clock, () => again.settled, 5000));
  t.is(again.code, undefined);
  t.deepEqual(atA, ['hello', 'again']);
  await run(clock, () => a.connectionCount === 1, 1000);
  t.is(a.connectionCount, 1);
});

test('graceful close: FIN after queued messages are acknowledged, both sides end clean', async (t) => {
  const s = simPair(30, { delayMs: 10, jitterMs: 0, loss: 0.05 });
  const sends = [1, 2, 3].map((i) => outcome(s.a.send(B, Buffer.alloc(5000, i))));
  let closed = false;
  void s.a.close().then(() => (closed = true));
  t.true(await run(s.clock, () => closed, 10_000));
  t.true(sends.every((o) => o.settled && o.code === undefined));
  t.is(s.atB.length, 3);
  await run(s.clock, () => s.b.connectionCount === 0, 1000);
  t.is(s.b.connectionCount, 0);
  const after = outcome(s.a.send(B, Buffer.from('late')));
  await run(s.clock, () => after.settled, 100);
  t.is(after.code, 'CONNECTION_CLOSED');
});

test('keepalive holds an idle connection open; a long partition times it out', async (t) => {
  const s = simPair(31, { delayMs: 10, jitterMs: 0, loss: 0 }, { extra: { tuning: { keepaliveMs: 500, idleTimeoutMs: 3000 } } });
  const first = outcome(s.a.send(B, Buffer.from('x')));
  await run(s.clock, () => first.settled, 1000);
  await run(s.clock, () => false, 20_000);
  t.is(s.a.connectionCount, 1);
  t.is(s.a.stats()[0]!.stats.state, 'ESTABLISHED');
  s.a.link(B)!.setPartitioned(true);
  s.b.link(A)!.setPartitioned(true);
  const stuck = outcome(s.a.send(B, Buffer.from('y')));
  t.true(await run(s.clock, () => stuck.settled, 10_000));
  t.is(stuck.code, 'TIMEOUT');
  t.is(s.a.connectionCount, 0);
});

test('a slow receiver is never flooded: buffered bytes stay within the receive window', async (t) => {
  const windowBytes = 2 * 1024 * 1024;
  const s = simPair(32, { delayMs: 5, jitterMs: 0, loss: 0 }, { extra: { limits: { windowBytes, maxMessageBytes: 1024 * 1024 } } });
  let maxBuffered = 0;
  let delivered = 0;
  s.b.onMessage(
    () =>
      new Promise<void>((resolve) => {
        delivered++;
        maxBuffered = Math.max(maxBuffered, s.b.stats()[0]!.stats.receiveBufferedCost);
        s.clock.schedule(s.clock.nowMs() + 200, resolve);
      }),
  );
  const random = new Random(4);
  const sends = Array.from({ length: 12 }, () => outcome(s.a.send(B, random.bytes(900_000))));
  t.true(await run(s.clock, () => sends.every((o) => o.settled), 60_000));
  t.true(sends.every((o) => o.code === undefined));
  t.is(delivered, 12);
  t.true(maxBuffered > 0 && maxBuffered <= windowBytes, `max buffered ${maxBuffered}`);
});

test('bounded sends: too large and beyond the send buffer fail with codes', async (t) => {
  const s = simPair(33, { delayMs: 5, jitterMs: 0, loss: 0 }, { extra: { limits: { windowBytes: 4_000_000, maxMessageBytes: 1_000_000, sendBufferBytes: 2_000_200 } } });
  const tooLarge = outcome(s.a.send(B, Buffer.alloc(1_000_001)));
  const fits = [outcome(s.a.send(B, Buffer.alloc(1_000_000))), outcome(s.a.send(B, Buffer.alloc(1_000_000)))];
  const overflow = outcome(s.a.send(B, Buffer.alloc(1_000_000)));
  await run(s.clock, () => fits.every((o) => o.settled), 10_000);
  t.is(tooLarge.code, 'MESSAGE_TOO_LARGE');
  t.is(overflow.code, 'BUFFER_FULL');
  t.true(fits.every((o) => o.code === undefined));
});

test('metrics register on the given registry; two endpoints in one process do not collide', async (t) => {
  const r1 = new Registry();
  const r2 = new Registry();
  new QuantumMetrics(r1);
  new QuantumMetrics(r2);
  const text = await r1.metrics();
  for (const name of ['quantum_packets_sent_total', 'quantum_rtt_seconds', 'quantum_cwnd_bytes', 'quantum_pacing_rate_bytes', 'quantum_fec_recoveries_total', 'quantum_fec_parity_sent_total', 'quantum_retransmissions_total', 'quantum_drops_total', 'quantum_auth_failures_total']) {
    t.true(text.includes(name), name);
  }
});
