/**
 * One side of `aetherflow bench quantum`, run inside a network namespace by the bench
 * (`ip netns exec NS node dist/bench/quantum-peer.js '<json args>'`). It carries the
 * same workload over TCP (node:net, TCP_NODELAY) or Quantum and reports on stdout, one
 * JSON object per line: {"event":"ready"} once listening, {"event":"start"} when the
 * client starts sending, {"event":"result",…} at the end.
 *
 * Workloads: `latency` sends `count` messages of `messageBytes`, one every
 * `intervalMs`, each stamped with the sender's CLOCK_MONOTONIC (shared by all
 * namespaces of the host, so the receiver measures one-way latency) after `warmupCount`
 * unmeasured ones; `bulk` sends
 * `totalBytes` in messages of `chunkBytes`, at most `window` outstanding.
 */
import net from 'node:net';
import { LatencyHistogram } from '../common/latency-histogram.js';
import { QuantumBenchChannel } from './quantum-channel.js';

/** Quantum runs secure (authenticated, encrypted) as deployments do by default, or plaintext to measure what that costs. */
export type BenchProtocol = 'tcp' | 'quantum' | 'quantum-plaintext';

/** The secure Quantum peers' certificates (PEM) and pre-shared key, made by the bench for the run. */
export interface BenchSecurity {
  readonly caPem: string;
  readonly pskHex: string;
  readonly server: { readonly certPem: string; readonly keyPem: string };
  readonly client: { readonly certPem: string; readonly keyPem: string };
}

export interface PeerArgs {
  readonly role: 'server' | 'client';
  readonly proto: BenchProtocol;
  /** Set for proto `quantum`. */
  readonly security?: BenchSecurity;
  readonly workload: 'latency' | 'bulk';
  readonly host: string;
  readonly port: number;
  readonly count: number;
  /** the first messages of the latency run are not measured: process and JIT warm-up, connection start */
  readonly warmupCount: number;
  readonly messageBytes: number;
  readonly intervalMs: number;
  readonly totalBytes: number;
  readonly chunkBytes: number;
  readonly window: number;
  /** the peer gives up and reports what it has after this long */
  readonly deadlineMs: number;
}

/** A message channel: both protocols look the same to the workloads. */
export interface BenchChannel {
  /** Resolves when the transport accepted (TCP) or the peer acknowledged (Quantum) the message. */
  send(message: Buffer): Promise<void>;
  close(): Promise<void>;
  /** Transport counters for the report (Quantum: packets, bytes, parity, recoveries). */
  stats(): Promise<Record<string, number>>;
}

export interface BenchServer {
  /** Resolves once a peer connected; messages arrive through onMessage. */
  readonly closed: Promise<void>;
  close(): Promise<void>;
  stats(): Promise<Record<string, number>>;
}

const FRAME_LENGTH_BYTES = 4;
const MAX_FRAME_BYTES = 64 * 1024 * 1024;
/** seq u32 + send time u64 (ns) */
const STAMP_BYTES = 12;

function emit(event: Record<string, unknown>): void {
  process.stdout.write(JSON.stringify(event, (_k, v) => (typeof v === 'bigint' ? v.toString() : v)) + '\n');
}

/** Length-prefixed framing over a TCP stream; frames larger than the bound end the connection. */
function tcpFrames(socket: net.Socket, onMessage: (m: Buffer) => void): void {
  let pending: Buffer[] = [];
  let pendingBytes = 0;
  let need = -1;
  socket.on('data', (chunk: Buffer) => {
    pending.push(chunk);
    pendingBytes += chunk.length;
    for (;;) {
      if (need < 0) {
        if (pendingBytes < FRAME_LENGTH_BYTES) return;
        const head = Buffer.concat(pending);
        need = head.readUInt32BE(0);
        if (need > MAX_FRAME_BYTES) {
          socket.destroy();
          return;
        }
        pending = [head.subarray(FRAME_LENGTH_BYTES)];
        pendingBytes -= FRAME_LENGTH_BYTES;
      }
      if (pendingBytes < need) return;
      const all = Buffer.concat(pending);
      onMessage(all.subarray(0, need));
      pending = [all.subarray(need)];
      pendingBytes -= need;
      need = -1;
    }
  });
}

function tcpServer(args: PeerArgs, onMessage: (m: Buffer) => void): Promise<BenchServer> {
  return new Promise((resolve, reject) => {
    let resolveClosed: () => void;
    const closed = new Promise<void>((r) => (resolveClosed = r));
    const sockets = new Set<net.Socket>();
    const server = net.createServer((socket) => {
      socket.setNoDelay(true);
      sockets.add(socket);
      tcpFrames(socket, onMessage);
      socket.on('error', () => socket.destroy());
      socket.on('close', () => {
        sockets.delete(socket);
        resolveClosed();
      });
    });
    server.on('error', reject);
    server.listen(args.port, args.host, () =>
      resolve({
        closed,
        close: async () => {
          for (const s of sockets) s.destroy();
          await new Promise<void>((r) => server.close(() => r()));
        },
        stats: () => Promise.resolve({}),
      }),
    );
  });
}

function tcpClient(args: PeerArgs): Promise<BenchChannel> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: args.host, port: args.port, noDelay: true }, () => {
      socket.off('error', reject);
      socket.on('error', () => socket.destroy());
      resolve({
        send: (message) =>
          new Promise<void>((res, rej) => {
            const head = Buffer.allocUnsafe(FRAME_LENGTH_BYTES);
            head.writeUInt32BE(message.length, 0);
            socket.write(head);
            socket.write(message, (err) => (err ? rej(err) : res()));
          }),
        close: () => new Promise<void>((r) => socket.end(() => r())),
        stats: () => Promise.resolve({}),
      });
    });
    socket.setNoDelay(true);
    socket.once('error', reject);
  });
}

async function runServer(args: PeerArgs): Promise<void> {
  const latenciesMs = new Float64Array(args.count).fill(Number.POSITIVE_INFINITY);
  let received = 0;
  let receivedBytes = 0;
  let lastNs = 0n;
  let finish: () => void;
  const finished = new Promise<void>((r) => (finish = r));
  const onMessage = (m: Buffer) => {
    const now = process.hrtime.bigint();
    if (args.workload === 'latency') {
      if (m.length < STAMP_BYTES) return;
      const seq = m.readUInt32BE(0);
      if (seq >= args.count || latenciesMs[seq] !== Number.POSITIVE_INFINITY) return;
      latenciesMs[seq] = Number(now - m.readBigUInt64BE(4)) / 1e6;
      if (++received === args.count) finish();
    } else {
      receivedBytes += m.length;
      lastNs = now;
      if (receivedBytes >= args.totalBytes) finish();
    }
  };
  const server = args.proto === 'tcp' ? await tcpServer(args, onMessage) : await QuantumBenchChannel.listen(args, onMessage);
  const report = async () => {
    const stats = await server.stats();
    if (args.workload === 'latency') {
      // A message that never arrived is an infinite sample: it ranks above every other.
      const samples = Array.from(latenciesMs.subarray(args.warmupCount));
      const latency = LatencyHistogram.of(samples);
      const maxMs = samples.length > 0 ? samples.reduce((a, b) => Math.max(a, b)) : undefined;
      emit({ event: 'result', received: samples.filter(Number.isFinite).length, p50Ms: latency.percentile(50), p99Ms: latency.percentile(99), maxMs, stats });
    } else {
      emit({ event: 'result', receivedBytes, lastNs, complete: receivedBytes >= args.totalBytes, stats });
    }
  };
  let reported: Promise<void> | undefined;
  const reportOnce = () => (reported ??= report());
  // The bench stops a peer that overran its deadline with SIGTERM: report what arrived.
  process.once('SIGTERM', () => {
    void reportOnce().then(() => process.exit(0));
  });
  emit({ event: 'ready' });
  const deadline = setTimeout(finish!, args.deadlineMs);
  await finished;
  clearTimeout(deadline);
  // Let the last acknowledgements reach the client before reporting and closing.
  await Promise.race([server.closed, new Promise((r) => setTimeout(r, 1000))]);
  await reportOnce();
  await server.close();
}

async function runClient(args: PeerArgs): Promise<void> {
  const channel = args.proto === 'tcp' ? await tcpClient(args) : await QuantumBenchChannel.connect(args);
  let failures = 0;
  const startNs = process.hrtime.bigint();
  emit({ event: 'start', startNs });
  if (args.workload === 'latency') {
    const sends: Promise<void>[] = [];
    let next = 0;
    await new Promise<void>((done) => {
      const pump = () => {
        const dueCount = Math.min(args.count, Math.floor(Number(process.hrtime.bigint() - startNs) / 1e6 / args.intervalMs) + 1);
        while (next < dueCount) {
          const m = Buffer.alloc(args.messageBytes);
          m.writeUInt32BE(next, 0);
          m.writeBigUInt64BE(process.hrtime.bigint(), 4);
          sends.push(channel.send(m).catch(() => void failures++));
          next++;
        }
        if (next < args.count) setTimeout(pump, args.intervalMs);
        else done();
      };
      pump();
    });
    await Promise.race([Promise.all(sends), new Promise((r) => setTimeout(r, args.deadlineMs))]);
  } else {
    let offset = 0;
    const inFlight = new Set<Promise<void>>();
    const deadlineNs = startNs + BigInt(args.deadlineMs) * 1_000_000n;
    while (offset < args.totalBytes && process.hrtime.bigint() < deadlineNs) {
      const bytes = Math.min(args.chunkBytes, args.totalBytes - offset);
      const p: Promise<void> = channel.send(Buffer.alloc(bytes, offset & 0xff)).then(
        () => void inFlight.delete(p),
        () => {
          failures++;
          inFlight.delete(p);
        },
      );
      inFlight.add(p);
      offset += bytes;
      if (inFlight.size >= args.window) await Promise.race(inFlight);
    }
    await Promise.race([Promise.all(inFlight), new Promise((r) => setTimeout(r, Math.max(0, Number(deadlineNs - process.hrtime.bigint()) / 1e6)))]);
  }
  emit({ event: 'result', failures, endNs: process.hrtime.bigint(), stats: await channel.stats() });
  await Promise.race([channel.close(), new Promise((r) => setTimeout(r, 2000))]);
}

async function main(): Promise<void> {
  const args = JSON.parse(process.argv[2] ?? '{}') as PeerArgs;
  if (args.role === 'server') await runServer(args);
  else await runClient(args);
  process.exit(0);
}

main().catch((err: unknown) => {
  emit({ event: 'error', message: err instanceof Error ? err.message : String(err) });
  process.exit(1);
});
