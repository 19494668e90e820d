import test from 'ava';
import { createSocket } from 'node:dgram';
import { Registry } from 'prom-client';
import { Endpoint, type QuantumMessage } from '../../transport/endpoint.js';
import { QuantumMetrics } from '../../transport/metrics.js';
import { Flag, hasFlag } from '../../transport/packet.js';
import { UdpSocket } from '../../transport/udp-socket.js';
import { nodeCredentials, testCa } from './test-credentials.js';

async function drops(m: QuantumMetrics): Promise<Record<string, number>> {
  return Object.fromEntries((await m.drops.get()).values.map((v) => [String(v.labels['reason']), v.value]));
}

test('two secure endpoints on real UDP exchange messages; spoofed, replayed and truncated datagrams from a raw socket are dropped and counted, the connection stays up', async (t) => {
  const ca = await testCa();
  const psk = Buffer.alloc(32, 9);
  const [credA, credB] = await Promise.all([nodeCredentials(ca, 'node-a', { psk }), nodeCredentials(ca, 'node-b', { psk })]);
  const socketA = await UdpSocket.bind('127.0.0.1:0');
  const fromA: Buffer[] = [];
  const send = socketA.send.bind(socketA);
  socketA.send = (d: Buffer, to: string) => {
    fromA.push(Buffer.from(d));
    send(d, to);
  };
  const metricsB = new QuantumMetrics(new Registry());
  const a = new Endpoint({ socket: socketA, credentials: credA, expectedNodeId: () => 'node-b' });
  const b = await Endpoint.bind('127.0.0.1:0', { credentials: credB, metrics: metricsB });
  const raw = createSocket('udp4');
  await new Promise<void>((resolve) => raw.bind(0, '127.0.0.1', resolve));
  t.teardown(async () => {
    raw.close();
    await Promise.all([a.close(), b.close()]);
  });
  const atB: QuantumMessage[] = [];
  b.onMessage((m) => void atB.push(m));

  await a.send(b.address, Buffer.alloc(5000, 1));
  t.is(atB.length, 1);
  t.is(atB[0]!.peerId, 'node-a');
  const before = await drops(metricsB);

  const [host, port] = [b.address.split(':')[0]!, Number(b.address.split(':')[1])];
  const inject = (d: Buffer) => new Promise<void>((resolve) => raw.send(d, port, host, () => resolve()));
  const data = fromA.find((d) => hasFlag({ flags: d[5]! }, Flag.DATA))!;
  const spoofed = Buffer.from(data);
  spoofed[spoofed.length - 30]! ^= 0x40;
  await inject(data); // replayed
  await inject(spoofed); // forged payload under the live connection's GUUID
  await inject(data.subarray(0, data.length - 1)); // truncated
  await new Promise((r) => setTimeout(r, 100));

  const after = await drops(metricsB);
  const delta = (r: string) => (after[r] ?? 0) - (before[r] ?? 0);
  // At least the replay: a loaded machine may add genuine retransmissions of its own.
  t.true(delta('duplicate') >= 1);
  t.is(delta('bad_mac'), 1);
  t.is(delta('bad_length'), 1);
  t.is(atB.length, 1);

  await a.send(b.address, Buffer.from('after the attack'));
  t.is(atB.length, 2);
  t.is(atB[1]!.data.toString(), 'after the attack');
});
