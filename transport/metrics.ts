import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { ConnectionObserver } from './connection.js';

/**
 * Quantum's Prometheus metrics, registered on the caller's Registry so several endpoints
 * in one process (or test) each have their own. Gauges are labelled by peer address:
 * one series per connection's peer, removed when the peer is forgotten.
 */
export class QuantumMetrics {
  readonly packets: Counter<'direction'>;
  readonly bytes: Counter<'direction'>;
  readonly rtt: Histogram;
  readonly cwnd: Gauge<'peer'>;
  readonly pacingRate: Gauge<'peer'>;
  readonly fecRecoveries: Counter;
  readonly fecParitySent: Counter;
  readonly retransmissions: Counter;
  readonly drops: Counter<'reason'>;
  readonly authFailures: Counter;
  readonly handshakeFailures: Counter<'reason'>;

  constructor(registry: Registry) {
    const registers = [registry];
    this.packets = new Counter({ name: 'quantum_packets_sent_total', help: 'Quantum datagrams, by direction (out: sent, in: received)', labelNames: ['direction'], registers });
    this.bytes = new Counter({ name: 'quantum_bytes_total', help: 'Quantum datagram bytes on the wire, by direction', labelNames: ['direction'], registers });
    this.rtt = new Histogram({
      name: 'quantum_rtt_seconds',
      help: 'Round-trip time samples',
      buckets: [0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1],
      registers,
    });
    this.cwnd = new Gauge({ name: 'quantum_cwnd_bytes', help: 'Congestion window (BBR), per peer', labelNames: ['peer'], registers });
    this.pacingRate = new Gauge({ name: 'quantum_pacing_rate_bytes', help: 'Pacing rate in bytes per second (BBR), per peer', labelNames: ['peer'], registers });
    this.fecRecoveries = new Counter({ name: 'quantum_fec_recoveries_total', help: 'Data packets rebuilt from FEC parity', registers });
    this.fecParitySent = new Counter({ name: 'quantum_fec_parity_sent_total', help: 'FEC parity packets sent', registers });
    this.retransmissions = new Counter({ name: 'quantum_retransmissions_total', help: 'Reliable packets sent again (loss or probe)', registers });
    this.drops = new Counter({ name: 'quantum_drops_total', help: 'Datagrams dropped on receipt, by reason', labelNames: ['reason'], registers });
    this.authFailures = new Counter({ name: 'quantum_auth_failures_total', help: 'Datagrams whose authentication tag did not verify', registers });
    this.handshakeFailures = new Counter({
      name: 'quantum_handshake_failures_total',
      help: 'Secure handshakes refused, by reason (malformed, bad_certificate, untrusted, expired, wrong_node, bad_signature)',
      labelNames: ['reason'],
      registers,
    });
  }

  /** The hooks a connection to `peer` reports through. */
  observer(peer: string): ConnectionObserver {
    // Children bound once: a labelled inc() per packet would hash the labels every time.
    const packets = { in: this.packets.labels('in'), out: this.packets.labels('out') };
    const bytes = { in: this.bytes.labels('in'), out: this.bytes.labels('out') };
    return {
      onPacket: (direction, n) => {
        packets[direction].inc();
        bytes[direction].inc(n);
      },
      onDrop: (reason) => this.drop(reason),
      onRttSample: (ms) => this.rtt.observe(ms / 1000),
      onRetransmit: () => this.retransmissions.inc(),
      onFecRecovered: () => this.fecRecoveries.inc(),
      onParitySent: () => this.fecParitySent.inc(),
      onHandshakeFailure: (reason) => this.handshakeFailures.inc({ reason }),
      onCongestion: (cwndBytes, pacingRate) => {
        this.cwnd.set({ peer }, cwndBytes);
        this.pacingRate.set({ peer }, pacingRate);
      },
    };
  }

  drop(reason: string): void {
    this.drops.inc({ reason });
    if (reason === 'bad_mac') this.authFailures.inc();
  }

  forgetPeer(peer: string): void {
    this.cwnd.remove({ peer });
    this.pacingRate.remove({ peer });
  }
}
