import { assert } from '../common/errors.js';
import type { SackBlock } from './packet.js';

export type ReceiveVerdict = 'new' | 'duplicate' | 'too_far' | 'too_many_ranges';

/**
 * The receiver's record of which sequences arrived: a cumulative point plus the ranges
 * received beyond it. Bounded in how far ahead a sequence may be and in how many ranges
 * it keeps, so a peer cannot grow it without limit; a sequence refused for either reason
 * is simply not acknowledged and comes back as a retransmission.
 */
export class ReceivedRanges {
  /** Next sequence expected: every sequence below it has been received. */
  private cumulativeSeq: number;
  /** Sorted, disjoint, non-adjacent half-open ranges; invariant: every start > cumulativeSeq. */
  private readonly ranges: { start: number; end: number }[] = [];
  /** The most recently received sequence, whose range leads the SACK blocks (RFC 2018). */
  private latestSeq = -1;

  constructor(
    initialSeq: number,
    private readonly options: { readonly maxRanges: number; readonly maxAheadPackets: number },
  ) {
    this.cumulativeSeq = initialSeq;
  }

  get cumulative(): number {
    return this.cumulativeSeq;
  }

  get rangeCount(): number {
    return this.ranges.length;
  }

  has(seq: number): boolean {
    if (seq < this.cumulativeSeq) return true;
    return this.ranges.some((r) => seq >= r.start && seq < r.end);
  }

  add(seq: number): ReceiveVerdict {
    if (this.has(seq)) return 'duplicate';
    if (seq >= this.cumulativeSeq + this.options.maxAheadPackets) return 'too_far';
    if (seq === this.cumulativeSeq) {
      this.cumulativeSeq++;
      const first = this.ranges[0];
      if (first !== undefined && first.start === this.cumulativeSeq) {
        this.cumulativeSeq = first.end;
        this.ranges.shift();
      }
    } else {
      let i = 0;
      while (i < this.ranges.length && this.ranges[i]!.end < seq) i++;
      const r = this.ranges[i];
      if (r !== undefined && r.end === seq) {
        r.end++;
        const next = this.ranges[i + 1];
        if (next !== undefined && next.start === r.end) {
          r.end = next.end;
          this.ranges.splice(i + 1, 1);
        }
      } else if (r !== undefined && r.start === seq + 1) {
        r.start = seq;
      } else {
        if (this.ranges.length >= this.options.maxRanges) return 'too_many_ranges';
        this.ranges.splice(i, 0, { start: seq, end: seq + 1 });
      }
    }
    this.latestSeq = seq;
    assert(this.ranges.every((r, j) => r.start > this.cumulativeSeq && r.start < r.end && (j === 0 || this.ranges[j - 1]!.end < r.start)), 'ranges sorted, disjoint, above the cumulative point');
    return 'new';
  }

  /** Up to `max` SACK blocks: the range holding the latest arrival first, then the highest others. */
  blocks(max: number): SackBlock[] {
    const out: SackBlock[] = [];
    const latest = this.ranges.find((r) => this.latestSeq >= r.start && this.latestSeq < r.end);
    if (latest !== undefined && max > 0) out.push({ start: latest.start, end: latest.end });
    for (let i = this.ranges.length - 1; i >= 0 && out.length < max; i--) {
      const r = this.ranges[i]!;
      if (r !== latest) out.push({ start: r.start, end: r.end });
    }
    return out;
  }
}
