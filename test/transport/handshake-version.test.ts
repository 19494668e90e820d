import test from 'ava';
import { pino } from 'pino';
import { Writable } from 'node:stream';
import { Registry } from 'prom-client';
import { AetherError } from '../../common/errors.js';
import { PROTOCOL_VERSION } from '../../proto/protocol.js';
import { Endpoint } from '../../transport/endpoint.js';
import { QuantumMetrics } from '../../transport/metrics.js';
import { decodePacket, encodePacket, Flag } from '../../transport/packet.js';
import { Random } from '../../common/random.js';
import { SimClock } from './sim-clock.js';
import { SimNetwork } from './sim-network.js';
import { A, B, run } from './sim.js';

// The Quantum handshake carries the application protocol version (docs/architecture.md
// "Versions on the wire"): endpoints of different versions refuse each other, both sides knowing why.

function capture(): { log: pino.Logger; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const l of chunk.toString().split('\n')) if (l) lines.push(JSON.parse(l) as Record<string, unknown>);
      done();
    },
  });
  return { log: pino({ level: 'debug' }, sink), lines };
}

async function protocolDrops(m: QuantumMetrics): Promise<number> {
  return (await m.drops.get()).values.filter((v) => v.labels['reason'] === 'protocol').reduce((s, v) => s + v.value, 0);
}

function settle(p: Promise<void>): { done: boolean; error: AetherError | undefined } {
  const o = { done: false, error: undefined as AetherError | undefined };
  p.then(
    () => (o.done = true),
    (e: unknown) => {
      o.done = true;
      o.error = e instanceof AetherError ? e : new AetherError('INTERNAL', String(e));
    },
  );
  return o;
}

test('a protocol 1 and a protocol 2 endpoint refuse each other: PROTOCOL_VERSION on the sender, counted and logged (both versions) on both sides', async (t) => {
  const clock = new SimClock(0);
  const net = new SimNetwork(clock);
  const random = new Random(3);
  const side = (address: string, protocolVersion: number) => {
    const metrics = new QuantumMetrics(new Registry());
    const logs = capture();
    const endpoint = new Endpoint({ socket: net.bind(address), scheduler: clock, random, metrics, log: logs.log, protocolVersion });
    const received: Buffer[] = [];
    endpoint.onMessage((m) => void received.push(m.data));
    return { endpoint, metrics, logs, received };
  };
  const v1 = side(A, 1);
  const v2 = side(B, 2);

  for (const [from, to, toAddress] of [[v1, v2, B], [v2, v1, A]] as const) {
    const s = settle(from.endpoint.send(toAddress, Buffer.from('hello')));
    t.true(await run(clock, () => s.done, 5000));
    t.is(s.error?.code, 'PROTOCOL_VERSION');
    t.deepEqual(s.error?.details, { ours: from === v1 ? 1 : 2, theirs: from === v1 ? 2 : 1 });
    t.deepEqual(to.received, []);
    await run(clock, () => from.endpoint.connectionCount === 0 && to.endpoint.connectionCount === 0, 1000);
    t.is(from.endpoint.connectionCount, 0);
    t.is(to.endpoint.connectionCount, 0);
  }
  // Each refused the other's handshake once.
  t.is(await protocolDrops(v1.metrics), 1);
  t.is(await protocolDrops(v2.metrics), 1);
  for (const [s, ours, theirs] of [[v1, 1, 2], [v2, 2, 1]] as const) {
    const refusals = s.logs.lines.filter((l) => l['msg'] === 'quantum peer refused: another protocol version');
    // Once refusing the peer's handshake, once refused by it.
    t.is(refusals.length, 2);
    t.is(refusals[0]!['level'], 40, 'the first is a warning');
    t.is(refusals[1]!['level'], 20, 'the next within the interval is debug');
    for (const l of refusals) t.like(l, { ours, theirs });
  }

  // Nothing is left broken: endpoints of one version still talk.
  const v2b = side('10.0.0.3:7000', 2);
  const ok = settle(v2b.endpoint.send(B, Buffer.from('same version')));
  t.true(await run(clock, () => ok.done, 5000));
  t.is(ok.error, undefined);
  t.deepEqual(v2.received.map(String), ['same version']);
});

test("a protocol 1 build's handshake (no version field) is refused with an RST that says which version this endpoint speaks", async (t) => {
  const clock = new SimClock(0);
  const net = new SimNetwork(clock);
  const metrics = new QuantumMetrics(new Registry());
  const endpoint = new Endpoint({ socket: net.bind(B), scheduler: clock, random: new Random(4), metrics });
  const old = net.bind(A);
  const replies: Buffer[] = [];
  old.onDatagram((d) => void replies.push(d));
  const guuid = Buffer.alloc(16, 9);
  old.send(encodePacket({ flags: Flag.SYN, guuid, sequence: 0, ack: 0, sack: [], payload: Buffer.alloc(8, 1) }), B);
  await run(clock, () => replies.length > 0, 1000);
  const rst = replies.map((d) => decodePacket(d)).find((d) => d.ok && (d.packet.flags & Flag.RST) !== 0);
  t.truthy(rst);
  if (rst?.ok) {
    t.true(rst.packet.guuid.equals(guuid));
    t.is(rst.packet.payload.readUInt32BE(0), PROTOCOL_VERSION);
  }
  t.is(await protocolDrops(metrics), 1);
  await run(clock, () => endpoint.connectionCount === 0, 1000);
  t.is(endpoint.connectionCount, 0);
});
