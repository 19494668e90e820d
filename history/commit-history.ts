import { compareGlt, type Glt } from '../glts/glt.js';
import type { MembershipRecord, RestampRecord } from '../kernel/records.js';
import { Visibility } from './visibility.js';

/** A commit as the history needs it (etcd's commit record has more). */
export interface CommitPoint {
  readonly T: Glt;
  readonly members: readonly string[];
  /** The membership version T was decided under: every region serving T carried out its rules. */
  readonly membershipVersion: number;
}

/**
 * What rule D (the invariants in README.md) promises for a write a region acknowledged at `ts`, by the
 * commits and membership records seen (history/visibility.ts has the rules):
 *  - `original`: in every snapshot ≥ ts with its own ts;
 *  - `restamped`: a readmission's rule moves it to the floor's wall tick, just above the
 *    frontier of the time its region rejoined (its rank among the region's versions of
 *    the key decides the logical part); in every snapshot from there on;
 *  - `hidden`: its region is excluded now and ts is above the bound it is hidden above: in
 *    no snapshot until a readmission re-stamps it;
 *  - `open`: no commit covers ts yet whose membership version is known, so whether a
 *    readmission re-stamps it is not known either.
 */
export type WriteFate =
  | { readonly kind: 'original' }
  | { readonly kind: 'restamped'; readonly rule: RestampRecord }
  | { readonly kind: 'hidden'; readonly hiddenAbove: Glt }
  | { readonly kind: 'open' };

/**
 * The commits and membership records seen (etcd's, through their watches, which may
 * deliver a commit before the membership record it was decided under). A commit is
 * *settled* once its membership version is seen: its snapshot is then fully modelled.
 */
export class CommitHistory {
  /** Invariant: T strictly increasing. */
  private readonly commits: CommitPoint[];
  readonly visibility: Visibility;

  constructor(commits: Iterable<CommitPoint>, memberships: Iterable<MembershipRecord>) {
    const sorted = [...commits].sort((a, b) => compareGlt(a.T, b.T));
    this.commits = sorted.filter((c, i) => i === 0 || compareGlt(sorted[i - 1]!.T, c.T) !== 0);
    this.visibility = new Visibility(memberships);
  }

  /** Every region excluded at some point of this history (a membership record, or a commit without it). */
  excludedRegions(): string[] {
    const out = new Set<string>();
    for (const e of this.visibility.excludedNow) out.add(e.region);
    for (const r of this.visibility.restampRules()) out.add(r.region);
    const all = new Set(this.commits.flatMap((c) => c.members));
    for (const c of this.commits) for (const r of all) if (!c.members.includes(r)) out.add(r);
    return [...out].sort();
  }

  fate(region: string, ts: Glt): WriteFate {
    const e = this.visibility.excludedNow.find((x) => x.region === region);
    if (e && compareGlt(ts, e.hiddenAbove) > 0) return { kind: 'hidden', hiddenAbove: e.hiddenAbove };
    // A readmission decided after the last settled commit may still re-stamp ts.
    const covering = this.commits[this.firstAtOrAbove(ts)];
    if (!covering || !this.settled(covering)) return { kind: 'open' };
    const rule = this.visibility.ruleOf(region, ts);
    return rule ? { kind: 'restamped', rule } : { kind: 'original' };
  }

  /** T is a commit whose membership version is seen. */
  settledAt(T: Glt): boolean {
    const c = this.commits[this.firstAtOrAbove(T)];
    return c !== undefined && compareGlt(c.T, T) === 0 && this.settled(c);
  }

  /**
   * The first commit of each readmission's membership version (at most `limit`, the
   * latest): the first snapshots that hold a rejoined region's re-stamped writes, before
   * later writes hide them.
   */
  afterReadmissions(limit: number): Glt[] {
    const out: Glt[] = [];
    for (const r of this.visibility.restampRules()) {
      const first = this.commits.find((c) => c.membershipVersion >= r.version);
      if (first && !out.some((T) => compareGlt(T, first.T) === 0)) out.push(first.T);
    }
    return out.sort(compareGlt).slice(-limit);
  }

  private settled(c: CommitPoint): boolean {
    return c.membershipVersion <= this.visibility.membershipVersion;
  }

  /** The index of the first commit with T ≥ ts; commits.length if none. */
  private firstAtOrAbove(ts: Glt): number {
    let lo = 0;
    let hi = this.commits.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (compareGlt(this.commits[mid]!.T, ts) < 0) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }
}
