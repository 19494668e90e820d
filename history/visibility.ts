import { compareGlt, compareVersionOrder, type Glt } from '../glts/glt.js';
import type { ExcludedRegion, MembershipRecord, RestampRecord } from '../kernel/records.js';

/** A version as the re-stamp rules see it: its key, its original stamp, its data node and the region that wrote it. */
export interface RegionVersion {
  readonly key: string;
  readonly ts: Glt;
  readonly origin: string;
  readonly region: string;
}

/**
 * Where a region's versions show in the snapshots, by the membership records (docs/architecture.md
 * "Failure rules": exclusion and readmission), the model the simulator, the drills and the end-to-end tests
 * share. A version of region X shows from its *visible stamp* on:
 *  - re-stamped, when a readmission of X has a rule with above < ts ≤ upTo: at
 *    (floor.wall, floor.logical + r), r its rank among X's versions of that key in the
 *    rule's range, in (ts, origin) order — the same in every region;
 *  - hidden (in no snapshot yet), when X is excluded now and ts is above its hidden bound;
 *  - otherwise at its own ts.
 * Rules do not overlap (a rule's `above` is at least the previous rule's `upTo`), and a
 * version's stamp stays right for every snapshot committed before the rule: those lie
 * below the floor, and so below both the new stamp and the original one.
 */
export class Visibility {
  /** Every readmission's rule seen, by membership version. */
  private readonly rules = new Map<number, RestampRecord>();
  /** The exclusions of the newest membership record seen. */
  private excluded: readonly ExcludedRegion[] = [];
  private version = 0;

  constructor(records: Iterable<MembershipRecord> = []) {
    for (const m of records) this.add(m);
  }

  /** Takes a membership record, in any order: every rule counts (a record keeps only the newest), the newest record's exclusions count. */
  add(m: MembershipRecord): void {
    for (const r of m.restamps) this.rules.set(r.version, r);
    if (m.version > this.version) {
      this.version = m.version;
      this.excluded = m.excluded;
    }
  }

  /** The newest membership version seen (0 before any). */
  get membershipVersion(): number {
    return this.version;
  }

  /** Regions excluded now, with the bound above which their versions are hidden. */
  get excludedNow(): readonly ExcludedRegion[] {
    return this.excluded;
  }

  /** Every rule seen, oldest first. */
  restampRules(): RestampRecord[] {
    return [...this.rules.values()].sort((a, b) => a.version - b.version);
  }

  /** The readmission rule that re-stamps `region`'s versions at ts, if any. */
  ruleOf(region: string, ts: Glt): RestampRecord | undefined {
    for (const r of this.rules.values()) if (r.region === region && compareGlt(ts, r.above) > 0 && compareGlt(ts, r.upTo) <= 0) return r;
    return undefined;
  }

  /** Whether `region`'s versions at ts are hidden now (excluded, not yet readmitted). */
  hidden(region: string, ts: Glt): boolean {
    const e = this.excluded.find((x) => x.region === region);
    return e !== undefined && compareGlt(ts, e.hiddenAbove) > 0;
  }

  /**
   * Where `v` shows (see the class comment); undefined while hidden. `sameKey` holds the
   * versions of v's key known to the caller, v among them: the rank counts those of v's
   * region inside the rule's range.
   */
  stamp(v: RegionVersion, sameKey: Iterable<RegionVersion>): Glt | undefined {
    const rule = this.ruleOf(v.region, v.ts);
    if (rule) return restampedAt(rule, rankIn(rule, v, sameKey));
    return this.hidden(v.region, v.ts) ? undefined : v.ts;
  }
}

/** The stamp of the version of rank r (1, 2, …) re-stamped by `rule`. */
export function restampedAt(rule: RestampRecord, rank: number): Glt {
  return { wall: rule.floor.wall, logical: rule.floor.logical + rank };
}

/** Whether `ts` is one a rule may give: above its floor, on the floor's wall tick. */
export function inRestampBand(rule: RestampRecord, ts: Glt): boolean {
  return ts.wall === rule.floor.wall && ts.logical > rule.floor.logical;
}

/** v's rank (1-based) among the versions of `sameKey` that `rule` re-stamps, in (ts, origin) order. */
function rankIn(rule: RestampRecord, v: RegionVersion, sameKey: Iterable<RegionVersion>): number {
  let rank = 1;
  for (const x of sameKey) {
    if (x.region !== rule.region || compareGlt(x.ts, rule.above) <= 0 || compareGlt(x.ts, rule.upTo) > 0) continue;
    if (compareVersionOrder(x.ts, x.origin, v.ts, v.origin) < 0) rank++;
  }
  return rank;
}
