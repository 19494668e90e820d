/**
 * Delivery-rate estimation (draft-cheng-iccrg-delivery-rate-estimation, Linux
 * tcp_rate.c): each sent packet remembers how much had been delivered when it left;
 * when it is acknowledged, the bytes delivered since then divided by the longer of the
 * send and ack intervals is one bandwidth sample. Sans-IO: fed nowMs.
 */

/** What the sampler remembers of one sent packet; returned on send, handed back on ack or loss. */
export interface PacketRateState {
  readonly sentTimeMs: number;
  readonly bytes: number;
  /** connection's delivered bytes when this packet was sent */
  readonly delivered: number;
  /** when `delivered` last grew, as of this packet's send */
  readonly deliveredTimeMs: number;
  /** send time of the packet acknowledged most recently, as of this packet's send */
  readonly firstSentTimeMs: number;
  /** sent while the application had nothing more to send: its rate sample understates the path */
  readonly isAppLimited: boolean;
}

/** One bandwidth sample, produced per ack that delivered something. */
export interface RateSample {
  readonly deliveredBytes: number;
  readonly intervalMs: number;
  /** bytes per second; 0 when the interval was too short to trust (see `generate`) */
  readonly bytesPerSec: number;
  readonly isAppLimited: boolean;
  /** `delivered` of the newest acked packet: round-trip counting keys on it */
  readonly priorDelivered: number;
}

export class DeliveryRateSampler {
  /** total bytes acknowledged; only grows */
  private deliveredBytes = 0;
  private deliveredTimeMs: number;
  private firstSentTimeMs: number;
  /** delivered count at which the current app-limited phase ends; 0 when not app-limited */
  private appLimitedUntilBytes = 0;

  constructor(nowMs: number) {
    this.deliveredTimeMs = nowMs;
    this.firstSentTimeMs = nowMs;
  }

  get delivered(): number {
    return this.deliveredBytes;
  }

  /** Marks the flow app-limited until everything now in flight has been delivered. */
  markAppLimited(bytesInFlight: number): void {
    this.appLimitedUntilBytes = Math.max(this.deliveredBytes + bytesInFlight, 1);
  }

  onSend(nowMs: number, bytes: number, bytesInFlightBefore: number, isAppLimited: boolean): PacketRateState {
    if (bytesInFlightBefore === 0) {
      // Restarting from idle: the send and ack intervals start now, not at the last ack.
      this.firstSentTimeMs = nowMs;
      this.deliveredTimeMs = nowMs;
    }
    if (isAppLimited) this.markAppLimited(bytesInFlightBefore + bytes);
    return {
      sentTimeMs: nowMs,
      bytes,
      delivered: this.deliveredBytes,
      deliveredTimeMs: this.deliveredTimeMs,
      firstSentTimeMs: this.firstSentTimeMs,
      isAppLimited: this.appLimitedUntilBytes !== 0,
    };
  }

  /**
   * Accounts the newly acked packets and returns the rate sample taken from the most
   * recently sent one, or undefined when nothing was acked. A sample whose interval is
   * shorter than `minRttMs` is reported with rate 0: ack compression would inflate it.
   */
  onAck(nowMs: number, acked: readonly PacketRateState[], minRttMs: number): RateSample | undefined {
    let newest: PacketRateState | undefined;
    for (const p of acked) {
      this.deliveredBytes += p.bytes;
      if (
        newest === undefined ||
        p.delivered > newest.delivered ||
        (p.delivered === newest.delivered && p.sentTimeMs > newest.sentTimeMs)
      ) {
        newest = p;
      }
    }
    if (newest === undefined) return undefined;
    this.deliveredTimeMs = nowMs;
    this.firstSentTimeMs = newest.sentTimeMs;
    if (this.appLimitedUntilBytes !== 0 && this.deliveredBytes > this.appLimitedUntilBytes) this.appLimitedUntilBytes = 0;

    const deliveredBytes = this.deliveredBytes - newest.delivered;
    const sendElapsedMs = newest.sentTimeMs - newest.firstSentTimeMs;
    const ackElapsedMs = nowMs - newest.deliveredTimeMs;
    const intervalMs = Math.max(sendElapsedMs, ackElapsedMs);
    const trusted = intervalMs > 0 && !(Number.isFinite(minRttMs) && intervalMs < minRttMs);
    return {
      deliveredBytes,
      intervalMs,
      bytesPerSec: trusted ? (deliveredBytes * 1000) / intervalMs : 0,
      isAppLimited: newest.isAppLimited,
      priorDelivered: newest.delivered,
    };
  }
}
