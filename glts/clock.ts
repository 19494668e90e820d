import HLC from '@consento/hlc';
import { ClockOffsetError, assert } from '../common/errors.js';
import { compareGlt, type Glt } from './glt.js';

/** A source of physical time in ns since the Unix epoch; simulators pass a fake one. */
export type PhysicalClock = () => bigint;

export interface ClockOptions {
  /** Largest tolerated skew between any two nodes' physical clocks (topology `clock.maxOffsetMs`). */
  readonly maxOffsetMs: number;
  readonly physicalNs?: PhysicalClock;
  /** A timestamp the clock must never go below (e.g. restored after a restart). */
  readonly floor?: Glt;
}

/** The uncertainty interval around now: the true time lies in [earliest, latest]. */
export interface Interval {
  readonly earliest: Glt;
  readonly latest: Glt;
}

const NS_PER_MS = 1_000_000n;

export function systemPhysicalNs(): bigint {
  return BigInt(Date.now()) * NS_PER_MS + (process.hrtime.bigint() % NS_PER_MS);
}

/**
 * GLTS: a hybrid logical clock (from @consento/hlc) with an uncertainty interval and a
 * max-offset guard.
 *
 * The library's own offset check is off (maxOffset 0 there) because it checks the
 * clock's *own* last timestamp too: after `advancePast(T)` for a T near the top of the
 * interval, its check would refuse our own next stamp. The guard for remote timestamps
 * is applied here, in `update`.
 */
export class Clock {
  readonly maxOffsetNs: bigint;
  private readonly physicalNs: PhysicalClock;
  private readonly hlc: HLC;

  constructor(options: ClockOptions) {
    assert(Number.isFinite(options.maxOffsetMs) && options.maxOffsetMs >= 0, 'maxOffsetMs must be ≥ 0');
    this.maxOffsetNs = BigInt(Math.round(options.maxOffsetMs * 1e6));
    this.physicalNs = options.physicalNs ?? systemPhysicalNs;
    this.hlc = new HLC({ wallTime: this.physicalNs, maxOffset: 0n });
    if (options.floor) this.hlc.update(new HLC.Timestamp(options.floor.wall, options.floor.logical));
  }

  /** A fresh timestamp, strictly greater than every timestamp this clock issued or saw. */
  stamp(): Glt {
    const t = this.hlc.now();
    return { wall: t.wallTime, logical: t.logical };
  }

  /** The uncertainty interval around a fresh reading: now ∓ maxOffset. */
  now(): Interval {
    const t = this.stamp();
    return {
      earliest: { wall: t.wall > this.maxOffsetNs ? t.wall - this.maxOffsetNs : 0n, logical: t.logical },
      latest: { wall: t.wall + this.maxOffsetNs, logical: t.logical },
    };
  }

  /** The greatest timestamp issued or seen so far, without advancing. */
  last(): Glt {
    return { wall: this.hlc.last.wallTime, logical: this.hlc.last.logical };
  }

  /**
   * Takes in a timestamp received from another node. Refuses (CLOCK_OFFSET) one more
   * than maxOffset ahead of our physical clock, as CockroachDB's max-offset check does:
   * either that node's clock or ours is broken, and accepting would drag ours along.
   */
  update(remote: Glt): void {
    const aheadNs = remote.wall - this.physicalNs();
    if (aheadNs > this.maxOffsetNs) throw new ClockOffsetError(aheadNs, this.maxOffsetNs);
    this.hlc.update(new HLC.Timestamp(remote.wall, remote.logical));
  }

  /**
   * Moves the clock so every later `stamp()` is strictly above `t` (a snapshot's GLT
   * being closed). A coordinator picks T at the top of its own interval, so T may lead
   * our physical clock by up to 2·maxOffset; more than that is refused.
   */
  advancePast(t: Glt): void {
    if (compareGlt(this.last(), t) >= 0) return;
    const aheadNs = t.wall - this.physicalNs();
    if (aheadNs > 2n * this.maxOffsetNs) throw new ClockOffsetError(aheadNs, 2n * this.maxOffsetNs);
    this.hlc.update(new HLC.Timestamp(t.wall, t.logical));
    assert(compareGlt(this.last(), t) >= 0, 'clock did not advance to t');
  }
}
