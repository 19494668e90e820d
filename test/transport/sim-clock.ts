import { assert } from '../../common/errors.js';
import { MinHeap } from '../../common/min-heap.js';
import type { Scheduler } from '../../transport/scheduler.js';

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
  private readonly heap = new MinHeap<SimEvent>((a, b) => a.atMs < b.atMs || (a.atMs === b.atMs && a.order < b.order));

  constructor(startMs = 0) {
    this.now = startMs;
  }

  nowMs(): number {
    return this.now;
  }

  get pending(): number {
    return this.heap.size;
  }

  schedule(atMs: number, fn: () => void): () => void {
    const e: SimEvent = { atMs: Math.max(atMs, this.now), order: this.order++, fn, cancelled: false };
    this.heap.push(e);
    return () => {
      e.cancelled = true;
    };
  }

  /** Runs the next event; false when none is left. */
  step(): boolean {
    for (;;) {
      const e = this.heap.pop();
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
    while (this.heap.peek()?.cancelled) this.heap.pop();
    return this.heap.peek()?.atMs;
  }
}
