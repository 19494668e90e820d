import { assert } from '../common/errors.js';
import type { Scheduler } from './scheduler.js';

interface SimEvent {
  readonly atMs: number;
  readonly order: number;
  readonly fn: () => void;
  cancelled: boolean;
}

/**
 * Simulated time: events run in (time, insertion) order and time jumps from one to the
 * next, so hours of protocol run in milliseconds and every run is deterministic.
 */
export class SimClock implements Scheduler {
  private now: number;
  private order = 0;
  /** Binary min-heap on (atMs, order). */
  private readonly heap: SimEvent[] = [];

  constructor(startMs = 0) {
    this.now = startMs;
  }

  nowMs(): number {
    return this.now;
  }

  get pending(): number {
    return this.heap.length;
  }

  schedule(atMs: number, fn: () => void): () => void {
    const e: SimEvent = { atMs: Math.max(atMs, this.now), order: this.order++, fn, cancelled: false };
    this.push(e);
    return () => {
      e.cancelled = true;
    };
  }

  /** Runs the next event; false when none is left. */
  step(): boolean {
    for (;;) {
      const e = this.pop();
      if (e === undefined) return false;
      if (e.cancelled) continue;
      assert(e.atMs >= this.now, 'simulated time never goes back');
      this.now = e.atMs;
      e.fn();
      return true;
    }
  }

  /** Runs the next event if it is due at or before `untilMs`; false when there is none. */
  stepUntil(untilMs: number): boolean {
    const next = this.peekTime();
    if (next === undefined || next > untilMs) return false;
    return this.step();
  }

  private peekTime(): number | undefined {
    while (this.heap.length > 0 && this.heap[0]!.cancelled) this.pop();
    return this.heap[0]?.atMs;
  }

  private less(a: SimEvent, b: SimEvent): boolean {
    return a.atMs < b.atMs || (a.atMs === b.atMs && a.order < b.order);
  }

  private push(e: SimEvent): void {
    const h = this.heap;
    h.push(e);
    let i = h.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!this.less(h[i]!, h[parent]!)) break;
      [h[i], h[parent]] = [h[parent]!, h[i]!];
      i = parent;
    }
  }

  private pop(): SimEvent | undefined {
    const h = this.heap;
    const top = h[0];
    const last = h.pop();
    if (h.length > 0 && last !== undefined) {
      h[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < h.length && this.less(h[l]!, h[m]!)) m = l;
        if (r < h.length && this.less(h[r]!, h[m]!)) m = r;
        if (m === i) break;
        [h[i], h[m]] = [h[m]!, h[i]!];
        i = m;
      }
    }
    return top;
  }
}
