import test from 'ava';
import { createHash, randomBytes } from 'node:crypto';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { TcpDelayRelay, type RelayLink } from '../../bench/tcp-delay-relay.js';

const link = (delayMs: number, jitterMs = 0): RelayLink => ({ forward: { delayMs, jitterMs }, back: { delayMs, jitterMs } });

/** An echo server on a free loopback port. */
async function echoServer(): Promise<{ server: Server; port: number }> {
  const server = createServer({ allowHalfOpen: true }, (s) => s.pipe(s));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { server, port: (server.address() as { port: number }).port };
}

/** Sends `data` in `chunks` writes through the relay, half-closes, and returns what echoed back and when the first byte came. */
async function roundTrip(port: number, parts: readonly Buffer[]): Promise<{ echoed: Buffer; firstByteMs: number }> {
  const started = performance.now();
  const socket: Socket = connect({ host: '127.0.0.1', port, allowHalfOpen: true });
  const received: Buffer[] = [];
  let firstByteMs = -1;
  const done = new Promise<void>((resolve, reject) => {
    socket.on('data', (c: Buffer) => {
      if (firstByteMs < 0) firstByteMs = performance.now() - started;
      received.push(c);
    });
    socket.on('end', () => resolve());
    socket.on('error', reject);
  });
  for (const p of parts) socket.write(p);
  socket.end();
  await done;
  socket.destroy();
  return { echoed: Buffer.concat(received), firstByteMs };
}

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

test('delivers every byte in order both ways, each way after the one-way delay', async (t) => {
  const { server, port } = await echoServer();
  const relay = await TcpDelayRelay.start({ targetHost: '127.0.0.1', targetPort: port, defaultLink: link(40, 10), seed: 7 });
  try {
    const parts = Array.from({ length: 200 }, (_, i) => Buffer.from(`message ${i};`));
    const { echoed, firstByteMs } = await roundTrip(relay.port, parts);
    t.is(echoed.toString(), Buffer.concat(parts).toString());
    // There and back: two one-way delays of 40 ± 10 ms.
    t.true(firstByteMs >= 60, `first byte after ${firstByteMs} ms`);
  } finally {
    await relay.close();
    server.close();
  }
});

test('bounded buffers: megabytes through a 64 KiB buffer arrive intact', async (t) => {
  const { server, port } = await echoServer();
  const relay = await TcpDelayRelay.start({ targetHost: '127.0.0.1', targetPort: port, defaultLink: link(5, 2), maxBufferedBytes: 64 * 1024, seed: 3 });
  try {
    const data = randomBytes(3 * 1024 * 1024);
    const parts = Array.from({ length: 48 }, (_, i) => data.subarray(i * 65536, (i + 1) * 65536));
    const { echoed } = await roundTrip(relay.port, parts);
    t.is(echoed.length, data.length);
    t.is(sha(echoed), sha(data));
  } finally {
    await relay.close();
    server.close();
  }
});

test('linkOf picks each connection\'s delay from the first bytes the dialer sends', async (t) => {
  const { server, port } = await echoServer();
  const relay = await TcpDelayRelay.start({
    targetHost: '127.0.0.1',
    targetPort: port,
    defaultLink: link(0),
    linkOf: (head) => (head.length < 4 ? undefined : head.subarray(0, 4).toString() === 'SLOW' ? link(80) : link(0)),
  });
  try {
    const slow = await roundTrip(relay.port, [Buffer.from('SL'), Buffer.from('OW and more')]);
    t.is(slow.echoed.toString(), 'SLOW and more');
    t.true(slow.firstByteMs >= 160, `first byte after ${slow.firstByteMs} ms`);
    const fast = await roundTrip(relay.port, [Buffer.from('FAST')]);
    t.is(fast.echoed.toString(), 'FAST');
  } finally {
    await relay.close();
    server.close();
  }
});

test('a refused target closes the dialer\'s connection', async (t) => {
  const { server, port } = await echoServer();
  await new Promise<void>((r) => server.close(() => r()));
  const relay = await TcpDelayRelay.start({ targetHost: '127.0.0.1', targetPort: port, defaultLink: link(1) });
  try {
    const socket = connect({ host: '127.0.0.1', port: relay.port });
    await new Promise<void>((resolve) => socket.on('close', () => resolve()).on('error', () => {}));
    t.pass();
  } finally {
    await relay.close();
  }
});
