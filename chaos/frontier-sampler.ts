import type { AetherClient } from '../client/client.js';
import { compareGlt, formatGlt, type Glt } from '../glts/glt.js';

const SAMPLE_MS = 250;
/** Bound on the backward moves a report names. */
const MAX_REGRESSIONS = 20;
/** A probe read is short: a region that cannot answer at once is simply not sampled this time. */
const PROBE_TIMEOUT_MS = 1000;

export interface FrontierRegression {
  readonly region: string;
  readonly from: string;
  readonly to: string;
}

/**
 * Invariant M on frontiers, from outside: reads a probe key in each region at its
 * frontier (a read without a GLT is served at the frontier and returns it), one region
 * after another, and notes any frontier below the highest seen for that region — across
 * leader failover and restarts. A region that cannot answer (crashed, electing) is
 * skipped until it can.
 */
export class FrontierSampler {
  readonly highest = new Map<string, Glt>();
  readonly regressions: FrontierRegression[] = [];
  samples = 0;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> = Promise.resolve();

  constructor(
    private readonly client: AetherClient,
    private readonly regions: readonly string[],
    private readonly probeKey: string,
  ) {}

  start(): void {
    const loop = (): void => {
      this.timer = setTimeout(() => {
        this.running = this.sample().then(() => (this.timer === undefined ? undefined : loop()));
      }, SAMPLE_MS);
    };
    loop();
  }

  async stop(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    await this.running;
  }

  private async sample(): Promise<void> {
    for (const region of this.regions) {
      let f: Glt;
      try {
        f = (await withTimeout(this.client.get(this.probeKey, { region }), PROBE_TIMEOUT_MS)).glt;
      } catch {
        continue;
      }
      this.samples++;
      const high = this.highest.get(region);
      if (high && compareGlt(f, high) < 0) {
        if (this.regressions.length < MAX_REGRESSIONS) this.regressions.push({ region, from: formatGlt(high), to: formatGlt(f) });
      } else this.highest.set(region, f);
    }
  }
}

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error('probe timed out')), ms)));
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}
