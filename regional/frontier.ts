import { assert } from '../common/errors.js';
import { GLT_ZERO, compareGlt, formatGlt, type Glt } from '../glts/glt.js';

/** Most readers that may wait on the frontier at once; beyond it a waiter fails at once (bounded memory). */
export const MAX_WAITERS = 10_000;

interface Waiter {
  readonly t: Glt;
  readonly resolve: (reached: boolean) => void;
  readonly timer: NodeJS.Timeout;
}

/**
 * A region's frontier: the greatest committed GLT it can serve exact reads at.
 * Invariant: never moves back (invariant M, README.md). The replicator advances it
 * to a committed GLT once every origin's versions up to it are applied here.
 */
export class Frontier {
  private value: Glt;
  private readonly waiters = new Set<Waiter>();
  private readonly listeners = new Set<(t: Glt) => void>();

  constructor(initial: Glt = GLT_ZERO) {
    this.value = initial;
  }

  current(): Glt {
    return this.value;
  }

  /** Moves the frontier to `t`; `t` must not be below it (equal is a no-op). */
  advance(t: Glt): void {
    assert(compareGlt(t, this.value) >= 0, () => `frontier moving back from ${formatGlt(this.value)} to ${formatGlt(t)}`);
    this.value = t;
    for (const w of this.waiters) {
      if (compareGlt(w.t, t) <= 0) this.settle(w, true);
    }
    for (const l of this.listeners) l(t);
  }

  /** Calls `listener` with the new frontier after every advance; returns the unsubscribe function. */
  onAdvance(listener: (t: Glt) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Resolves true once the frontier is ≥ t, or false after waitMs or once `signal` aborts (the reader went away). */
  waitFor(t: Glt, waitMs: number, signal?: AbortSignal): Promise<boolean> {
    if (compareGlt(t, this.value) <= 0) return Promise.resolve(true);
    if (waitMs <= 0 || this.waiters.size >= MAX_WAITERS || signal?.aborted) return Promise.resolve(false);
    return new Promise((resolve) => {
      const w: Waiter = { t, resolve, timer: setTimeout(() => this.settle(w, false), waitMs) };
      this.waiters.add(w);
      signal?.addEventListener('abort', () => this.settle(w, false), { once: true });
    });
  }

  /** Releases every waiter (false): the leader is stepping down or shutting down. */
  close(): void {
    for (const w of this.waiters) this.settle(w, false);
  }

  private settle(w: Waiter, reached: boolean): void {
    if (!this.waiters.delete(w)) return;
    clearTimeout(w.timer);
    w.resolve(reached);
  }
}
