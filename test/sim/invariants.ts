import { GLT_ZERO, compareGlt, compareVersionOrder, formatGlt, type Glt } from '../../glts/glt.js';
import type { Version } from '../../datanode/version.js';
import type { CommitRecord, MembershipRecord } from '../../kernel/records.js';
import { Visibility } from '../../history/visibility.js';

/** An invariant of docs/architecture.md "Invariants" (S, D, M, R) or a liveness expectation did not hold. */
export class SimViolation extends Error {
  constructor(
    readonly invariant: 'S' | 'D' | 'M' | 'R' | 'liveness',
    message: string,
  ) {
    super(`invariant ${invariant} violated: ${message}`);
    this.name = 'SimViolation';
  }
}

export interface ModelWrite {
  readonly key: string;
  readonly value: string | null;
  /** As acknowledged: the original stamp. */
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
 * The model of what every snapshot must hold: acknowledged writes, committed GLTs and the
 * membership history (docs/architecture.md "Invariants" S, D and "Failure rules"). A write of region
 * X is visible in every snapshot from its *visible stamp* on (history/visibility.ts, the
 * rules the drills share): its own ts, or re-stamped just above the frontier of the time X
 * rejoined, or none yet while X is excluded — never lost (D).
 */
export class Model {
  private readonly byKey = new Map<string, ModelWrite[]>();
  /** Every commit, in T order (etcd keeps only a bounded history; the model keeps all). */
  readonly commits: CommitRecord[] = [];
  /** Every readmission's rule and the exclusions now. */
  private readonly visibility = new Visibility();
  private membership: MembershipRecord | undefined;
  /** Per key, the greatest acknowledged original stamp (R). */
  private readonly newestAcked = new Map<string, ModelWrite>();

  /** Records an acknowledged write; with `checkOrder` (no clock skew), it must be stamped above every write of its key acknowledged before it (R). */
  ack(v: Version, region: string, checkOrder: boolean): void {
    const w: ModelWrite = { key: v.key.toString('latin1'), value: v.value === null ? null : v.value.toString('latin1'), ts: v.ts, origin: v.origin, region };
    const before = this.newestAcked.get(w.key);
    if (before && compareVersionOrder(w.ts, w.origin, before.ts, before.origin) <= 0) {
      if (checkOrder) throw new SimViolation('R', `${w.key} written at ${formatGlt(w.ts)}/${w.origin} after ${formatGlt(before.ts)}/${before.origin} was acknowledged`);
    } else {
      this.newestAcked.set(w.key, w);
    }
    let k = this.byKey.get(w.key);
    if (!k) this.byKey.set(w.key, (k = []));
    k.push(w);
  }

  commit(r: CommitRecord): void {
    const last = this.commits[this.commits.length - 1];
    if (last && compareGlt(r.T, last.T) <= 0) throw new SimViolation('M', `committed ${formatGlt(r.T)} after ${formatGlt(last.T)}`);
    this.commits.push(r);
  }

  setMembership(m: MembershipRecord): void {
    if (this.membership && m.version <= this.membership.version) throw new SimViolation('M', `membership version ${m.version} after ${this.membership.version}`);
    this.visibility.add(m);
    this.membership = m;
  }

  isCommitted(t: Glt): boolean {
    if (compareGlt(t, GLT_ZERO) === 0) return true;
    const i = this.indexAtOrAbove(t);
    return i < this.commits.length && compareGlt(this.commits[i]!.T, t) === 0;
  }

  lastCommitted(): Glt {
    return this.commits[this.commits.length - 1]?.T ?? GLT_ZERO;
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

  keys(): string[] {
    return [...this.byKey.keys()].sort();
  }

  writes(): ModelWrite[] {
    return [...this.byKey.values()].flat();
  }

  /** How many acknowledged writes a readmission re-stamped. */
  restampedCount(): number {
    let n = 0;
    for (const w of this.writes()) if (this.visibility.ruleOf(w.region, w.ts)) n++;
    return n;
  }

  /** Where `w` shows in the snapshots; undefined while hidden. */
  visibleStamp(w: ModelWrite): Glt | undefined {
    return this.visibility.stamp(w, this.byKey.get(w.key) ?? []);
  }

  /** The LWW winner of `key` in the snapshot at g (valid for g ≤ a region's frontier); undefined for none or a tombstone. */
  expected(key: string, g: Glt): Expected | undefined {
    let best: Expected | undefined;
    for (const w of this.byKey.get(key) ?? []) {
      const ts = this.visibleStamp(w);
      if (!ts || compareGlt(ts, g) > 0) continue;
      if (!best || compareVersionOrder(ts, w.origin, best.ts, best.origin) > 0) best = { value: w.value, ts, origin: w.origin };
    }
    return best && best.value !== null ? best : undefined;
  }
}
