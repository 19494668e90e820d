import { setTimeout as sleep } from 'node:timers/promises';
import { AetherError } from '../common/errors.js';

/**
 * How a write refused BACKPRESSURE is sent again. The refusal says the write was not
 * applied (the region's admission gave up before the write reached a data node,
 * regional/admission.ts), so sending it again cannot apply it twice. Waits grow
 * exponentially with full jitter (uniform in [0, ceiling)), so clients refused together
 * do not all come back together to a region that is catching up.
 */
export interface BackpressurePolicy {
  /** Sends of one write in all, the first included (1: never retried). */
  readonly maxAttempts: number;
  /** Ceiling of the first wait; doubled after each retry, up to maxDelayMs. */
  readonly baseDelayMs: number;
  readonly maxDelayMs: number;
  /** No retry starts later than this after the first send. */
  readonly deadlineMs: number;
}

/**
 * The server already holds a refused write for up to `admission.waitMs` (2 s by default)
 * before it refuses, so a few attempts span several seconds: about as long as a region
 * may take to catch up before a caller should hear about it.
 */
export const DEFAULT_BACKPRESSURE: BackpressurePolicy = { maxAttempts: 4, baseDelayMs: 100, maxDelayMs: 2_000, deadlineMs: 10_000 };

/**
 * Runs `send` until it does not fail BACKPRESSURE, within `policy`; then fails with the
 * last refusal (the server's details, plus `attempts`). Other errors pass through at once.
 * `signal` ends a wait early (the client is closing), failing with the last refusal.
 */
export async function retryBackpressure<T>(send: () => Promise<T>, policy: BackpressurePolicy, signal: AbortSignal): Promise<T> {
  const started = performance.now();
  let ceilingMs = policy.baseDelayMs;
  for (let attempt = 1; ; attempt++) {
    let refusal: AetherError;
    try {
      return await send();
    } catch (err) {
      if (!(err instanceof AetherError) || err.code !== 'BACKPRESSURE') throw err;
      refusal = err;
    }
    const delayMs = Math.random() * ceilingMs;
    const elapsedMs = performance.now() - started;
    const giveUp = () =>
      new AetherError('BACKPRESSURE', `${refusal.message} (gave up after ${attempt} attempt(s) in ${Math.round(performance.now() - started)} ms)`, {
        cause: refusal,
        details: { ...refusal.details, attempts: attempt },
      });
    if (attempt >= policy.maxAttempts || elapsedMs + delayMs > policy.deadlineMs || signal.aborted) throw giveUp();
    try {
      await sleep(delayMs, undefined, { signal });
    } catch {
      throw giveUp();
    }
    ceilingMs = Math.min(ceilingMs * 2, policy.maxDelayMs);
  }
}
