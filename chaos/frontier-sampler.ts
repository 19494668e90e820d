import { GLT_ZERO, compareGlt, formatGlt, gltEquals, parseGlt, type Glt } from '../glts/glt.js';
import { processAlive } from '../topology/supervisor.js';
import type { Deployment } from './deployment.js';

const SAMPLE_MS = 250;
/** Bound on the backward moves a report names. */
const MAX_REGRESSIONS = 20;

export interface FrontierRegression {
  readonly region: string;
  readonly from: string;
  readonly to: string;
  readonly leader: string;
}

/**
 * Invariant M on frontiers, from outside: samples each region's elected leader's
 * frontier as it publishes it in the registry, and notes any sample below the highest
 * seen for that region — across leader failover and restarts. Entries of dead
 * processes (kept until their lease expires) and frontiers not yet known are skipped.
 */
export class FrontierSampler {
  readonly highest = new Map<string, Glt>();
  readonly regressions: FrontierRegression[] = [];
  samples = 0;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> = Promise.resolve();

  constructor(private readonly d: Deployment) {}

  start(): void {
    const loop = (): void => {
      this.timer = setTimeout(() => {
        this.running = this.sample().catch(() => {}).then(() => (this.timer === undefined ? undefined : loop()));
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
    for (const s of await this.d.services()) {
      const frontier = s.status?.['frontier'];
      if (s.role !== 'leader' || s.status?.['state'] !== 'leader' || typeof frontier !== 'string' || !s.region || !processAlive(s.pid)) continue;
      const f = parseGlt(frontier);
      // A new term reports zero until it has read its data nodes' persisted frontier: not yet known, not a move back.
      if (gltEquals(f, GLT_ZERO)) continue;
      this.samples++;
      const high = this.highest.get(s.region);
      if (high && compareGlt(f, high) < 0) {
        if (this.regressions.length < MAX_REGRESSIONS) this.regressions.push({ region: s.region, from: formatGlt(high), to: frontier, leader: s.id });
      } else this.highest.set(s.region, f);
    }
  }
}
