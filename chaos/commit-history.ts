import { compareGlt, maxGlt, type Glt } from '../glts/glt.js';

/** A committed round as rule D sees it: its GLT and its members (etcd's commit record). */
export interface CommittedRound {
  readonly T: Glt;
  readonly members: readonly string[];
}

/** An exclusion as the membership record in etcd states it: the region re-stamps its versions above `watermark` when readmitted. */
export interface Exclusion {
  readonly region: string;
  readonly watermark: Glt;
}

/**
 * What DESIGN.md rule D promises for a write a region acknowledged at `ts`:
 *  - `original`: it is in every snapshot ≥ ts with its original ts;
 *  - `restamped`: the region was excluded with a watermark below ts and readmitted (if
 *    at all) by a round at or above ts, whose collect re-stamped every own version above
 *    the watermark: the write keeps its value and origin and gets a new ts above `above`,
 *    the frontier when the region rejoined (the GLT committed before the round `rejoin`
 *    that readmitted it). `rejoin` undefined: not readmitted yet, so no snapshot may
 *    hold the write. When excluded again before that version was shipped, it is
 *    re-stamped again: the latest exclusion decides. The round after `rejoin`,
 *    `shippedBy`, ships the re-stamped version: its new ts is at or below that round's T.
 *    `maybe`: ts is above `rejoin` but not above the round after it — that collect closes
 *    at `rejoin` first and re-stamps next, so a write acknowledged in between (still
 *    excluded, never shipped) may be re-stamped too, or keep its ts;
 *  - `open`: no round covers ts yet.
 */
export type WriteFate =
  | { readonly kind: 'original' }
  | { readonly kind: 'restamped'; readonly above: Glt; readonly rejoin: Glt | undefined; readonly shippedBy: Glt | undefined; readonly maybe: boolean }
  | { readonly kind: 'open' };

/**
 * The committed rounds, in T order, and the exclusions of the membership records. An
 * exclusion and its readmission may both fall between two rounds, so the rounds alone
 * do not show every one; a round without a region that the one before had shows one
 * (the exclusion's watermark is the last round the region was a member of). The rounds
 * must be gap-free from before the first write judged.
 */
export class CommitHistory {
  /** Invariant: T strictly increasing. */
  private readonly rounds: CommittedRound[];
  /** Per region, the distinct exclusion watermarks. */
  private readonly exclusions = new Map<string, Glt[]>();

  constructor(rounds: Iterable<CommittedRound>, exclusions: Iterable<Exclusion> = []) {
    const sorted = [...rounds].sort((a, b) => compareGlt(a.T, b.T));
    this.rounds = sorted.filter((r, i) => i === 0 || compareGlt(sorted[i - 1]!.T, r.T) !== 0);
    const inferred: Exclusion[] = [];
    for (let i = 1; i < this.rounds.length; i++) {
      const prev = this.rounds[i - 1]!;
      for (const region of prev.members) if (!this.rounds[i]!.members.includes(region)) inferred.push({ region, watermark: prev.T });
    }
    for (const e of [...exclusions, ...inferred]) {
      const ws = this.exclusions.get(e.region) ?? [];
      if (!ws.some((w) => compareGlt(w, e.watermark) === 0)) ws.push(e.watermark);
      this.exclusions.set(e.region, ws);
    }
  }

  /** Every region excluded at some point of this history (a membership record, or a round without it). */
  excludedRegions(): string[] {
    return [...this.exclusions.keys()].sort();
  }

  fate(region: string, ts: Glt): WriteFate {
    // Only the latest exclusion below ts can matter: an earlier one was readmitted at or below it.
    const w = (this.exclusions.get(region) ?? []).filter((x) => compareGlt(x, ts) < 0).sort(compareGlt).at(-1);
    if (w) {
      let j = this.readmission(region, w);
      const covers = (i: number): boolean => i >= this.rounds.length || compareGlt(this.rounds[i]!.T, ts) >= 0;
      if (covers(j) || covers(j + 1)) {
        let maybe = !covers(j);
        let watermark = w;
        // Excluded again right after the readmitting round (watermark = its T): what it re-stamped
        // above that T was never shipped, and is re-stamped again at the next readmission.
        while (j < this.rounds.length && this.excludedAt(region, this.rounds[j]!.T)) {
          watermark = this.rounds[j]!.T;
          j = this.readmission(region, watermark);
          maybe = false;
        }
        const above = j > 0 ? maxGlt(this.rounds[j - 1]!.T, watermark) : watermark;
        return { kind: 'restamped', above, rejoin: this.rounds[j]?.T, shippedBy: this.rounds[j + 1]?.T, maybe };
      }
    }
    return this.firstAbove(ts, true) === this.rounds.length ? { kind: 'open' } : { kind: 'original' };
  }

  /**
   * Every exclusion before T was readmitted by a round below T: T's snapshot holds every
   * re-stamped write (the readmitting round re-stamps above its own T and ships them in
   * the next one).
   */
  settledAt(T: Glt): boolean {
    const t = this.firstAbove(T, true);
    if (t === this.rounds.length || compareGlt(this.rounds[t]!.T, T) !== 0) return false;
    for (const [region, ws] of this.exclusions) {
      for (const w of ws) if (compareGlt(w, T) < 0 && this.readmission(region, w) >= t) return false;
    }
    return true;
  }

  /**
   * The rounds right after readmissions (at most `limit`, the latest): the first
   * snapshots that hold a rejoined region's re-stamped writes, before later writes hide them.
   */
  afterReadmissions(limit: number): Glt[] {
    const out: Glt[] = [];
    for (const [region, ws] of this.exclusions) {
      for (const w of ws) {
        const next = this.rounds[this.readmission(region, w) + 1];
        if (next && !out.some((T) => compareGlt(T, next.T) === 0)) out.push(next.T);
      }
    }
    return out.sort(compareGlt).slice(-limit);
  }

  private excludedAt(region: string, watermark: Glt): boolean {
    return (this.exclusions.get(region) ?? []).some((w) => compareGlt(w, watermark) === 0);
  }

  /** The round that readmitted `region` after its exclusion at `watermark`: the first above it with the region a member (rounds.length if none). */
  private readmission(region: string, watermark: Glt): number {
    let j = this.firstAbove(watermark, false);
    while (j < this.rounds.length && !this.rounds[j]!.members.includes(region)) j++;
    return j;
  }

  /** The index of the first round with T ≥ ts (orEqual) or T > ts; rounds.length if none. */
  private firstAbove(ts: Glt, orEqual: boolean): number {
    let lo = 0;
    let hi = this.rounds.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      const c = compareGlt(this.rounds[mid]!.T, ts);
      if (c < 0 || (c === 0 && !orEqual)) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }
}
