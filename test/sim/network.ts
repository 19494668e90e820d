import type { Message } from '../../kernel/messages.js';
import type { Rng } from './rng.js';

export interface NetSpec {
  readonly minDelayMs: number;
  readonly maxDelayMs: number;
  readonly loss: number;
  readonly duplicate: number;
}

/**
 * The simulated WAN between sites (regions; a coordinator lives in one): seeded delay
 * (hence reordering), loss, duplication, and partitions that cut a pair of sites both
 * ways. A message is dropped when its path is cut at send or at delivery time.
 */
export class SimNetwork {
  private readonly cuts = new Set<string>();

  constructor(
    public spec: NetSpec,
    private readonly rng: Rng,
  ) {}

  private static pair(a: string, b: string): string {
    return a < b ? `${a}|${b}` : `${b}|${a}`;
  }

  cut(a: string, b: string): void {
    if (a !== b) this.cuts.add(SimNetwork.pair(a, b));
  }

  isolate(site: string, all: readonly string[]): void {
    for (const s of all) this.cut(site, s);
  }

  healAll(): void {
    this.cuts.clear();
  }

  connected(a: string, b: string): boolean {
    return a === b || !this.cuts.has(SimNetwork.pair(a, b));
  }

  /** Delivery delays of the copies that get through (none when lost or cut). */
  transmit(fromSite: string, toSite: string, _msg: Message): number[] {
    if (!this.connected(fromSite, toSite)) return [];
    if (fromSite !== toSite && this.rng.chance(this.spec.loss)) return [];
    const delay = () => (fromSite === toSite ? 0.05 : this.rng.between(this.spec.minDelayMs, this.spec.maxDelayMs));
    const copies = [delay()];
    if (this.rng.chance(this.spec.duplicate)) copies.push(delay());
    return copies;
  }
}
