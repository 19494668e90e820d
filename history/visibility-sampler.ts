/**
 * Cross-region visibility as a client sees it (`bench snapshot`): for every Nth
 * acknowledged write, a read of its key in every other region at once, with min_glt =
 * the write's ts, waiting for that region's frontier to reach it. Visibility is the time
 * from the write's acknowledgement to that read returning — what a user who was told
 * "written" and then reads elsewhere waits; nothing is compared with a frontier that may
 * sit in the future.
 *
 * The bookkeeping is pure (the reader and the clock are injected), so it is unit-tested:
 * bounded reads in flight (a sampled write that would exceed them is skipped and
 * counted), timeouts censored at the timeout, and every read checked — a read at a GLT ≥
 * the write's ts must return that write or a later version of the key, never an older one.
 */
import { toAetherError } from '../common/errors.js';
import { compareGlt, compareVersionOrder, formatGlt, type Glt } from '../glts/glt.js';
import type { AcknowledgedWrite } from './write-load.js';

/** What a visibility read returned. */
export interface VisibilityRead {
  readonly found: boolean;
  readonly version?: Glt;
  readonly origin?: string;
  /** The GLT it was served at (≥ the min_glt asked for). */
  readonly glt: Glt;
}

/** One read of `key` in `region` at a GLT ≥ `minGlt`, waiting up to `waitMs` for the frontier (SNAPSHOT_NOT_READY after). */
export type ReadAt = (region: string, key: string, minGlt: Glt, waitMs: number) => Promise<VisibilityRead>;

export interface VisibilitySamplerOptions {
  readonly regions: readonly string[];
  /** Sample every Nth acknowledged write (the first one included). */
  readonly every: number;
  /** Reads in flight at once; a sampled write whose reads would exceed it is skipped and counted. */
  readonly maxInFlight: number;
  /** Longest wait for a read; one that does not return by then is a timeout (counted as the timeout in percentiles). */
  readonly timeoutMs: number;
  /** The clock acknowledgements were taken with (performance.now()). */
  readonly now?: () => number;
}

/** A read that returned a version older than the write it checked (a consistency violation, unless the writer's region was excluded: rule D). */
export interface StaleRead {
  /** The region the write was acknowledged in. */
  readonly writer: string;
  readonly region: string;
  readonly key: string;
  readonly wrote: string;
  readonly got: string;
  readonly glt: string;
}

export interface VisibilityResult {
  /** Per reader region, ack → read returned (ms), ascending; timeouts not included. */
  readonly perRegionMs: ReadonlyMap<string, readonly number[]>;
  /** Every region's samples with each timeout counted as `timeoutMs`, ascending. */
  readonly censoredMs: readonly number[];
  readonly acknowledged: number;
  readonly sampledWrites: number;
  readonly reads: number;
  readonly skipped: number;
  readonly timeouts: number;
  readonly errors: number;
  readonly firstError?: string;
  readonly stale: readonly StaleRead[];
  /** Reads of a put that found the key absent: explained only by a later delete (see `unexplainedAbsences`). */
  readonly absent: number;
}

interface Absence {
  readonly writer: string;
  readonly key: string;
  readonly ts: Glt;
  readonly origin: string;
  readonly glt: Glt;
}

/** Stale reads kept as examples; the count goes on. */
const MAX_STALE_KEPT = 20;
/** Absences kept for the check at the end; beyond it they are counted as unexplained. */
const MAX_ABSENCES_KEPT = 100_000;

export class VisibilitySampler {
  private acks = 0;
  private inFlight = 0;
  private sampledWrites = 0;
  private reads = 0;
  private skipped = 0;
  private timeouts = 0;
  private errors = 0;
  private firstError: string | undefined;
  private staleCount = 0;
  /** Stale reads by the writer's region. */
  private readonly staleBy = new Map<string, number>();
  private readonly stale: StaleRead[] = [];
  private readonly absences: Absence[] = [];
  private absencesDropped = 0;
  private stopped = false;
  private readonly samples = new Map<string, number[]>();
  private readonly pending = new Set<Promise<void>>();
  private readonly now: () => number;

  constructor(
    private readonly readAt: ReadAt,
    private readonly o: VisibilitySamplerOptions,
  ) {
    if (!(o.every >= 1) || !(o.maxInFlight >= 1) || !(o.timeoutMs > 0)) throw new RangeError('every ≥ 1, maxInFlight ≥ 1 and timeoutMs > 0');
    for (const r of o.regions) this.samples.set(r, []);
    this.now = o.now ?? (() => performance.now());
  }

  /** Call on every acknowledged write: every Nth one is read in every other region at once. */
  onAck(w: AcknowledgedWrite): void {
    if (this.stopped) return;
    if (this.acks++ % this.o.every !== 0) return;
    const readers = this.o.regions.filter((r) => r !== w.region);
    if (readers.length === 0) return;
    if (this.inFlight + readers.length > this.o.maxInFlight) {
      this.skipped++;
      return;
    }
    this.sampledWrites++;
    for (const r of readers) {
      const p = this.check(r, w).finally(() => this.pending.delete(p));
      this.pending.add(p);
    }
  }

  /** No write is sampled from now on; reads in flight go on (drain waits for them). */
  stop(): void {
    this.stopped = true;
  }

  /** Resolves when every read in flight has returned or timed out. */
  async drain(): Promise<void> {
    while (this.pending.size > 0) await Promise.all([...this.pending]);
  }

  private async check(region: string, w: AcknowledgedWrite): Promise<void> {
    this.inFlight++;
    this.reads++;
    try {
      const r = await this.readAt(region, w.key, w.ts, this.o.timeoutMs);
      const ms = Math.max(0, this.now() - w.ackedAtMs);
      if (r.found && r.version !== undefined && compareVersionOrder(r.version, r.origin ?? '', w.ts, w.origin) < 0) {
        this.staleCount++;
        this.staleBy.set(w.region, (this.staleBy.get(w.region) ?? 0) + 1);
        if (this.stale.length < MAX_STALE_KEPT) this.stale.push({ writer: w.region, region, key: w.key, wrote: `${formatGlt(w.ts)} ${w.origin}`, got: `${formatGlt(r.version)} ${r.origin ?? '?'}`, glt: formatGlt(r.glt) });
      } else if (!r.found && w.value !== null) {
        if (this.absences.length < MAX_ABSENCES_KEPT) this.absences.push({ writer: w.region, key: w.key, ts: w.ts, origin: w.origin, glt: r.glt });
        else this.absencesDropped++;
      }
      if (ms > this.o.timeoutMs) this.timeouts++;
      else this.samples.get(region)!.push(ms);
    } catch (err) {
      const e = toAetherError(err);
      if (e.code === 'SNAPSHOT_NOT_READY') this.timeouts++;
      else {
        this.errors++;
        this.firstError ??= `${e.code}: ${e.message}`;
      }
    } finally {
      this.inFlight--;
    }
  }

  result(): VisibilityResult {
    const perRegionMs = new Map([...this.samples].map(([r, xs]) => [r, [...xs].sort((a, b) => a - b)]));
    const all = [...this.samples.values()].flat();
    for (let i = 0; i < this.timeouts; i++) all.push(this.o.timeoutMs);
    return {
      perRegionMs,
      censoredMs: all.sort((a, b) => a - b),
      acknowledged: this.acks,
      sampledWrites: this.sampledWrites,
      reads: this.reads,
      skipped: this.skipped,
      timeouts: this.timeouts,
      errors: this.errors,
      ...(this.firstError !== undefined ? { firstError: this.firstError } : {}),
      stale: this.staleCount > this.stale.length ? [...this.stale, { writer: '…', region: '…', key: `${this.staleCount - this.stale.length} more`, wrote: '', got: '', glt: '' }] : [...this.stale],
      absent: this.absences.length + this.absencesDropped,
    };
  }

  /**
   * Stale reads (including those not kept as examples), but for writes acknowledged in an
   * `excused` region: one excluded meanwhile, whose writes above its watermark stay hidden
   * until they are re-stamped (rule D) — a read may then rightly miss them.
   */
  staleReads(excused: ReadonlySet<string> = new Set()): number {
    let n = this.staleCount;
    for (const r of excused) n -= this.staleBy.get(r) ?? 0;
    return n;
  }

  /**
   * Reads of a put that found its key absent, not explained by an acknowledged delete of
   * the key with a version above the put's and at or below the read's GLT, nor by a
   * failed write of the key (it may have been applied), nor by the writer's region being
   * `excused` (see staleReads), nor by a delete of the key acknowledged in an `excused`
   * region — re-stamped above the frontier when its region rejoined, it may rightly win
   * over a later put (rule D's one exception to real-time order): each is an
   * acknowledged write a snapshot missed.
   */
  unexplainedAbsences(acked: readonly AcknowledgedWrite[], uncertainKeys: ReadonlySet<string>, excused: ReadonlySet<string> = new Set()): number {
    if (this.absences.length === 0) return this.absencesDropped;
    const wanted = new Set(this.absences.map((a) => a.key));
    const deletes = new Map<string, AcknowledgedWrite[]>();
    for (const w of acked) {
      if (w.value !== null || !wanted.has(w.key)) continue;
      const list = deletes.get(w.key) ?? [];
      list.push(w);
      deletes.set(w.key, list);
    }
    let unexplained = this.absencesDropped;
    for (const a of this.absences) {
      if (uncertainKeys.has(a.key) || excused.has(a.writer)) continue;
      const explained = (deletes.get(a.key) ?? []).some((d) => excused.has(d.region) || (compareVersionOrder(d.ts, d.origin, a.ts, a.origin) > 0 && compareGlt(d.ts, a.glt) <= 0));
      if (!explained) unexplained++;
    }
    return unexplained;
  }
}

/** Every how many acknowledged writes to sample so about `perSecond` writes a second are checked at `ratePerS`. */
export function sampleEvery(ratePerS: number, perSecond: number): number {
  if (!(ratePerS > 0) || !(perSecond > 0)) return 1;
  return Math.max(1, Math.round(ratePerS / perSecond));
}
