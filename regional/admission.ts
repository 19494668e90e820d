import { AetherError } from '../common/errors.js';
import type { AetherMetrics } from '../common/metrics.js';
import type { AdmissionSpec } from '../topology/types.js';

/** How far the region's own stream is behind: its closed mark's lag, and own versions not shipped yet. */
export interface OwnStreamLag {
  readonly lagMs: number;
  readonly unshippedBytes: number;
}

/** Most writes waiting for admission at once; beyond it a write is refused at once (bounded memory). */
export const MAX_ADMISSION_WAITERS = 100_000;
/** How often waiting writes look at the stream again. */
const RECHECK_MS = 5;

/**
 * Write admission (docs/architecture.md "The snapshot pipeline"): while the region's *own* stream is behind —
 * its closed mark trails the clock by more than maxLagMs, or more than maxUnshippedBytes
 * of its own versions wait to be shipped — a write waits, up to waitMs, then fails
 * RESOURCE_EXHAUSTED (BACKPRESSURE) with the lag. Another region's lag never holds
 * writes back (that would throttle writes worldwide). One timer serves every waiter.
 */
export class AdmissionGate {
  private readonly waiters = new Set<{ readonly deadlineMs: number; readonly resolve: () => void; readonly reject: (e: AetherError) => void }>();
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly spec: AdmissionSpec,
    /** Undefined while this process does not lead (nothing to measure). */
    private readonly lag: () => OwnStreamLag | undefined,
    private readonly metrics?: Pick<AetherMetrics, 'backpressured'>,
  ) {}

  private behind(): OwnStreamLag | undefined {
    const l = this.lag();
    return l && (l.lagMs > this.spec.maxLagMs || l.unshippedBytes > this.spec.maxUnshippedBytes) ? l : undefined;
  }

  /** Resolves when the write may go ahead; BACKPRESSURE after waitMs. */
  admit(): Promise<void> {
    const behind = this.behind();
    if (!behind) return Promise.resolve();
    if (this.spec.waitMs === 0 || this.waiters.size >= MAX_ADMISSION_WAITERS) return Promise.reject(this.refusal(behind));
    return new Promise<void>((resolve, reject) => {
      this.waiters.add({ deadlineMs: performance.now() + this.spec.waitMs, resolve, reject });
      this.timer ??= setInterval(() => this.recheck(), RECHECK_MS);
    });
  }

  private recheck(): void {
    const behind = this.behind();
    const now = performance.now();
    for (const w of this.waiters) {
      if (!behind) {
        this.metrics?.backpressured.inc({ outcome: 'admitted' });
        w.resolve();
      } else if (now >= w.deadlineMs) {
        w.reject(this.refusal(behind));
      } else {
        continue;
      }
      this.waiters.delete(w);
    }
    if (this.waiters.size === 0) {
      clearInterval(this.timer);
      this.timer = undefined;
    }
  }

  private refusal(l: OwnStreamLag): AetherError {
    this.metrics?.backpressured.inc({ outcome: 'refused' });
    return new AetherError('BACKPRESSURE', `the region's own stream is behind (closed mark ${Math.round(l.lagMs)} ms behind the clock, ${l.unshippedBytes} bytes unshipped); retry later`, {
      details: { lagMs: Math.round(l.lagMs), unshippedBytes: l.unshippedBytes, maxLagMs: this.spec.maxLagMs, waitedMs: this.spec.waitMs },
    });
  }

  /** Fails every waiter (the leader is stepping down). */
  close(): void {
    for (const w of this.waiters) w.reject(new AetherError('NOT_LEADER', 'the leader stepped down while the write waited for admission'));
    this.waiters.clear();
    clearInterval(this.timer);
    this.timer = undefined;
  }
}
