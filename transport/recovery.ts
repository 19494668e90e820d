import { assert } from '../common/errors.js';
import type { SackBlock } from './packet.js';

/**
 * One reliable packet awaiting acknowledgement. A retransmission reuses the sequence and
 * the exact wire bytes (so FEC groups and MACs stay valid) but gets a new transmission
 * number: loss detection orders by transmission, not by sequence, or a retransmitted
 * packet would look lost again at once.
 */
export interface SentPacket<M> {
  readonly seq: number;
  readonly wire: Buffer;
  readonly meta: M;
  txNumber: number;
  sentTimeMs: number;
  retransmitted: boolean;
  /** Last transmitted as a tail-loss probe: an ack of it shows the path delivers again (see onAck). */
  probe: boolean;
  /** Counted in bytesInFlight: sent, neither acknowledged nor declared lost. */
  inFlight: boolean;
  /** What the congestion controller remembers of the latest transmission. */
  rate: unknown;
}

export interface AckOutcome<M> {
  readonly acked: SentPacket<M>[];
  readonly lost: SentPacket<M>[];
  /** From the newest newly-acknowledged packet, when it was never retransmitted (Karn). */
  readonly rttSampleMs: number | undefined;
}

/**
 * Sender-side loss detection per RFC 9002 §6: a packet is lost when a packet sent at
 * least `packetThreshold` transmissions later is acknowledged, or when it is older than
 * the time threshold (9/8·max(srtt, latest RTT)) and something sent after it is
 * acknowledged. Bounded by the congestion window: the caller only sends what fits.
 */
export class SentPacketTracker<M> {
  /** Every unacknowledged packet by sequence (insertion order = sequence order). */
  private readonly bySeq = new Map<number, SentPacket<M>>();
  /** Packets in flight by transmission number (insertion order = transmission order). */
  private readonly byTx = new Map<number, SentPacket<M>>();
  private nextTx = 0;
  private largestAckedTx = -1;
  private inFlightBytes = 0;
  private lastSent: number | undefined;

  /** RFC 9002 kPacketThreshold, raised while FEC is on (see the connection). */
  packetThreshold = 3;

  get bytesInFlight(): number {
    return this.inFlightBytes;
  }
  get unackedCount(): number {
    return this.bySeq.size;
  }

  get(seq: number): SentPacket<M> | undefined {
    return this.bySeq.get(seq);
  }

  /** The lowest unacknowledged packet, which a tail-loss probe resends. */
  oldest(): SentPacket<M> | undefined {
    for (const p of this.bySeq.values()) return p;
    return undefined;
  }

  /** When a reliable packet was last sent (RFC 9002 time_of_last_ack_eliciting_packet): the probe timer runs from it. */
  get lastSentMs(): number | undefined {
    return this.lastSent;
  }

  onSent(seq: number, wire: Buffer, meta: M, nowMs: number, rate: unknown): SentPacket<M> {
    assert(!this.bySeq.has(seq), 'a sequence is sent once; retransmissions go through onRetransmitted');
    const p: SentPacket<M> = { seq, wire, meta, txNumber: this.nextTx++, sentTimeMs: nowMs, retransmitted: false, probe: false, inFlight: true, rate };
    this.bySeq.set(seq, p);
    this.byTx.set(p.txNumber, p);
    this.inFlightBytes += wire.length;
    this.lastSent = nowMs;
    return p;
  }

  /** `probe`: sent because nothing was acknowledged for a probe timeout. */
  onRetransmitted(p: SentPacket<M>, nowMs: number, rate: unknown, probe: boolean): void {
    assert(this.bySeq.get(p.seq) === p, 'retransmitting an unacknowledged packet');
    if (p.inFlight) this.byTx.delete(p.txNumber);
    else this.inFlightBytes += p.wire.length;
    p.txNumber = this.nextTx++;
    p.sentTimeMs = nowMs;
    p.retransmitted = true;
    p.probe = probe;
    p.inFlight = true;
    p.rate = rate;
    this.byTx.set(p.txNumber, p);
    this.lastSent = nowMs;
  }

  /**
   * Retransmission ambiguity (RFC 8985 §6.2): an ack for a retransmitted packet may
   * acknowledge any of its transmissions, often the first (the original was only late,
   * or FEC rebuilt it). Such acks never advance the largest acknowledged transmission,
   * or every packet sent since the first transmission would look lost at once. A
   * tail-loss probe is the exception: it leaves after a probe timeout without any ack, so
   * its ack means the path delivers again, as the ack of a QUIC probe (a new packet
   * number, RFC 9002 §6.2.4) does, and what was sent before it and is still unacknowledged
   * is lost by the usual thresholds. Otherwise, after a blackout, the window would stay
   * full of packets sent into it, each probe retiring just one of them, and nothing new
   * would be sent (for good once BBR's PROBE_RTT cut cwnd below them).
   */
  onAck(nowMs: number, cumulativeAck: number, sack: readonly SackBlock[], lossDelayMs: number): AckOutcome<M> {
    const acked: SentPacket<M>[] = [];
    for (const p of this.bySeq.values()) {
      if (p.seq >= cumulativeAck) break;
      acked.push(p);
    }
    for (const b of sack) {
      const span = b.end - b.start;
      if (span <= this.bySeq.size) {
        for (let s = b.start; s < b.end; s++) {
          const p = this.bySeq.get(s);
          if (p !== undefined) acked.push(p);
        }
      } else {
        for (const p of this.bySeq.values()) if (p.seq >= b.start && p.seq < b.end) acked.push(p);
      }
    }
    // The newest never retransmitted gives the RTT sample (Karn); the newest unambiguous ack advances loss detection.
    let sampled: SentPacket<M> | undefined;
    let newest: SentPacket<M> | undefined;
    let any = false;
    for (const p of acked) {
      if (!this.bySeq.delete(p.seq)) continue; // listed twice (overlapping blocks)
      any = true;
      this.forget(p);
      if (!p.retransmitted && (sampled === undefined || p.txNumber > sampled.txNumber)) sampled = p;
      if ((!p.retransmitted || p.probe) && (newest === undefined || p.txNumber > newest.txNumber)) newest = p;
    }
    const unique = [...new Set(acked)];
    if (!any) return { acked: [], lost: [], rttSampleMs: undefined };
    if (newest === undefined) return { acked: unique, lost: [], rttSampleMs: undefined };
    this.largestAckedTx = Math.max(this.largestAckedTx, newest.txNumber);
    const rttSampleMs = sampled === undefined ? undefined : nowMs - sampled.sentTimeMs;
    return { acked: unique, lost: this.detectLost(nowMs, lossDelayMs), rttSampleMs };
  }

  /** Declares lost what the thresholds say is lost; lost packets stay unacknowledged, out of flight. */
  detectLost(nowMs: number, lossDelayMs: number): SentPacket<M>[] {
    const lost: SentPacket<M>[] = [];
    for (const p of this.byTx.values()) {
      if (p.txNumber >= this.largestAckedTx) break;
      const byCount = p.txNumber + this.packetThreshold <= this.largestAckedTx;
      const byTime = p.sentTimeMs + lossDelayMs <= nowMs;
      if (!byCount && !byTime) break;
      lost.push(p);
    }
    for (const p of lost) this.forget(p);
    return lost;
  }

  /** When the oldest packet in flight before the largest acknowledged one crosses the time threshold. */
  lossTimeMs(lossDelayMs: number): number | undefined {
    for (const p of this.byTx.values()) {
      if (p.txNumber >= this.largestAckedTx) return undefined;
      return p.sentTimeMs + lossDelayMs;
    }
    return undefined;
  }

  /** Drops every packet (connection ending); returns what was still unacknowledged. */
  clear(): SentPacket<M>[] {
    const all = [...this.bySeq.values()];
    this.bySeq.clear();
    this.byTx.clear();
    this.inFlightBytes = 0;
    return all;
  }

  private forget(p: SentPacket<M>): void {
    if (!p.inFlight) return;
    p.inFlight = false;
    this.byTx.delete(p.txNumber);
    this.inFlightBytes -= p.wire.length;
  }
}
