import { Clock } from '../../glts/clock.js';
import type { Glt } from '../../glts/glt.js';

/** Simulated time: one global "true" time in ms; every process reads it through its own skew. */
export class SimTime {
  nowMs = 0;
  /** The Unix time (ns) the simulation starts at: realistic magnitudes for GLT walls. */
  static readonly BASE_NS = 1_763_751_000_000_000_000n;

  /** A physical clock reading true time shifted by `skewNs` (|skew| ≤ maxOffset/2, so any two differ by ≤ maxOffset). */
  physical(skewNs: bigint): () => bigint {
    return () => SimTime.BASE_NS + BigInt(Math.round(this.nowMs * 1e6)) + skewNs;
  }

  /** A GLTS clock for one process (floored at what it persisted, after a restart). */
  clock(skewNs: bigint, maxOffsetMs: number, floor?: Glt): Clock {
    return new Clock({ maxOffsetMs, physicalNs: this.physical(skewNs), ...(floor ? { floor } : {}) });
  }
}
