import type { Random } from '../../common/random.js';

export interface NetSpec {
  readonly minDelayMs: number;
  readonly maxDelayMs: number;
  readonly loss: number;
  readonly duplicate: number;
}

/**
 * The simulated WAN between sites (regions; a coordinator lives in one), as Quantum
 * presents it to the processes: messages of one stream from one site to another arrive in
 * the order sent (Quantum orders each stream; streams overtake each other), after a
 * seeded delay; a few are lost (a connection reset loses what was in flight) or
 * duplicated (a resend after a reconnect); partitions cut a pair of sites both ways. A
 * message is dropped when its path is cut at send or at delivery time.
 */
export class SimNetwork {
  /** Cut pairs, each with how many faults cut it (overlapping partitions heal one at a time). */
  private readonly cuts = new Map<string, number>();
  /** Per directed pair and stream: when its last message arrives (the next one arrives no earlier). */
  private readonly lastArrivalMs = new Map<string, number>();

  constructor(
    public spec: NetSpec,
    private readonly rng: Random,
  ) {}

  private static pair(a: string, b: string): string {
    return a < b ? `${a}|${b}` : `${b}|${a}`;
  }

  /** Cuts a and b apart; returns the pairs cut, to heal them later. */
  cut(a: string, b: string): string[] {
    if (a === b) return [];
    const p = SimNetwork.pair(a, b);
    this.cuts.set(p, (this.cuts.get(p) ?? 0) + 1);
    return [p];
  }

  isolate(site: string, all: readonly string[]): string[] {
    return all.flatMap((s) => this.cut(site, s));
  }

  /** Heals the pairs a cut or an isolation made (another fault's cuts stay). */
  heal(pairs: readonly string[]): void {
    for (const p of pairs) {
      const n = (this.cuts.get(p) ?? 0) - 1;
      if (n > 0) this.cuts.set(p, n);
      else this.cuts.delete(p);
    }
  }

  healAll(): void {
    this.cuts.clear();
  }

  connected(a: string, b: string): boolean {
    return a === b || !this.cuts.has(SimNetwork.pair(a, b));
  }

  /** Arrival times of the copies that get through (none when lost or cut), in order after what was sent before on the same path and stream. */
  transmit(fromSite: string, toSite: string, stream: string, nowMs: number): number[] {
    if (!this.connected(fromSite, toSite)) return [];
    if (fromSite !== toSite && this.rng.chance(this.spec.loss)) return [];
    const path = `${fromSite}>${toSite}#${stream}`;
    const arrive = () => {
      const delay = fromSite === toSite ? 0.05 : this.rng.between(this.spec.minDelayMs, this.spec.maxDelayMs);
      const at = Math.max(nowMs + delay, this.lastArrivalMs.get(path) ?? 0);
      this.lastArrivalMs.set(path, at);
      return at;
    };
    const copies = [arrive()];
    if (this.rng.chance(this.spec.duplicate)) copies.push(arrive());
    return copies;
  }
}
