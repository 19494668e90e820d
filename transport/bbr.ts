/**
 * BBR v1 congestion control (Cardwell et al., "BBR: Congestion-Based Congestion
 * Control"; draft-cardwell-iccrg-bbr-congestion-control-00; Linux tcp_bbr.c), sans-IO:
 * the connection reports sends, acks and losses with nowMs; BBR answers with a
 * congestion window and a pacing rate.
 *
 * The model: btlBw is the windowed max of delivery-rate samples over 10 round trips,
 * minRtt the windowed min of RTT samples over 10 s; BDP = btlBw·minRtt. Pacing rate is
 * pacingGain·btlBw and cwnd cwndGain·BDP plus a few packets of quantum.
 */
import { assert } from '../common/errors.js';
import { DeliveryRateSampler, type PacketRateState, type RateSample } from './delivery-rate.js';
import { Random } from '../common/random.js';

export type { PacketRateState } from './delivery-rate.js';

export type BbrState = 'STARTUP' | 'DRAIN' | 'PROBE_BW' | 'PROBE_RTT';

/** 2/ln2: the smallest gain that doubles the sending rate each round in STARTUP. */
export const BBR_HIGH_GAIN = 2 / Math.LN2;
/** ln2/2 = 1/BBR_HIGH_GAIN: drains in one round the queue STARTUP built. */
export const BBR_DRAIN_GAIN = Math.LN2 / 2;
export const BBR_PROBE_BW_GAINS: readonly number[] = [1.25, 0.75, 1, 1, 1, 1, 1, 1];
export const BBR_CWND_GAIN = 2;
export const BBR_BW_WINDOW_ROUNDS = 10;
export const BBR_MIN_RTT_WINDOW_MS = 10_000;
export const BBR_PROBE_RTT_DURATION_MS = 200;
export const BBR_MIN_CWND_PACKETS = 4;
/** STARTUP ends when btlBw grew by less than this factor for BBR_FULL_BW_ROUNDS rounds. */
const FULL_BW_GROWTH = 1.25;
const FULL_BW_ROUNDS = 3;
/** cwnd holds this many send quanta beyond the BDP, so pacing bursts do not starve the pipe (draft §4.6.4.4). */
const CWND_SEND_QUANTA = 3;
/** Send quantum thresholds of the draft: 1.2 Mbit/s and 24 Mbit/s, and its 64 KiB cap. */
const SEND_QUANTUM_ONE_MSS_BELOW_BYTES_PER_SEC = 150_000;
const SEND_QUANTUM_TWO_MSS_BELOW_BYTES_PER_SEC = 3_000_000;
const SEND_QUANTUM_MAX_BYTES = 65_536;
/** Ack aggregation (tcp_bbr.c extra_acked): windowed max over 5 rounds, capped at 100 ms of btlBw. */
const EXTRA_ACKED_WINDOW_ROUNDS = 5;
const EXTRA_ACKED_MAX_MS = 100;
const DEFAULT_INITIAL_CWND_PACKETS = 10;
/** Linux's default RTT before any sample, for the initial pacing rate. */
const DEFAULT_RTT_MS = 1;

export interface BbrOptions {
  readonly mssBytes: number;
  readonly nowMs: number;
  readonly initialCwndPackets?: number;
  /** seeds the PRNG that picks the PROBE_BW start phase, so runs replay */
  readonly seed?: number;
}

export class Bbr {
  readonly mssBytes: number;
  private readonly sampler: DeliveryRateSampler;
  private readonly random: Random;
  private readonly initialCwndBytes: number;
  private readonly minCwndBytes: number;

  /** STARTUP → DRAIN (full bw reached) → PROBE_BW ⇄ PROBE_RTT (min RTT stale); PROBE_RTT returns to STARTUP if full bw was never reached. */
  private mode: BbrState = 'STARTUP';
  private pacingGain = BBR_HIGH_GAIN;
  private cwndGain = BBR_HIGH_GAIN;
  /** index into BBR_PROBE_BW_GAINS; meaningful in PROBE_BW only */
  private cycleIndex = 0;
  private cycleStartMs = 0;

  /** per-round maxima of delivery rate, newest last; at most BBR_BW_WINDOW_ROUNDS entries */
  private readonly bwSamples: { round: number; bytesPerSec: number }[] = [];
  private roundCount = 0;
  private nextRoundDelivered = 0;
  private roundStart = false;

  private minRtt = Number.POSITIVE_INFINITY;
  private minRttStampMs: number;

  private fullBwReached = false;
  private fullBw = 0;
  private fullBwCount = 0;

  /** 0 until inflight first dropped to the PROBE_RTT cwnd; then when PROBE_RTT may end */
  private probeRttDoneMs = 0;
  private probeRttRoundDone = false;

  /** loss recovery: cwnd is held near inflight for a round, then restored */
  private inRecovery = false;
  private recoveryEndDelivered = 0;
  private packetConservation = false;
  /** cwnd before recovery or PROBE_RTT, restored after; 0 when nothing is saved */
  private priorCwndBytes = 0;

  /**
   * Ack aggregation: data acked beyond what btlBw predicts since the epoch began (acks
   * arriving in bursts, e.g. delayed acks or a busy receiver). Two windows of
   * EXTRA_ACKED_WINDOW_ROUNDS rounds, the older one dropped when a window ends.
   */
  private readonly extraAckedBytes = [0, 0];
  private extraAckedIndex = 0;
  private extraAckedWindowRounds = 0;
  private ackEpochStartMs: number;
  private ackEpochAckedBytes = 0;

  private cwnd: number;
  private pacingRate: number;
  private hasSeenRtt = false;

  /** counters for observability (tests and metrics) */
  roundTrips = 0;

  constructor(options: BbrOptions) {
    assert(options.mssBytes > 0, 'mssBytes must be positive');
    this.mssBytes = options.mssBytes;
    this.sampler = new DeliveryRateSampler(options.nowMs);
    this.random = new Random(options.seed ?? 0x5eed);
    this.initialCwndBytes = (options.initialCwndPackets ?? DEFAULT_INITIAL_CWND_PACKETS) * options.mssBytes;
    this.minCwndBytes = BBR_MIN_CWND_PACKETS * options.mssBytes;
    this.cwnd = Math.max(this.initialCwndBytes, this.minCwndBytes);
    this.pacingRate = (BBR_HIGH_GAIN * this.cwnd * 1000) / DEFAULT_RTT_MS;
    this.minRttStampMs = options.nowMs;
    this.ackEpochStartMs = options.nowMs;
  }

  get state(): BbrState {
    return this.mode;
  }
  get cwndBytes(): number {
    return this.cwnd;
  }
  get pacingRateBytesPerSec(): number {
    return this.pacingRate;
  }
  get btlBwBytesPerSec(): number {
    let max = 0;
    for (const s of this.bwSamples) max = Math.max(max, s.bytesPerSec);
    return max;
  }
  /** Infinity until the first RTT sample. */
  get minRttMs(): number {
    return this.minRtt;
  }
  get currentPacingGain(): number {
    return this.pacingGain;
  }
  get currentCwndGain(): number {
    return this.cwndGain;
  }
  /** position in BBR_PROBE_BW_GAINS (PROBE_BW only) */
  get cyclePhase(): number {
    return this.cycleIndex;
  }
  get isFullBwReached(): boolean {
    return this.fullBwReached;
  }

  onSend(nowMs: number, bytes: number, bytesInFlightBefore: number, isAppLimited: boolean): PacketRateState {
    return this.sampler.onSend(nowMs, bytes, bytesInFlightBefore, isAppLimited);
  }

  onAck(nowMs: number, acked: readonly PacketRateState[], bytesInFlightAfter: number, rttSampleMs: number | undefined): void {
    let ackedBytes = 0;
    for (const p of acked) ackedBytes += p.bytes;
    const sample = this.sampler.onAck(nowMs, acked, this.minRtt);
    this.updateRound(sample);
    if (sample !== undefined) this.updateBw(sample);
    this.updateAckAggregation(nowMs, ackedBytes);
    this.updateCyclePhase(nowMs, bytesInFlightAfter);
    this.checkFullBwReached(sample);
    this.checkDrain(nowMs, bytesInFlightAfter);
    this.updateMinRtt(nowMs, rttSampleMs, bytesInFlightAfter);
    this.updateRecovery(sample);
    this.setPacingRate(rttSampleMs);
    this.setCwnd(ackedBytes, bytesInFlightAfter);
  }

  onLoss(_nowMs: number, lost: readonly PacketRateState[], bytesInFlightAfter: number): void {
    let lostBytes = 0;
    for (const p of lost) lostBytes += p.bytes;
    if (lostBytes === 0) return;
    if (!this.inRecovery) {
      // Entering recovery: remember the cwnd to restore, and for one round send only
      // as much as is acked (packet conservation), as tcp_bbr.c does.
      this.inRecovery = true;
      this.saveCwnd();
      this.packetConservation = true;
      this.recoveryEndDelivered = this.sampler.delivered;
      this.nextRoundDelivered = Math.max(this.nextRoundDelivered, this.sampler.delivered);
      this.cwnd = Math.max(bytesInFlightAfter + this.mssBytes, this.minCwndBytes);
    } else {
      this.cwnd = Math.max(this.cwnd - lostBytes, this.minCwndBytes);
    }
  }

  private bdpBytes(gain: number): number {
    if (!Number.isFinite(this.minRtt)) return this.initialCwndBytes;
    return (this.btlBwBytesPerSec * this.minRtt * gain) / 1000;
  }

  private updateRound(sample: RateSample | undefined): void {
    this.roundStart = false;
    if (sample !== undefined && sample.priorDelivered >= this.nextRoundDelivered) {
      this.nextRoundDelivered = this.sampler.delivered;
      this.roundCount++;
      this.roundTrips = this.roundCount;
      this.roundStart = true;
      this.packetConservation = false;
    }
  }

  private updateBw(sample: RateSample): void {
    if (sample.bytesPerSec <= 0) return;
    // An app-limited sample only counts when it raises the estimate: it cannot show the path is slower.
    if (sample.isAppLimited && sample.bytesPerSec < this.btlBwBytesPerSec) return;
    const last = this.bwSamples[this.bwSamples.length - 1];
    if (last !== undefined && last.round === this.roundCount) {
      last.bytesPerSec = Math.max(last.bytesPerSec, sample.bytesPerSec);
    } else {
      this.bwSamples.push({ round: this.roundCount, bytesPerSec: sample.bytesPerSec });
    }
    while (this.bwSamples.length > 0 && this.bwSamples[0]!.round <= this.roundCount - BBR_BW_WINDOW_ROUNDS) this.bwSamples.shift();
    assert(this.bwSamples.length <= BBR_BW_WINDOW_ROUNDS, 'bw filter bounded');
  }

  private updateAckAggregation(nowMs: number, ackedBytes: number): void {
    if (ackedBytes <= 0) return;
    if (this.roundStart && ++this.extraAckedWindowRounds >= EXTRA_ACKED_WINDOW_ROUNDS) {
      this.extraAckedWindowRounds = 0;
      this.extraAckedIndex ^= 1;
      this.extraAckedBytes[this.extraAckedIndex] = 0;
    }
    let expectedBytes = (this.btlBwBytesPerSec * (nowMs - this.ackEpochStartMs)) / 1000;
    // Acks at or below the expected rate end the aggregation epoch.
    if (this.ackEpochAckedBytes <= expectedBytes) {
      this.ackEpochAckedBytes = 0;
      this.ackEpochStartMs = nowMs;
      expectedBytes = 0;
    }
    this.ackEpochAckedBytes += ackedBytes;
    const extra = Math.min(this.ackEpochAckedBytes - expectedBytes, this.cwnd);
    this.extraAckedBytes[this.extraAckedIndex] = Math.max(this.extraAckedBytes[this.extraAckedIndex]!, extra);
  }

  /**
   * cwnd room for ack aggregation. Unlike tcp_bbr.c, also in STARTUP: behind a busy event
   * loop with decimated, delayed acks the RTT at any rate is many min RTTs, and a cwnd of
   * 2.885·BDP stalls STARTUP's growth far below the path's rate.
   */
  private aggregationCwndBytes(): number {
    const extra = Math.max(this.extraAckedBytes[0]!, this.extraAckedBytes[1]!);
    return Math.min(extra, (this.btlBwBytesPerSec * EXTRA_ACKED_MAX_MS) / 1000);
  }

  /** Bytes the pacer may send back to back: 1 or 2 packets at low rates, else 1 ms of pacing up to 64 KiB. */
  get sendQuantumBytes(): number {
    if (this.pacingRate < SEND_QUANTUM_ONE_MSS_BELOW_BYTES_PER_SEC) return this.mssBytes;
    if (this.pacingRate < SEND_QUANTUM_TWO_MSS_BELOW_BYTES_PER_SEC) return 2 * this.mssBytes;
    return Math.min(this.pacingRate / 1000, SEND_QUANTUM_MAX_BYTES);
  }

  private updateCyclePhase(nowMs: number, inflight: number): void {
    if (this.mode !== 'PROBE_BW') return;
    const fullLength = nowMs - this.cycleStartMs > this.minRtt;
    let next: boolean;
    if (this.pacingGain > 1) {
      // Probing up lasts a min RTT and until inflight reached the probed BDP (or loss says it cannot).
      next = fullLength && (this.inRecovery || inflight >= this.bdpBytes(this.pacingGain));
    } else if (this.pacingGain < 1) {
      // Draining ends early once the queue is gone.
      next = fullLength || inflight <= this.bdpBytes(1);
    } else {
      next = fullLength;
    }
    if (next) this.advanceCycle(nowMs);
  }

  private advanceCycle(nowMs: number): void {
    this.cycleIndex = (this.cycleIndex + 1) % BBR_PROBE_BW_GAINS.length;
    this.cycleStartMs = nowMs;
    this.pacingGain = BBR_PROBE_BW_GAINS[this.cycleIndex]!;
  }

  private enterProbeBw(nowMs: number): void {
    this.mode = 'PROBE_BW';
    this.cwndGain = BBR_CWND_GAIN;
    // Random start phase, never the 0.75 one (index 1): as tcp_bbr.c, pick among the
    // 7 phases before it and advance once.
    this.cycleIndex = BBR_PROBE_BW_GAINS.length - 1 - this.random.int(BBR_PROBE_BW_GAINS.length - 1);
    this.advanceCycle(nowMs);
  }

  private checkFullBwReached(sample: RateSample | undefined): void {
    if (this.fullBwReached || !this.roundStart || sample === undefined || sample.isAppLimited) return;
    const bw = this.btlBwBytesPerSec;
    if (bw >= this.fullBw * FULL_BW_GROWTH) {
      this.fullBw = bw;
      this.fullBwCount = 0;
      return;
    }
    this.fullBwCount++;
    this.fullBwReached = this.fullBwCount >= FULL_BW_ROUNDS;
  }

  private checkDrain(nowMs: number, inflight: number): void {
    if (this.mode === 'STARTUP' && this.fullBwReached) {
      this.mode = 'DRAIN';
      this.pacingGain = BBR_DRAIN_GAIN;
      this.cwndGain = BBR_HIGH_GAIN;
    }
    if (this.mode === 'DRAIN' && inflight <= this.bdpBytes(1)) this.enterProbeBw(nowMs);
  }

  private updateMinRtt(nowMs: number, rttMs: number | undefined, inflight: number): void {
    const expired = nowMs - this.minRttStampMs > BBR_MIN_RTT_WINDOW_MS;
    if (rttMs !== undefined && rttMs >= 0 && (rttMs < this.minRtt || expired)) {
      this.minRtt = rttMs;
      this.minRttStampMs = nowMs;
    }
    if (expired && this.mode !== 'PROBE_RTT') {
      this.mode = 'PROBE_RTT';
      this.pacingGain = 1;
      this.cwndGain = 1;
      this.saveCwnd();
      this.probeRttDoneMs = 0;
    }
    if (this.mode !== 'PROBE_RTT') return;
    // Keep the sampler from trusting the deliberately low rate of this phase.
    this.sampler.markAppLimited(inflight);
    if (this.probeRttDoneMs === 0 && inflight <= this.minCwndBytes) {
      this.probeRttDoneMs = nowMs + BBR_PROBE_RTT_DURATION_MS;
      this.probeRttRoundDone = false;
      this.nextRoundDelivered = this.sampler.delivered;
    } else if (this.probeRttDoneMs !== 0) {
      if (this.roundStart) this.probeRttRoundDone = true;
      if (this.probeRttRoundDone && nowMs >= this.probeRttDoneMs) {
        this.minRttStampMs = nowMs;
        this.restoreCwnd();
        if (this.fullBwReached) {
          this.enterProbeBw(nowMs);
        } else {
          this.mode = 'STARTUP';
          this.pacingGain = BBR_HIGH_GAIN;
          this.cwndGain = BBR_HIGH_GAIN;
        }
      }
    }
  }

  private updateRecovery(sample: RateSample | undefined): void {
    // Recovery ends when a packet sent after it began is acknowledged without a new loss.
    if (!this.inRecovery || sample === undefined || sample.priorDelivered < this.recoveryEndDelivered) return;
    this.inRecovery = false;
    this.packetConservation = false;
    // In PROBE_RTT the saved cwnd is restored when PROBE_RTT ends, not now.
    if (this.mode !== 'PROBE_RTT') this.restoreCwnd();
  }

  private saveCwnd(): void {
    // In PROBE_RTT or recovery the current cwnd is artificially low; keep the earlier one.
    this.priorCwndBytes = this.mode === 'PROBE_RTT' || this.inRecovery ? Math.max(this.priorCwndBytes, this.cwnd) : this.cwnd;
  }

  private restoreCwnd(): void {
    this.cwnd = Math.max(this.cwnd, this.priorCwndBytes);
    this.priorCwndBytes = 0;
  }

  private setPacingRate(rttSampleMs: number | undefined): void {
    const bw = this.btlBwBytesPerSec;
    if (rttSampleMs !== undefined && rttSampleMs > 0 && (!this.hasSeenRtt || bw <= 0)) {
      // Until bandwidth is sampled, pace the cwnd over the min RTT (tcp_bbr.c does this
      // once, from the first sample). Later, lower samples may only raise the rate: the
      // first RTT of a fresh process (JIT, thread start) can be 100× the path's.
      const fromRtt = (BBR_HIGH_GAIN * this.cwnd * 1000) / this.minRtt;
      this.pacingRate = this.hasSeenRtt ? Math.max(this.pacingRate, fromRtt) : fromRtt;
      this.hasSeenRtt = true;
    }
    if (bw <= 0) return;
    const rate = this.pacingGain * bw;
    // Until the pipe is known full, never slow down: early samples underestimate it.
    if (this.fullBwReached || rate > this.pacingRate) this.pacingRate = rate;
  }

  private setCwnd(ackedBytes: number, inflight: number): void {
    if (ackedBytes > 0) {
      let target = this.bdpBytes(this.cwndGain) + this.aggregationCwndBytes() + CWND_SEND_QUANTA * this.sendQuantumBytes;
      if (this.mode === 'PROBE_BW' && this.cycleIndex === 0) target += 2 * this.mssBytes;
      if (this.packetConservation) {
        this.cwnd = Math.max(this.cwnd, inflight + ackedBytes);
      } else if (this.fullBwReached) {
        this.cwnd = Math.min(this.cwnd + ackedBytes, target);
      } else if (this.cwnd < target || this.sampler.delivered < this.initialCwndBytes) {
        this.cwnd += ackedBytes;
      }
    }
    this.cwnd = Math.max(this.cwnd, this.minCwndBytes);
    if (this.mode === 'PROBE_RTT') this.cwnd = Math.min(this.cwnd, this.minCwndBytes);
  }
}
