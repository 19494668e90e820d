import { performance } from 'node:perf_hooks';
import { AetherError } from '../common/errors.js';
import { compareGlt, type Glt } from '../glts/glt.js';
import { EMPTY_BATCH, type VersionBatch } from './delta.js';
import type { Store } from './store.js';

/** Bytes of entries per batch when the reader does not say: a few ms of a busy node's writes, far below a gRPC message. */
export const DEFAULT_BATCH_BYTES = 256 << 10;
/**
 * The most a reader may ask per batch. A batch is one gRPC message (64 MiB at most) and
 * one store read; the store returns at least one version however small the limit, so a
 * batch can exceed its limit by one 1 MiB value, never the message bound.
 */
export const MAX_BATCH_BYTES = 16 << 20;
/** The longest delay or mark interval a reader may ask: marks rarer than this would look like a dead node. */
export const MAX_FEED_WAIT_MS = 60_000;

export interface FeedOptions {
  /** About how many bytes of entries one batch holds (DEFAULT_BATCH_BYTES). */
  readonly maxBatchBytes?: number;
  /** How long after own writes became durable their batch is read (2 ms): writes that follow meanwhile join it. */
  readonly batchDelayMs?: number;
  /**
   * The shortest gap between two reads while writes keep coming (0): a busy node's writes
   * then go in one batch per gap instead of one per write — every batch costs the leader a
   * cut, Ships and applies in every region, whatever it carries.
   */
  readonly batchGapMs?: number;
  /** With no writes, a mark-only batch this long after the last batch (25 ms: about the commit interval / 2). */
  readonly idleMarkMs?: number;
  /**
   * Once the node has been quiet — no own writes and no nudge for activeForMs — marks this
   * far apart instead (undefined: always idleMarkMs). A quiet deployment then costs
   * little; a nudge (its leader saw versions flow) or a write makes it active at once.
   */
  readonly quietMarkMs?: number;
  readonly activeForMs?: number;
}

/** Time as a feed sees it; the deterministic simulator passes its own. */
export interface FeedTimers {
  /** Milliseconds on a monotonic clock. */
  now(): number;
  /** Calls `fn` once, `ms` from now; returns a function that cancels the call. */
  after(ms: number, fn: () => void): () => void;
}

export const REAL_TIMERS: FeedTimers = {
  now: () => performance.now(),
  after: (ms, fn) => {
    const timer = setTimeout(fn, ms);
    return () => clearTimeout(timer);
  },
};

/** Own versions with ts in (from, to]; `to` is at or below the node's closed mark. */
export interface FeedBatch {
  readonly from: Glt;
  readonly to: Glt;
  readonly batch: VersionBatch;
}

function option(value: number | undefined, fallback: number, min: number, max: number, name: string): number {
  if (value === undefined) return fallback;
  if (!Number.isSafeInteger(value) || value < min || value > max) throw new AetherError('INVALID_ARGUMENT', `feed ${name} must be an integer in [${min}, ${max}], got ${value}`);
  return value;
}

/**
 * One data node's feed to its leader (docs/architecture.md "The snapshot pipeline"): its own-origin versions from a
 * position on, in ts order, read from the change index in batches that chain (each one's
 * `from` is the previous one's `to`), each ending at or below the closed mark.
 *
 * A batch is read `batchDelayMs` after own writes became durable, or `idleMarkMs` after
 * the last batch when there were none (a mark-only batch: the leader learns the node's
 * closed mark advanced). A read stopped by the byte limit is followed at once by the
 * next. The feed reads only when its consumer asks for the next batch, so a consumer that
 * waits for its stream to drain holds the feed back and nothing piles up in memory: the
 * change index is the buffer.
 */
export class Feed implements AsyncIterable<FeedBatch> {
  private readonly maxBatchBytes: number;
  private readonly batchDelayMs: number;
  private readonly batchGapMs: number;
  private readonly idleMarkMs: number;
  private readonly quietMarkMs: number | undefined;
  private readonly activeForMs: number;
  /** Marks every idleMarkMs until then (timers.now()), every quietMarkMs after. */
  private activeUntil = -Infinity;
  /** A nudge asked for a mark at once. */
  private nudged = false;
  private pos: Glt;
  /** When (timers.now()) own writes first became durable since the last read; undefined when none did. */
  private writesAt: number | undefined;
  /** When the last read began; -Infinity before the first, so a new feed reads at once (a resuming leader catches up). */
  private lastAt = -Infinity;
  /** The last read stopped at the byte limit below the mark: read on without waiting. */
  private behind = false;
  /**
   * Own writes became durable since the last read began (true at first: a new feed reads
   * what is already there). A read without them has nothing to find: every write stamped
   * at or below a closed mark is durable — and notified — before the mark is returned.
   */
  private dirty = true;
  private stopped = false;
  /** Ends the current wait early (new writes, stop). */
  private wake: (() => void) | undefined;
  private readonly unsubscribe: () => void;

  constructor(
    private readonly store: Store,
    from: Glt,
    options: FeedOptions = {},
    private readonly timers: FeedTimers = REAL_TIMERS,
  ) {
    this.maxBatchBytes = option(options.maxBatchBytes, DEFAULT_BATCH_BYTES, 1, MAX_BATCH_BYTES, 'maxBatchBytes');
    this.batchDelayMs = option(options.batchDelayMs, 2, 0, MAX_FEED_WAIT_MS, 'batchDelayMs');
    this.batchGapMs = option(options.batchGapMs, 0, 0, MAX_FEED_WAIT_MS, 'batchGapMs');
    this.idleMarkMs = option(options.idleMarkMs, 25, 1, MAX_FEED_WAIT_MS, 'idleMarkMs');
    this.quietMarkMs = options.quietMarkMs === undefined ? undefined : option(options.quietMarkMs, 0, 1, MAX_FEED_WAIT_MS, 'quietMarkMs');
    this.activeForMs = option(options.activeForMs, 1000, 1, MAX_FEED_WAIT_MS, 'activeForMs');
    this.pos = from;
    this.unsubscribe = store.onOwnWrites(() => this.ownWrites());
  }

  /** Where the next batch starts: the last batch's `to`. */
  get position(): Glt {
    return this.pos;
  }

  /**
   * The next batch, once it is due; undefined once stopped. One call at a time. A store
   * failure rejects, and the feed is then best stopped (its position is still right).
   */
  async next(): Promise<FeedBatch | undefined> {
    while (!this.stopped) {
      if (!this.behind) await this.untilDue();
      if (this.stopped) break;
      // Writes noticed from here on may be past the mark taken below: they wait for the next read.
      this.writesAt = undefined;
      const mustRead = this.dirty || this.behind;
      this.dirty = false;
      this.behind = false;
      this.lastAt = this.timers.now();
      const closed = await this.store.closedMark();
      if (this.stopped) break;
      // A position above the node's mark (a leader resuming from a mark this node reported
      // before a restart) has nothing to send until the mark passes it: try again later.
      if (compareGlt(closed, this.pos) <= 0) continue;
      if (!mustRead && !this.dirty) {
        // Idle: the mark alone, without touching the store (the common case of a quiet node).
        const mark: FeedBatch = { from: this.pos, to: closed, batch: EMPTY_BATCH };
        this.pos = closed;
        return mark;
      }
      const read = await this.store.changes(this.store.origin, this.pos, closed, this.maxBatchBytes);
      if (this.stopped) break;
      const out: FeedBatch = { from: this.pos, to: read.end, batch: read.versions };
      this.pos = read.end;
      this.behind = compareGlt(read.end, closed) < 0;
      return out;
    }
    return undefined;
  }

  /** Active now: a mark at once, then marks every idleMarkMs for activeForMs. */
  nudge(): void {
    this.activeUntil = this.timers.now() + this.activeForMs;
    this.nudged = true;
    this.wake?.();
  }

  /** Ends the feed: a pending `next` resolves undefined, and the store listener is dropped. Idempotent. */
  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    this.unsubscribe();
    this.wake?.();
  }

  /** The batches until `stop` (or a store failure); leaving the loop stops the feed. */
  async *[Symbol.asyncIterator](): AsyncGenerator<FeedBatch> {
    try {
      for (let b = await this.next(); b !== undefined; b = await this.next()) yield b;
    } finally {
      this.stop();
    }
  }

  private ownWrites(): void {
    this.dirty = true;
    this.activeUntil = this.timers.now() + this.activeForMs;
    if (this.writesAt !== undefined) return;
    this.writesAt = this.timers.now();
    this.wake?.();
  }

  /** Waits until a read is due: batchDelayMs after own writes, the mark period after the last read (or now, nudged), whichever comes first. */
  private async untilDue(): Promise<void> {
    while (!this.stopped) {
      if (this.nudged) {
        this.nudged = false;
        return;
      }
      const quiet = this.quietMarkMs !== undefined && this.timers.now() >= this.activeUntil;
      let due = this.lastAt + (quiet ? this.quietMarkMs! : this.idleMarkMs);
      if (this.writesAt !== undefined) due = Math.min(due, Math.max(this.writesAt + this.batchDelayMs, this.lastAt + this.batchGapMs));
      const waitMs = due - this.timers.now();
      if (waitMs <= 0) return;
      await new Promise<void>((resolve) => {
        const cancel = this.timers.after(waitMs, () => this.wake?.());
        this.wake = () => {
          this.wake = undefined;
          cancel();
          resolve();
        };
      });
    }
  }
}
