/**
 * Time and timers for the transport's thin adapters: the system clock in production, a
 * simulated clock (test/transport/sim-clock.ts) in tests, so the same endpoint code runs under both.
 */
export interface Scheduler {
  nowMs(): number;
  /** Runs `fn` at (or after) `atMs`; the returned function cancels it. */
  schedule(atMs: number, fn: () => void): () => void;
}

export const systemScheduler: Scheduler = {
  nowMs: () => performance.timeOrigin + performance.now(),
  schedule(atMs, fn) {
    const t = setTimeout(fn, Math.max(0, atMs - (performance.timeOrigin + performance.now())));
    return () => clearTimeout(t);
  },
};
