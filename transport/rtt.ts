/**
 * Round-trip time estimation (RFC 6298 §2, RFC 9002 §5): smoothed RTT and variation from
 * samples, and the retransmission/probe timeout built on them. The floor `rtoMinMs` is
 * far below TCP's 200 ms so a lost packet on a WAN costs a few RTTs, not a fifth of a second.
 */
export interface RttOptions {
  readonly initialRttMs: number;
  readonly rtoMinMs: number;
  readonly rtoMaxMs: number;
  /** Timer granularity (RFC 9002 kGranularity). */
  readonly granularityMs: number;
}

export const defaultRttOptions: RttOptions = { initialRttMs: 100, rtoMinMs: 15, rtoMaxMs: 1000, granularityMs: 1 };

export class RttEstimator {
  private srtt: number;
  private rttvar: number;
  private latest: number;
  private sampled = false;

  constructor(private readonly options: RttOptions = defaultRttOptions) {
    this.srtt = options.initialRttMs;
    this.rttvar = options.initialRttMs / 2;
    this.latest = options.initialRttMs;
  }

  get smoothedMs(): number {
    return this.srtt;
  }

  onSample(sampleMs: number): void {
    const r = Math.max(sampleMs, 0);
    this.latest = r;
    if (!this.sampled) {
      this.sampled = true;
      this.srtt = r;
      this.rttvar = r / 2;
      return;
    }
    this.rttvar = 0.75 * this.rttvar + 0.25 * Math.abs(this.srtt - r);
    this.srtt = 0.875 * this.srtt + 0.125 * r;
  }

  /** Probe timeout after `backoff` consecutive expiries: doubled each time, within [rtoMinMs, rtoMaxMs]. */
  ptoMs(backoff: number): number {
    const base = this.srtt + Math.max(4 * this.rttvar, this.options.granularityMs);
    return Math.min(this.options.rtoMaxMs, Math.max(this.options.rtoMinMs, base) * 2 ** Math.min(backoff, 16));
  }

  /** RFC 9002 time threshold: a packet is lost once this much older than a later acknowledged one. */
  lossDelayMs(): number {
    return Math.max((9 / 8) * Math.max(this.srtt, this.latest), this.options.granularityMs);
  }
}
