import { randomBytes } from 'node:crypto';
import type { AetherClient } from '../client/client.js';
import { toAetherError } from '../common/errors.js';
import { compareGlt, type Glt } from '../glts/glt.js';
import type { AcknowledgedWrite } from '../history/write-load.js';
import { valueId } from '../history/snapshot-model.js';

export interface BulkLoadOptions {
  readonly regions: readonly string[];
  /** Keys are `${keyPrefix}${region}/${n}`: each write its own key, so the final snapshot must hold every one. */
  readonly keyPrefix: string;
  readonly valueBytes: number;
  /** Bounds of the run: it stops by itself at whichever comes first. */
  readonly maxBytes: number;
  readonly maxDurationMs: number;
  /** Writes in flight at once. */
  readonly concurrency: number;
}

export interface BulkLoadStats {
  readonly acknowledged: number;
  readonly bytes: number;
  readonly failures: Readonly<Record<string, number>>;
  readonly elapsedMs: number;
}

const FAILURE_BACKOFF_MS = 50;

/**
 * Closed-loop puts of random (incompressible, so the WAN carries every byte) values,
 * round-robin over `regions`, until `maxBytes` are acknowledged or `maxDurationMs` has
 * passed. Every acknowledged write is recorded with its value's digest (valueId) only,
 * so hundreds of MB written cost a few MB here.
 */
export class BulkLoad {
  private readonly acked: AcknowledgedWrite[] = [];
  private readonly failedKeys = new Set<string>();
  /** Failed writes by error code. */
  private readonly failures = new Map<string, number>();
  private newest: Glt | undefined;
  private next = 0;
  private bytes = 0;
  private startedAtMs = 0;
  private stoppedAtMs = 0;
  private stopping = false;
  private running: Promise<void> | undefined;

  constructor(
    private readonly client: Pick<AetherClient, 'put'>,
    private readonly o: BulkLoadOptions,
  ) {}

  /** The most writes a run can issue: every write is at least this big. */
  get maxWrites(): number {
    return Math.ceil(this.o.maxBytes / this.o.valueBytes) + this.o.concurrency;
  }

  start(): void {
    this.startedAtMs = performance.now();
    this.running = Promise.all(Array.from({ length: this.o.concurrency }, () => this.worker())).then(() => {
      this.stoppedAtMs = performance.now();
    });
  }

  /** Resolves once the run has stopped by a bound (or `stop`) and nothing is in flight. */
  done(): Promise<void> {
    return this.running ?? Promise.resolve();
  }

  async stop(): Promise<void> {
    this.stopping = true;
    await this.done();
  }

  acknowledged(): readonly AcknowledgedWrite[] {
    return this.acked;
  }

  /** Keys of failed writes: such a write may have landed all the same. */
  uncertainKeys(): ReadonlySet<string> {
    return this.failedKeys;
  }

  newestTs(): Glt | undefined {
    return this.newest;
  }

  stats(): BulkLoadStats {
    const end = this.stoppedAtMs || performance.now();
    return { acknowledged: this.acked.length, bytes: this.bytes, failures: Object.fromEntries(this.failures), elapsedMs: this.startedAtMs ? end - this.startedAtMs : 0 };
  }

  private within(): boolean {
    return !this.stopping && this.bytes < this.o.maxBytes && this.next < this.maxWrites && performance.now() - this.startedAtMs < this.o.maxDurationMs;
  }

  private async worker(): Promise<void> {
    while (this.within()) {
      const n = this.next++;
      const region = this.o.regions[n % this.o.regions.length]!;
      const key = `${this.o.keyPrefix}${region}/${n}`;
      const value = randomBytes(this.o.valueBytes);
      try {
        const r = await this.client.put(key, value, { region });
        this.bytes += value.length;
        if (this.newest === undefined || compareGlt(r.ts, this.newest) > 0) this.newest = r.ts;
        this.acked.push({ region, key, value: valueId(value), ts: r.ts, origin: r.origin, ackedAtMs: performance.now() });
      } catch (err) {
        this.failedKeys.add(key);
        const code = toAetherError(err).code;
        this.failures.set(code, (this.failures.get(code) ?? 0) + 1);
        // Refused or timed out: back off a little rather than spin on a region that cannot take writes.
        await new Promise((r) => setTimeout(r, FAILURE_BACKOFF_MS));
      }
    }
  }
}
