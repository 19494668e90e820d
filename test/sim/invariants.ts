import { GLT_ZERO, compareGlt, compareVersionOrder, formatGlt, type Glt } from '../../glts/glt.js';
import type { Version } from '../../datanode/version.js';
import type { CommitRecord } from '../../kernel/records.js';

/** An invariant of DESIGN.md ("S", "D", "M") or a liveness expectation did not hold. */
export class SimViolation extends Error {
  constructor(
    readonly invariant: 'S' | 'D' | 'M' | 'liveness',
    message: string,
  ) {
    super(`invariant ${invariant} violated: ${message}`);
    this.name = 'SimViolation';
  }
}

export interface ModelWrite {
  readonly key: string;
  readonly value: string | null;
  readonly ts: Glt;
  readonly origin: string;
  readonly region: string;
}

export interface Expected {
  readonly value: string | null;
  readonly ts: Glt;
  readonly origin: string;
}

/**
 * The model of what every snapshot must hold: acknowledged writes and committed rounds.
 *
 * A write w of region r is in the snapshots iff r was a member of the first committed
 * round with T ≥ w.ts (that round's delta carried it); from then on it is in every
 * snapshot ≥ w.ts. Otherwise r was excluded when w would have shipped, and w must be
 * re-stamped when r rejoins (D) — the model then replaces w by its re-stamped version.
 * This refines DESIGN's "acknowledged writes ≤ T of the regions that were members at T":
 * a write shipped before its region was excluded stays in later snapshots.
 */
export class Model {
  private readonly byKey = new Map<string, ModelWrite[]>();
  private readonly byOrigin = new Map<string, ModelWrite[]>();
  /** Every commit, in T order (etcd keeps only a bounded history; the model keeps all). */
  readonly commits: CommitRecord[] = [];

  ack(v: Version, region: string): void {
    const w: ModelWrite = { key: v.key.toString('latin1'), value: v.value === null ? null : v.value.toString('latin1'), ts: v.ts, origin: v.origin, region };
    this.add(w);
  }

  private add(w: ModelWrite): void {
    let k = this.byKey.get(w.key);
    if (!k) this.byKey.set(w.key, (k = []));
    k.push(w);
    let o = this.byOrigin.get(w.origin);
    if (!o) this.byOrigin.set(w.origin, (o = []));
    o.push(w);
  }

  /** The data node `origin` moved its versions above `after` to `moved` (rejoin). None may be lost or invented. */
  restamp(origin: string, region: string, after: Glt, moved: readonly Version[]): void {
    const own = this.byOrigin.get(origin) ?? [];
    const gone = own.filter((w) => compareGlt(w.ts, after) > 0);
    if (gone.length !== moved.length) throw new SimViolation('D', `${origin} re-stamped ${moved.length} versions above ${formatGlt(after)} but had ${gone.length} acknowledged`);
    for (const w of gone) if (this.shippedAt(w) !== undefined) throw new SimViolation('D', `${origin} re-stamped ${w.key}@${formatGlt(w.ts)}, already in snapshot ${formatGlt(this.shippedAt(w)!)}`);
    const goneSet = new Set(gone);
    this.byOrigin.set(origin, own.filter((w) => !goneSet.has(w)));
    for (const [key, list] of this.byKey) this.byKey.set(key, list.filter((w) => !goneSet.has(w)));
    for (const v of moved) this.add({ key: v.key.toString('latin1'), value: v.value === null ? null : v.value.toString('latin1'), ts: v.ts, origin, region });
  }

  commit(r: CommitRecord): void {
    const last = this.commits[this.commits.length - 1];
    if (last && compareGlt(r.T, last.T) <= 0) throw new SimViolation('M', `committed ${formatGlt(r.T)} after ${formatGlt(last.T)}`);
    this.commits.push(r);
  }

  isCommitted(t: Glt): boolean {
    if (compareGlt(t, GLT_ZERO) === 0) return true;
    return this.indexAtOrAbove(t) < this.commits.length && compareGlt(this.commits[this.indexAtOrAbove(t)]!.T, t) === 0;
  }

  private indexAtOrAbove(t: Glt): number {
    let lo = 0;
    let hi = this.commits.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (compareGlt(this.commits[mid]!.T, t) < 0) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** The snapshot that first holds w, or undefined (not shipped yet, or its region was excluded). */
  shippedAt(w: ModelWrite): Glt | undefined {
    const i = this.indexAtOrAbove(w.ts);
    const c = this.commits[i];
    return c && c.members.includes(w.region) ? c.T : undefined;
  }

  keys(): string[] {
    return [...this.byKey.keys()].sort();
  }

  writes(): ModelWrite[] {
    return [...this.byKey.values()].flat();
  }

  /** LWW winner among shipped writes of `key` with ts ≤ g (valid for g ≤ a region's frontier). */
  expected(key: string, g: Glt): Expected | undefined {
    let best: ModelWrite | undefined;
    for (const w of this.byKey.get(key) ?? []) {
      if (compareGlt(w.ts, g) > 0 || this.shippedAt(w) === undefined) continue;
      if (!best || compareVersionOrder(w.ts, w.origin, best.ts, best.origin) > 0) best = w;
    }
    return best && best.value !== null ? best : undefined;
  }
}
