import { compareGlt, maxGlt, type Glt } from '../glts/glt.js';

/**
 * Where one stream (an origin's versions) stands towards one peer, on the sending side:
 * what the peer holds (`acked`), what was sent beyond it and not acknowledged yet
 * (`inFlight`, bounded by `windowBytes`), and whether a change-index read for it is
 * running. `sent` rewinds to `acked` when for `resendAfterMs` the peer acknowledged
 * nothing and the transport delivered none of the batches in flight — the peer dropped
 * one (its queue full, its leader changing); a connection that ends fails its sends,
 * which come back as refusals. A transport that is still delivering a long queue (a
 * backlog crossing a slow link) is not stalled: rewinding it would queue the window
 * again behind itself. Both go back to where the peer says it stands
 * when it reports a gap: a new leader there may hold less than its predecessor
 * acknowledged (stretches without versions are acknowledged before they are written), and
 * the peer's apply check makes a resend harmless. A batch the transport refused never left:
 * `sent` rewinds to its start, and nothing is sent for a pause (the transport has too much
 * in flight to that peer).
 *
 * states: unknown (no ack yet: nothing is sent until the peer says where it stands) →
 * known.
 */
export class PeerCursor {
  /** The peer holds the stream up to here; decreases only when the peer reports a gap below it. */
  acked: Glt | undefined;
  /** Sent up to here (≥ acked once known). */
  sent: Glt | undefined;
  /** Batches sent above `acked`, oldest first; their bytes are bounded by the window. */
  private readonly inFlight: { readonly to: Glt; readonly bytes: number }[] = [];
  private inFlightBytes = 0;
  private lastProgressMs = 0;
  /** Nothing is sent before this: the transport refused a batch. */
  private pausedUntilMs = 0;
  /** A change-index read for this peer is running. */
  reading = false;

  constructor(
    private readonly windowBytes: number,
    private readonly resendAfterMs: number,
  ) {}

  get known(): boolean {
    return this.acked !== undefined;
  }

  /** Room in the window for another batch, and no pause. */
  canSend(nowMs: number): boolean {
    return this.known && nowMs >= this.pausedUntilMs && this.inFlightBytes < this.windowBytes;
  }

  /** Sends are paused until then (a refusal); in the past when they are not. */
  get resumeAtMs(): number {
    return this.pausedUntilMs;
  }

  /** The peer holds the stream up to `applied`; with `gap`, it expects a resend from there. */
  onAck(applied: Glt, gap: boolean, nowMs: number): void {
    if (gap) {
      this.acked = applied;
      this.rewind(applied, nowMs);
      return;
    }
    if (this.acked === undefined || compareGlt(applied, this.acked) > 0) {
      this.acked = this.acked === undefined ? applied : maxGlt(this.acked, applied);
      this.lastProgressMs = nowMs;
    }
    while (this.inFlight[0] && compareGlt(this.inFlight[0].to, this.acked) <= 0) this.inFlightBytes -= this.inFlight.shift()!.bytes;
    if (this.sent === undefined || compareGlt(this.sent, this.acked) < 0) this.rewind(this.acked, nowMs);
  }

  /** Records a batch sent up to `to`. */
  onSent(to: Glt, bytes: number, nowMs: number): void {
    if (this.inFlight.length === 0) this.lastProgressMs = nowMs;
    this.sent = to;
    this.inFlight.push({ to, bytes });
    this.inFlightBytes += bytes;
  }

  /** The transport delivered the batch sent up to `to` (the peer's transport has it): progress, though the peer's Ack may trail it. */
  onDelivered(to: Glt, nowMs: number): void {
    if (this.inFlight.some((b) => compareGlt(b.to, to) === 0)) this.lastProgressMs = nowMs;
  }

  /**
   * The transport did not take the batch sent from `from`, or could not deliver it (its
   * connection ended): it and every batch sent after it are not in flight; they go again from `from` once `retryAtMs` has come.
   */
  onRefused(from: Glt, retryAtMs: number): void {
    if (this.sent === undefined || compareGlt(from, this.sent) >= 0 || compareGlt(from, this.acked!) < 0) return;
    this.sent = from;
    while (this.inFlight.length > 0 && compareGlt(this.inFlight[this.inFlight.length - 1]!.to, from) > 0) this.inFlightBytes -= this.inFlight.pop()!.bytes;
    this.pausedUntilMs = Math.max(this.pausedUntilMs, retryAtMs);
  }

  /** Rewinds when batches in flight went unacknowledged, and undelivered, too long; returns true if it did. */
  checkStalled(nowMs: number): boolean {
    if (this.inFlight.length === 0 || nowMs - this.lastProgressMs < this.resendAfterMs) return false;
    this.rewind(this.acked!, nowMs);
    return true;
  }

  /** When `checkStalled` should look again. */
  stallCheckAtMs(): number | undefined {
    return this.inFlight.length === 0 ? undefined : this.lastProgressMs + this.resendAfterMs;
  }

  private rewind(to: Glt, nowMs: number): void {
    this.sent = to;
    this.inFlight.length = 0;
    this.inFlightBytes = 0;
    this.lastProgressMs = nowMs;
  }
}
