import { AetherError, assert, toAetherError } from './errors.js';

/** What one item of a batch came to: its result, or the error that item alone failed with. */
export type Outcome<R> = { readonly value: R } | { readonly error: AetherError };

export interface BatcherOptions<I, R> {
  /** Sends one batch; resolves with one outcome per item, in order. A rejection fails every item of the batch. */
  readonly send: (items: readonly I[]) => Promise<readonly Outcome<R>[]>;
  /** Bytes an item adds to a batch (counted against maxBatchBytes). */
  readonly sizeOf: (item: I) => number;
  readonly maxBatchItems: number;
  /** An item larger than this still goes, alone. */
  readonly maxBatchBytes: number;
  /** Batches sent and not yet answered; while all are out, new items wait and join the next batch. */
  readonly maxBatchesInFlight: number;
  /** Items waiting to be sent; beyond this, submit fails with BUFFER_FULL (nothing is sent). */
  readonly maxQueuedItems: number;
}

interface Pending<I, R> {
  readonly item: I;
  readonly bytes: number;
  readonly resolve: (r: R) => void;
  readonly reject: (e: AetherError) => void;
}

/**
 * Coalesces concurrent single requests into batch calls, the way TiKV's client folds
 * requests into BatchCommands: one RPC carries every item submitted in the same turn of
 * the event loop, and while `maxBatchesInFlight` batches are out the next one grows
 * instead of a call per item. Each caller still gets its own item's outcome. The cost of
 * an RPC (HTTP/2 stream, headers, callbacks on both sides) is paid per batch.
 *
 * States per item: queued (in `queue`) → in flight (in a sent batch) → settled.
 */
export class Batcher<I, R> {
  /** Items not yet sent, in submit order; length ≤ maxQueuedItems. */
  private readonly queue: Pending<I, R>[] = [];
  /** Batches sent and not yet settled; ≤ maxBatchesInFlight. */
  private inFlight = 0;
  /** A flush is scheduled for the end of this turn (setImmediate), so same-turn submits share a batch. */
  private flushScheduled = false;

  constructor(private readonly o: BatcherOptions<I, R>) {
    assert(o.maxBatchItems >= 1 && o.maxBatchesInFlight >= 1 && o.maxQueuedItems >= o.maxBatchItems, 'batcher bounds');
  }

  submit(item: I): Promise<R> {
    if (this.queue.length >= this.o.maxQueuedItems) {
      return Promise.reject(new AetherError('BUFFER_FULL', `${this.queue.length} requests already wait to be sent (bound ${this.o.maxQueuedItems})`, { details: { queued: this.queue.length } }));
    }
    return new Promise<R>((resolve, reject) => {
      this.queue.push({ item, bytes: this.o.sizeOf(item), resolve, reject });
      this.scheduleFlush();
    });
  }

  /** Items waiting to be sent (not counting those in flight). */
  get queued(): number {
    return this.queue.length;
  }

  private scheduleFlush(): void {
    if (this.flushScheduled || this.inFlight >= this.o.maxBatchesInFlight) return;
    this.flushScheduled = true;
    setImmediate(() => {
      this.flushScheduled = false;
      this.flush();
    });
  }

  private flush(): void {
    while (this.queue.length > 0 && this.inFlight < this.o.maxBatchesInFlight) this.sendOne(this.takeBatch());
  }

  private takeBatch(): Pending<I, R>[] {
    let bytes = 0;
    let n = 0;
    while (n < this.queue.length && n < this.o.maxBatchItems && (n === 0 || bytes + this.queue[n]!.bytes <= this.o.maxBatchBytes)) bytes += this.queue[n++]!.bytes;
    return this.queue.splice(0, n);
  }

  private sendOne(batch: Pending<I, R>[]): void {
    this.inFlight++;
    let sent: Promise<readonly Outcome<R>[]>;
    try {
      sent = this.o.send(batch.map((p) => p.item));
    } catch (err) {
      sent = Promise.reject(err);
    }
    sent
      .then(
        (outcomes) => {
          assert(outcomes.length === batch.length, () => `a batch of ${batch.length} came back with ${outcomes.length} outcomes`);
          outcomes.forEach((o, i) => ('error' in o ? batch[i]!.reject(o.error) : batch[i]!.resolve(o.value)));
        },
        (err: unknown) => {
          const e = toAetherError(err);
          for (const p of batch) p.reject(e);
        },
      )
      .finally(() => {
        this.inFlight--;
        if (this.queue.length > 0) this.scheduleFlush();
      });
  }
}
