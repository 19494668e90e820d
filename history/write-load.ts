/**
 * A bounded, seeded write load across regions through the client: mixed puts and deletes
 * at a target rate (total over all regions), open loop, over a keyspace. Every write is
 * recorded when — and only when — it is acknowledged, with the version the region
 * returned, so the LWW model (history/lww-model.ts) can say what every snapshot must hold.
 * Used by `demo`, `bench snapshot`, the chaos drills and the end-to-end model test.
 */
import { AetherError, assert, toAetherError } from '../common/errors.js';
import { compareGlt, type Glt } from '../glts/glt.js';
import { Random } from '../common/random.js';
import { LatencyHistogram } from '../common/latency-histogram.js';

/** What the load needs of a client (AetherClient has it). */
export interface WriteTarget {
  put(key: string, value: string, o: { readonly region: string }): Promise<{ readonly ts: Glt; readonly origin: string }>;
  delete(key: string, o: { readonly region: string }): Promise<{ readonly ts: Glt; readonly origin: string }>;
}

/** One acknowledged write: the version its region stamped. `value === null` is a delete. */
export interface AcknowledgedWrite {
  readonly region: string;
  readonly key: string;
  readonly value: string | null;
  readonly ts: Glt;
  readonly origin: string;
  /** performance.now() when the acknowledgement arrived. */
  readonly ackedAtMs: number;
}

export interface WriteLoadOptions {
  readonly regions: readonly string[];
  /** Target writes per second, total over all regions. */
  readonly ratePerS: number;
  /** Keys are `${keyPrefix}${0…keys-1}` (zero-padded), so regions write the same keys and LWW decides. */
  readonly keys: number;
  readonly keyPrefix: string;
  /** Share of writes that are deletes, in [0, 1]. */
  readonly deleteFraction: number;
  readonly valueBytes: number;
  readonly seed: number;
  /** Writes in flight at once; a write due beyond it is shed (counted, never sent). */
  readonly maxInFlight: number;
  /** Bounds of the whole run: it stops by itself at whichever comes first. */
  readonly maxWrites: number;
  readonly maxDurationMs: number;
  /** Keep every acknowledged write (for the model); off, only counts and latencies are kept. */
  readonly record: boolean;
  /** Called on every acknowledged write as it is acknowledged (e.g. to read it elsewhere at once). */
  readonly onAcknowledged?: (w: AcknowledgedWrite) => void;
}

/** The value the load writes as its n-th write (in `region`): text of about `valueBytes` bytes. */
export function loadValue(region: string, n: number, valueBytes: number): string {
  return `${region}:${n}:${'v'.repeat(Math.max(0, valueBytes - 12))}`;
}

export const DEFAULT_WRITE_LOAD: Omit<WriteLoadOptions, 'regions' | 'keyPrefix'> = {
  ratePerS: 1000,
  keys: 1000,
  deleteFraction: 0.2,
  valueBytes: 32,
  seed: 1,
  maxInFlight: 256,
  maxWrites: 1_000_000,
  maxDurationMs: 600_000,
  record: true,
};

export interface WriteLoadStats {
  readonly sent: number;
  readonly acknowledged: number;
  readonly shed: number;
  /** Failed writes by error code; a failed write is never in `acknowledged`. */
  readonly failures: Readonly<Record<string, number>>;
  readonly inFlight: number;
  /** Acknowledged writes per second since the start (until the stop, once stopped). */
  readonly writesPerS: number;
  readonly elapsedMs: number;
  readonly latencyMs: { readonly p50: number; readonly p95: number; readonly p99: number; readonly max: number };
}

/** How often the loop issues the writes that have come due. */
const TICK_MS = 5;

/**
 * idle → running (start) → stopping (stop, or a bound reached: no new writes, in-flight
 * ones finish) → stopped (nothing in flight). Only running issues writes.
 */
type LoadState = 'idle' | 'running' | 'stopping' | 'stopped';

export class WriteLoad {
  private state: LoadState = 'idle';
  private readonly o: WriteLoadOptions;
  private readonly rng: Random;
  /** Invariant: holds exactly the acknowledged writes, in acknowledgement order (when recording). */
  private readonly acked: AcknowledgedWrite[] = [];
  /** Acknowledged writes' latencies, ms; bounded by maxWrites like everything else here. */
  private readonly latencies: number[] = [];
  private readonly failureCounts = new Map<string, number>();
  /** Keys of failed writes: such a write may still have been applied (a timeout), so the model cannot vouch for them. Bounded by the keyspace. */
  private readonly uncertain = new Set<string>();
  private readonly pending = new Set<Promise<void>>();
  /** The greatest ts acknowledged so far: the deployment's clock as this client has seen it. */
  private newest: Glt | undefined;
  private sent = 0;
  private ackCount = 0;
  private shed = 0;
  private startedAtMs = 0;
  private stoppedAtMs = 0;
  private timer: NodeJS.Timeout | undefined;
  private readonly keyWidth: number;
  private stopped: Promise<void> | undefined;
  private resolveStopped: (() => void) | undefined;

  constructor(
    private readonly target: WriteTarget,
    options: Partial<WriteLoadOptions> & Pick<WriteLoadOptions, 'regions' | 'keyPrefix'>,
  ) {
    this.o = { ...DEFAULT_WRITE_LOAD, ...options };
    if (this.o.regions.length === 0) throw new AetherError('USAGE', 'a write load needs at least one region');
    if (!(this.o.ratePerS > 0) || !(this.o.keys >= 1) || !(this.o.maxInFlight >= 1)) throw new AetherError('USAGE', 'a write load needs rate > 0, keys ≥ 1 and maxInFlight ≥ 1');
    if (!(this.o.deleteFraction >= 0 && this.o.deleteFraction <= 1)) throw new AetherError('USAGE', 'deleteFraction must be in [0, 1]');
    this.rng = new Random(this.o.seed);
    this.keyWidth = String(this.o.keys - 1).length;
  }

  get options(): WriteLoadOptions {
    return this.o;
  }

  /** The key with index i of the keyspace. */
  key(i: number): string {
    return `${this.o.keyPrefix}${String(i).padStart(this.keyWidth, '0')}`;
  }

  start(): void {
    assert(this.state === 'idle', () => `start in state ${this.state}`);
    this.state = 'running';
    this.startedAtMs = performance.now();
    this.stopped = new Promise((resolve) => (this.resolveStopped = resolve));
    this.timer = setInterval(() => this.issueDue(), TICK_MS);
  }

  /** Stops issuing writes and resolves once every write in flight has settled. */
  async stop(): Promise<void> {
    if (this.state === 'idle') {
      this.state = 'stopped';
      return;
    }
    if (this.state === 'running') this.beginStop();
    await this.stopped;
  }

  /** Resolves when the run has stopped (by stop() or a bound). */
  done(): Promise<void> {
    assert(this.stopped !== undefined, 'done() before start()');
    return this.stopped;
  }

  get running(): boolean {
    return this.state === 'running';
  }

  /** The greatest timestamp any write was acknowledged with so far. */
  newestTs(): Glt | undefined {
    return this.newest;
  }

  /** Keys with a failed write, whose state the acknowledged writes alone do not decide. */
  uncertainKeys(): ReadonlySet<string> {
    return this.uncertain;
  }

  /** The acknowledged writes so far, in acknowledgement order. */
  acknowledged(): readonly AcknowledgedWrite[] {
    return this.acked;
  }

  stats(): WriteLoadStats {
    const end = this.state === 'stopped' || this.state === 'stopping' ? this.stoppedAtMs : performance.now();
    const elapsedMs = this.startedAtMs === 0 ? 0 : end - this.startedAtMs;
    const latency = LatencyHistogram.of(this.latencies);
    return {
      sent: this.sent,
      acknowledged: this.ackCount,
      shed: this.shed,
      failures: Object.fromEntries(this.failureCounts),
      inFlight: this.pending.size,
      writesPerS: elapsedMs > 0 ? (this.ackCount * 1000) / elapsedMs : 0,
      elapsedMs,
      latencyMs: { p50: latency.percentile(50), p95: latency.percentile(95), p99: latency.percentile(99), max: this.latencies.length ? this.latencies.reduce((a, b) => Math.max(a, b)) : Number.NaN },
    };
  }

  private beginStop(): void {
    assert(this.state === 'running', () => `beginStop in state ${this.state}`);
    this.state = 'stopping';
    this.stoppedAtMs = performance.now();
    clearInterval(this.timer);
    void Promise.all([...this.pending]).then(() => this.finish());
  }

  private finish(): void {
    if (this.pending.size > 0) {
      void Promise.all([...this.pending]).then(() => this.finish());
      return;
    }
    this.state = 'stopped';
    this.resolveStopped!();
  }

  /** Issues every write due by now under the open-loop schedule, within the bounds. */
  private issueDue(): void {
    if (this.state !== 'running') return;
    const elapsedMs = performance.now() - this.startedAtMs;
    const due = Math.min(this.o.maxWrites, Math.floor((elapsedMs * this.o.ratePerS) / 1000) + 1);
    while (this.sent + this.shed < due) {
      if (this.pending.size >= this.o.maxInFlight) this.shed++;
      else this.issueOne();
    }
    if (this.sent + this.shed >= this.o.maxWrites || elapsedMs >= this.o.maxDurationMs) this.beginStop();
  }

  private issueOne(): void {
    const n = this.sent++;
    const region = this.o.regions[n % this.o.regions.length]!;
    const key = this.key(this.rng.int(this.o.keys));
    const value = this.rng.next() < this.o.deleteFraction ? null : loadValue(region, n, this.o.valueBytes);
    const sentAtMs = performance.now();
    const p = (value === null ? this.target.delete(key, { region }) : this.target.put(key, value, { region })).then(
      (r) => {
        const ackedAtMs = performance.now();
        this.ackCount++;
        this.latencies.push(ackedAtMs - sentAtMs);
        if (this.newest === undefined || compareGlt(r.ts, this.newest) > 0) this.newest = r.ts;
        const w: AcknowledgedWrite = { region, key, value, ts: r.ts, origin: r.origin, ackedAtMs };
        if (this.o.record) this.acked.push(w);
        this.o.onAcknowledged?.(w);
      },
      (err: unknown) => {
        const code = toAetherError(err).code;
        this.failureCounts.set(code, (this.failureCounts.get(code) ?? 0) + 1);
        this.uncertain.add(key);
      },
    );
    const tracked = p.finally(() => this.pending.delete(tracked));
    this.pending.add(tracked);
  }
}
