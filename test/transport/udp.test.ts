import test from 'ava';
import { Registry } from 'prom-client';
import { Endpoint, type QuantumMessage } from '../../transport/endpoint.js';
import { QuantumMetrics } from '../../transport/metrics.js';

test('two endpoints on real UDP loopback exchange messages both ways, authenticated, and close cleanly', async (t) => {
  const key = Buffer.from('loopback test key');
  const metricsA = new QuantumMetrics(new Registry());
  const a = await Endpoint.bind('127.0.0.1:0', { key, metrics: metricsA });
  const b = await Endpoint.bind('127.0.0.1:0', { key, metrics: new QuantumMetrics(new Registry()) });
  try {
    const atA: QuantumMessage[] = [];
    const atB: QuantumMessage[] = [];
    a.onMessage((m) => void atA.push(m));
    b.onMessage((m) => void atB.push(m));
    const big = Buffer.alloc(2 * 1024 * 1024);
    for (let i = 0; i < big.length; i += 4) big.writeUInt32LE(i, i);
    const small = Array.from({ length: 50 }, (_, i) => Buffer.from(`message ${i}`));
    await Promise.all([...small.map((m) => a.send(b.address, m, { streamId: 1 })), a.send(b.address, big, { streamId: 2 }), b.send(a.address, Buffer.from('reply'))]);
    t.deepEqual(
      atB.filter((m) => m.streamId === 1).map((m) => m.data.toString()),
      small.map((m) => m.toString()),
    );
    t.true(atB.find((m) => m.streamId === 2)!.data.equals(big));
    t.is(atA.length, 1);
    t.is(atA[0]!.data.toString(), 'reply');
    t.is(atA[0]!.peer, b.address);
    const text = await (metricsA.packets as unknown as { get(): Promise<{ values: { value: number }[] } > }).get();
    t.true(text.values.some((v) => v.value > 0));
  } finally {
    await Promise.all([a.close(), b.close()]);
  }
  t.is(a.connectionCount, 0);
});
