/**
 * Measures the data-packet loss rate over roughly the last `windowPackets` sends and
 * turns it into an FEC parity count: the fewest parity packets m such that a group of
 * k data + m parity loses more than m packets (independent losses, binomial) with
 * probability at most `residualTarget`. 0 on a clean link; grows with loss; capped at
 * the codec's 6.
 */
import { assert } from '../common/errors.js';
import { FEC_MAX_M } from './fec.js';

/**
 * A group may fail to recover this often; Quantum's fast retransmission covers the rest.
 * 10 % keeps parity at one packet per group of 16 from ~0.7 % up to ~3 % measured loss,
 * so FEC costs ~6 % of the bytes where loss is light (the measured rate counts a packet
 * both when declared lost and when the peer rebuilt it, so it reads up to twice the
 * path's loss), and still adds parity quickly as loss grows.
 */
const DEFAULT_RESIDUAL_TARGET = 0.1;

export interface LossEstimatorOptions {
  readonly windowPackets: number;
  readonly residualTarget?: number;
}

/** P(X > m) for X ~ Binomial(n, p). */
function binomialTailAbove(n: number, p: number, m: number): number {
  let term = (1 - p) ** n; // P(X = 0)
  let cumulative = term;
  for (let x = 1; x <= m; x++) {
    term *= ((n - x + 1) / x) * (p / (1 - p));
    cumulative += term;
  }
  return Math.max(0, 1 - cumulative);
}

export class LossEstimator {
  private readonly windowPackets: number;
  private readonly residualTarget: number;
  /** decayed counts: both are halved when `sent` reaches the window, so old history fades */
  private sent = 0;
  private lost = 0;

  constructor(options: LossEstimatorOptions) {
    assert(options.windowPackets >= 2, 'window of at least 2 packets');
    this.windowPackets = options.windowPackets;
    this.residualTarget = options.residualTarget ?? DEFAULT_RESIDUAL_TARGET;
    assert(this.residualTarget > 0 && this.residualTarget < 1, 'residual target in (0, 1)');
  }

  onSent(n: number): void {
    this.sent += n;
    while (this.sent >= this.windowPackets) {
      this.sent /= 2;
      this.lost /= 2;
    }
  }

  onLost(n: number): void {
    this.lost += n;
  }

  /** lost ÷ sent over the window, in [0, 1]. */
  get lossRate(): number {
    if (this.sent <= 0) return 0;
    return Math.min(1, this.lost / this.sent);
  }

  /** Parity packets per group of k data packets for the current loss rate. */
  parityFor(k: number): number {
    const p = this.lossRate;
    if (p <= 0 || k <= 0) return 0;
    if (p >= 1) return FEC_MAX_M;
    for (let m = 0; m < FEC_MAX_M; m++) {
      if (binomialTailAbove(k + m, p, m) <= this.residualTarget) return m;
    }
    return FEC_MAX_M;
  }
}
