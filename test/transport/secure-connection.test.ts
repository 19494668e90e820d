import test from 'ava';
import { Registry } from 'prom-client';
import { AetherError } from '../../common/errors.js';
import type { KeyPairPem } from '../../security/certificates.js';
import { Endpoint, type EndpointOptions, type QuantumMessage } from '../../transport/endpoint.js';
import type { QuantumCredentials } from '../../transport/handshake.js';
import { QuantumMetrics } from '../../transport/metrics.js';
import { AEAD_TAG_BYTES } from '../../transport/packet-cipher.js';
import { ACK_SECTION_BYTES, decodePacket, Flag, hasFlag } from '../../transport/packet.js';
import { Random } from '../../common/random.js';
import { SimClock } from './sim-clock.js';
import { SimNetwork, type SimSocket } from './sim-network.js';
import { run } from './sim.js';
import { nodeCredentials, testCa } from './test-credentials.js';

// Secure endpoints over the simulated network: what an attacker on the path can record,
// replay, forge or cut short is dropped and counted, and never delivered.

const A = '10.0.0.1:7000';
const B = '10.0.0.2:7000';
const MALLORY = '10.0.0.66:7000';

let ca: KeyPairPem;
let nodeA: QuantumCredentials;
let nodeB: QuantumCredentials;
test.before(async () => {
  ca = await testCa();
  [nodeA, nodeB] = await Promise.all([nodeCredentials(ca, 'node-a'), nodeCredentials(ca, 'node-b')]);
});

interface Side {
  readonly endpoint: Endpoint;
  readonly metrics: QuantumMetrics;
  readonly got: QuantumMessage[];
  /** Every datagram this side sent, as sent. */
  readonly sent: Buffer[];
  /** The process dies: its socket goes away, nothing more is sent (no FIN, no RST). */
  crash(): Promise<void>;
}

function world(seed = 1) {
  const clock = new SimClock(1_000_000);
  const net = new SimNetwork(clock);
  const random = new Random(seed);
  const side = (address: string, options: Partial<EndpointOptions>): Side => {
    const socket: SimSocket = net.bind(address);
    const sent: Buffer[] = [];
    const send = socket.send.bind(socket);
    socket.send = (d: Buffer, to: string) => {
      sent.push(Buffer.from(d));
      send(d, to);
    };
    const metrics = new QuantumMetrics(new Registry());
    const endpoint = new Endpoint({ socket, scheduler: clock, random, metrics, ...options });
    const got: QuantumMessage[] = [];
    endpoint.onMessage((m) => void got.push(m));
    return { endpoint, metrics, got, sent, crash: () => socket.close() };
  };
  const mallory = net.bind(MALLORY);
  return { clock, net, side, mallory };
}

async function drops(m: QuantumMetrics): Promise<Record<string, number>> {
  return Object.fromEntries((await m.drops.get()).values.map((v) => [String(v.labels['reason']), v.value]));
}

async function handshakeFailures(m: QuantumMetrics): Promise<Record<string, number>> {
  return Object.fromEntries((await m.handshakeFailures.get()).values.map((v) => [String(v.labels['reason']), v.value]));
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

const flagsOf = (d: Buffer) => d[5]!;

test('two secure endpoints exchange messages both ways; each names the node id its sender proved', async (t) => {
  const w = world();
  const a = w.side(A, { credentials: nodeA, expectedNodeId: (p) => (p === B ? 'node-b' : undefined) });
  const b = w.side(B, { credentials: nodeB });
  const sent = settle(a.endpoint.send(B, Buffer.from('hello b')));
  t.true(await run(w.clock, () => sent.done && b.got.length === 1, 5_000));
  t.is(sent.error, undefined);
  const back = settle(b.endpoint.send(A, Buffer.from('hello a')));
  t.true(await run(w.clock, () => back.done && a.got.length === 1, 5_000));
  t.is(b.got[0]!.data.toString(), 'hello b');
  t.is(b.got[0]!.peerId, 'node-a');
  t.is(a.got[0]!.peerId, 'node-b');
  // Nothing readable on the wire: the payload is encrypted.
  t.false(a.sent.some((d) => d.includes(Buffer.from('hello b'))));
  t.deepEqual(await handshakeFailures(a.metrics), {});
});

test('a recorded session replayed to the responder later never establishes and delivers nothing; its AUTH and data are dropped and counted', async (t) => {
  const w = world(2);
  const a = w.side(A, { credentials: nodeA });
  const b = w.side(B, { credentials: nodeB });
  const sent = settle(a.endpoint.send(B, Buffer.from('transfer 100')));
  t.true(await run(w.clock, () => sent.done && b.got.length === 1, 5_000));
  await a.crash();
  await b.crash();

  // The same responder node, restarted at its address; Mallory replays everything A sent.
  const b2 = w.side(B, { credentials: nodeB });
  for (const d of a.sent) w.mallory.send(d, B);
  await run(w.clock, () => false, 1_000);
  t.deepEqual(b2.got, []);
  t.true(b2.endpoint.stats().every((c) => c.stats.state !== 'ESTABLISHED'));
  const dropped = await drops(b2.metrics);
  t.true((dropped['bad_mac'] ?? 0) >= 1, JSON.stringify(dropped)); // the recorded AUTH, sealed with the old handshake keys
  t.true((dropped['state'] ?? 0) >= 1, JSON.stringify(dropped)); // recorded data: no session keys for it
});

test('a forged response reaching the initiator before the genuine one is dropped, and the genuine one still completes the handshake', async (t) => {
  const w = world(4);
  const a = w.side(A, { credentials: nodeA });
  const socket = w.net.bind(B);
  const send = socket.send.bind(socket);
  let forged = false;
  socket.send = (d: Buffer, to: string) => {
    const decoded = decodePacket(d, AEAD_TAG_BYTES);
    if (!forged && decoded.ok && hasFlag(decoded.packet, Flag.SYN) && hasFlag(decoded.packet, Flag.ACK)) {
      forged = true;
      // Other clear handshake fields (the responder's instance id): the initiator derives other handshake keys from them.
      const copy = Buffer.from(d);
      copy[decoded.signedBytes - decoded.packet.payload.length + ACK_SECTION_BYTES]! ^= 1;
      w.mallory.send(copy, A);
    }
    send(d, to);
  };
  const b = new Endpoint({ socket, scheduler: w.clock, random: new Random(5), metrics: new QuantumMetrics(new Registry()), credentials: nodeB });
  const got: QuantumMessage[] = [];
  b.onMessage((m) => void got.push(m));
  const sent = settle(a.endpoint.send(B, Buffer.from('hello b')));
  t.true(await run(w.clock, () => sent.done && got.length === 1, 5_000));
  t.true(forged);
  t.is(sent.error, undefined);
  t.is((await drops(a.metrics))['bad_mac'], 1);
});

test('injected into a live connection, replayed, forged and truncated datagrams and a tokenless RST are dropped by reason; the connection stays up', async (t) => {
  const w = world(3);
  const a = w.side(A, { credentials: nodeA });
  const b = w.side(B, { credentials: nodeB });
  const first = settle(a.endpoint.send(B, Buffer.alloc(3000, 7)));
  t.true(await run(w.clock, () => first.done && b.got.length === 1, 5_000));
  const before = await drops(b.metrics);

  const data = a.sent.find((d) => hasFlag({ flags: flagsOf(d) }, Flag.DATA))!;
  const pureAck = b.sent.find((d) => flagsOf(d) === Flag.ACK)!;
  t.truthy(data);
  t.truthy(pureAck);
  // Replays: a data packet again (duplicate), and one of B's own acks reflected back at A (control replay).
  w.mallory.send(data, B);
  w.mallory.send(a.sent.find((d) => flagsOf(d) === Flag.ACK) ?? pureAck, A);
  // Forged: one ciphertext bit flipped; a header field changed (authenticated, not encrypted).
  const flipped = Buffer.from(data);
  flipped[flipped.length - 20]! ^= 1;
  w.mallory.send(flipped, B);
  const reheadered = Buffer.from(data);
  reheadered.writeUInt32BE(reheadered.readUInt32BE(22) + 1000, 22);
  w.mallory.send(reheadered, B);
  // Truncated: tag cut off, and cut inside the header.
  w.mallory.send(data.subarray(0, data.length - 5), B);
  w.mallory.send(data.subarray(0, 20), B);
  // An RST for the live GUUID without B's... A's reset token.
  const rst = Buffer.from(data.subarray(0, 33));
  rst[5] = Flag.RST;
  rst.writeUInt32BE(0, 22);
  rst.writeUInt32BE(0, 26);
  rst[30] = 0;
  rst.writeUInt16BE(0, 31);
  w.mallory.send(rst, B);
  await run(w.clock, () => false, 200);

  const after = await drops(b.metrics);
  const delta = (r: string) => (after[r] ?? 0) - (before[r] ?? 0);
  t.is(delta('duplicate'), 1);
  t.is(delta('bad_mac'), 2);
  t.is(delta('bad_length') + delta('short'), 2);
  t.is(delta('bad_reset'), 1);
  t.true(((await drops(a.metrics))['replay'] ?? 0) + ((await drops(a.metrics))['duplicate'] ?? 0) >= 1);
  t.is(b.got.length, 1);
  t.true(decodePacket(rst).ok);

  const second = settle(a.endpoint.send(B, Buffer.from('still here')));
  t.true(await run(w.clock, () => second.done && b.got.length === 2, 5_000));
  t.is(b.got[1]!.data.toString(), 'still here');
  t.true(b.endpoint.stats().some((c) => c.stats.state === 'ESTABLISHED'));
});

test('a peer whose certificate is not from the CA: PEER_AUTHENTICATION for the sender, counted by reason, nothing delivered', async (t) => {
  const w = world(4);
  const stranger = await nodeCredentials(await testCa('stranger ca'), 'node-b', { trust: ca });
  const a = w.side(A, { credentials: nodeA });
  const b = w.side(B, { credentials: stranger });
  const sent = settle(a.endpoint.send(B, Buffer.from('secret')));
  t.true(await run(w.clock, () => sent.done, 15_000));
  t.is(sent.error?.code, 'PEER_AUTHENTICATION');
  t.deepEqual(await handshakeFailures(a.metrics), { untrusted: 1 });
  t.deepEqual(b.got, []);
});

test('the initiator proving itself with an untrusted certificate is refused by the responder: nothing delivered, the initiator is reset', async (t) => {
  const w = world(5);
  const stranger = await nodeCredentials(await testCa('stranger ca'), 'node-a', { trust: ca });
  const a = w.side(A, { credentials: stranger });
  const b = w.side(B, { credentials: nodeB });
  const sent = settle(a.endpoint.send(B, Buffer.from('let me in')));
  t.true(await run(w.clock, () => sent.done, 15_000));
  t.is(sent.error?.code, 'CONNECTION_RESET');
  t.deepEqual(await handshakeFailures(b.metrics), { untrusted: 1 });
  t.deepEqual(b.got, []);
});

test('different pre-shared keys: the handshake never completes (the response does not open), and nothing is delivered', async (t) => {
  const w = world(6);
  const a = w.side(A, { credentials: { ...nodeA, psk: Buffer.alloc(32, 1) } });
  const b = w.side(B, { credentials: { ...nodeB, psk: Buffer.alloc(32, 2) } });
  const sent = settle(a.endpoint.send(B, Buffer.from('x')));
  t.true(await run(w.clock, () => sent.done, 20_000));
  t.is(sent.error?.code, 'TIMEOUT');
  t.true(((await drops(a.metrics))['bad_mac'] ?? 0) >= 1);
  t.deepEqual(b.got, []);
});

test('secure and insecure endpoints refuse each other, both ways, without delivering anything', async (t) => {
  const w = world(7);
  const secure = w.side(A, { credentials: nodeA });
  const insecure = w.side(B, {});
  const toInsecure = settle(secure.endpoint.send(B, Buffer.from('x')));
  const toSecure = settle(insecure.endpoint.send(A, Buffer.from('y')));
  t.true(await run(w.clock, () => toInsecure.done && toSecure.done, 15_000));
  t.is(toInsecure.error?.code, 'CONNECTION_RESET');
  t.is(toSecure.error?.code, 'CONNECTION_RESET');
  t.deepEqual(secure.got, []);
  t.deepEqual(insecure.got, []);
});

test('a restarted peer ends the stale connection at once with its stateless-reset token; the next send reconnects', async (t) => {
  const w = world(8);
  const a = w.side(A, { credentials: nodeA });
  const b = w.side(B, { credentials: nodeB });
  const first = settle(a.endpoint.send(B, Buffer.from('one')));
  t.true(await run(w.clock, () => first.done, 5_000));
  // B crashes, and comes back at the same address.
  await b.crash();
  const b2 = w.side(B, { credentials: nodeB });
  const lost = settle(a.endpoint.send(B, Buffer.from('two')));
  t.true(await run(w.clock, () => lost.done, 1_000), 'the stale connection ended within a second, not at the idle timeout');
  t.is(lost.error?.code, 'CONNECTION_RESET');
  const third = settle(a.endpoint.send(B, Buffer.from('three')));
  t.true(await run(w.clock, () => third.done && b2.got.length === 1, 5_000));
  t.is(b2.got[0]!.data.toString(), 'three');
});

test('renewed credentials serve the handshakes that follow; an established connection keeps what it proved', async (t) => {
  const w = world(9);
  const a = w.side(A, { credentials: nodeA });
  const b = w.side(B, { credentials: nodeB });
  const first = settle(a.endpoint.send(B, Buffer.from('one')));
  t.true(await run(w.clock, () => first.done && b.got.length === 1, 5_000));
  // A moves to a certificate of another CA that B does not trust.
  a.endpoint.setCredentials(await nodeCredentials(await testCa('next ca'), 'node-a', { trust: ca }));
  const same = settle(a.endpoint.send(B, Buffer.from('two')));
  t.true(await run(w.clock, () => same.done && b.got.length === 2, 5_000));
  t.is(same.error, undefined);
  // A new connection (B restarted) proves the new certificate, which B refuses.
  await b.crash();
  const b2 = w.side(B, { credentials: nodeB });
  const next = settle(a.endpoint.send(B, Buffer.from('three')).catch(() => a.endpoint.send(B, Buffer.from('three'))));
  t.true(await run(w.clock, () => next.done, 15_000));
  t.is(next.error?.code, 'CONNECTION_RESET');
  t.deepEqual(await handshakeFailures(b2.metrics), { untrusted: 1 });
  t.deepEqual(b2.got, []);
});
