/**
 * Quantum's side of the bench peers: an Endpoint on a real UDP socket, with its own
 * metrics registry so the peer can report what it put on the wire — secure (the node
 * certificates and pre-shared key the bench made) for proto `quantum`, plaintext for
 * `quantum-plaintext`.
 */
import { Registry } from 'prom-client';
import { AetherError } from '../common/errors.js';
import { quantumCredentials } from '../transport/credentials.js';
import { Endpoint, type EndpointOptions } from '../transport/endpoint.js';
import { QuantumMetrics } from '../transport/metrics.js';
import type { BenchChannel, BenchServer, PeerArgs } from './quantum-peer.js';

/** The node ids in the bench's certificates. */
export const BENCH_SERVER_ID = 'bench-server';
export const BENCH_CLIENT_ID = 'bench-client';

async function counterValue(metric: { get(): Promise<{ values: { value: number; labels: Record<string, unknown> }[] }> }, direction?: string): Promise<number> {
  const { values } = await metric.get();
  return values.filter((v) => direction === undefined || v.labels['direction'] === direction).reduce((a, v) => a + v.value, 0);
}

async function stats(metrics: QuantumMetrics): Promise<Record<string, number>> {
  return {
    bytesSent: await counterValue(metrics.bytes, 'out'),
    packetsSent: await counterValue(metrics.packets, 'out'),
    paritySent: await counterValue(metrics.fecParitySent),
    fecRecovered: await counterValue(metrics.fecRecoveries),
    retransmissions: await counterValue(metrics.retransmissions),
  };
}

function endpointOptions(args: PeerArgs, metrics: QuantumMetrics): Omit<EndpointOptions, 'socket'> {
  if (args.proto !== 'quantum') return { metrics };
  const s = args.security;
  if (s === undefined) throw new AetherError('USAGE', 'a secure Quantum bench peer needs its certificates');
  const nodeId = args.role === 'server' ? BENCH_SERVER_ID : BENCH_CLIENT_ID;
  const own = args.role === 'server' ? s.server : s.client;
  return {
    metrics,
    credentials: quantumCredentials(nodeId, { caPem: s.caPem, ...own }, Buffer.from(s.pskHex, 'hex')),
    expectedNodeId: () => BENCH_SERVER_ID,
  };
}

export const QuantumBenchChannel = {
  async listen(args: PeerArgs, onMessage: (m: Buffer) => void): Promise<BenchServer> {
    const metrics = new QuantumMetrics(new Registry());
    const endpoint = await Endpoint.bind(`${args.host}:${args.port}`, endpointOptions(args, metrics));
    endpoint.onMessage((m) => onMessage(m.data));
    return {
      // A Quantum server has no connection-close event the bench needs: the grace period covers the last acks.
      closed: new Promise<void>(() => {}),
      close: () => endpoint.close(),
      stats: () => stats(metrics),
    };
  },

  async connect(args: PeerArgs): Promise<BenchChannel> {
    const metrics = new QuantumMetrics(new Registry());
    const endpoint = await Endpoint.bind('0.0.0.0:0', endpointOptions(args, metrics));
    const peer = `${args.host}:${args.port}`;
    await endpoint.connect(peer);
    return {
      send: (message) => endpoint.send(peer, message),
      close: () => endpoint.close(),
      stats: () => stats(metrics),
    };
  },
};
