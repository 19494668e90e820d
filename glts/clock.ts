import HLC from '@consento/hlc';
import { assert } from '../common/errors.js';
import type { Glt } from './glt.js';

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

/**
 * The process's time origin in ns, split into whole and fractional ms: the product with
 * 1e6 in one double (~1.8e18) would lose ~256 ns to rounding.
 */
const ORIGIN_MS = Math.floor(performance.timeOrigin);
const ORIGIN_NS = BigInt(ORIGIN_MS) * 1_000_000n + BigInt(Math.round((performance.timeOrigin - ORIGIN_MS) * 1e6));

/**
 * Physical time in ns: `performance.timeOrigin + performance.now()`. Sub-ms precision and
 * the same reading in every process of a machine (docs/architecture.md "The snapshot pipeline"), where `Date.now()`
 * plus a process's own hrtime added per-process noise below the ms.
 */
export function systemPhysicalNs(): bigint {
  return ORIGIN_NS + BigInt(Math.round(performance.now() * 1e6));
}

/**
 * GLTS: a hybrid logical clock (from @consento/hlc) with an uncertainty interval. It runs
 * at real time: nothing pushes it ahead (v2 takes closed marks as readings and never
 * moves a clock for a commit or a GC), only a floor restored after a restart can hold it
 * above the physical clock, until the physical clock passes it.
 *
 * The library's offset check is off (maxOffset 0): the clock takes in no remote
 * timestamps, and its own floor may legitimately lead the physical clock.
 */
export class Clock {
  readonly maxOffsetNs: bigint;
  private readonly hlc: HLC;

  constructor(options: ClockOptions) {
    assert(Number.isFinite(options.maxOffsetMs) && options.maxOffsetMs >= 0, 'maxOffsetMs must be ≥ 0');
    this.maxOffsetNs = BigInt(Math.round(options.maxOffsetMs * 1e6));
    this.hlc = new HLC({ wallTime: options.physicalNs ?? systemPhysicalNs, maxOffset: 0n });
    if (options.floor) this.hlc.update(new HLC.Timestamp(options.floor.wall, options.floor.logical));
  }

  /** A fresh timestamp, strictly greater than every timestamp this clock issued (or its floor). */
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

  /** The greatest timestamp issued so far (or the floor), without advancing. */
  last(): Glt {
    return { wall: this.hlc.last.wallTime, logical: this.hlc.last.logical };
  }
}
