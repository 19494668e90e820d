import { GLT_ZERO, compareGlt, gltDiffMs, minGlt, type Glt } from '../glts/glt.js';
import type { MembershipRecord } from './records.js';

/**
 * What the coordinator knows of one region's leader: when it was last heard, and the
 * highest positions it reported (each a durable fact that stays true, so the greatest
 * report wins over reordered or older ones).
 */
export interface RegionView {
  heardAtMs: number;
  /** Per origin region (its own with its closed mark): held durably up to this. */
  readonly applied: Map<string, Glt>;
  membershipApplied: number;
  /** True once a Progress arrived in this coordinator's term. */
  reported: boolean;
}

/** The exclusion limits (topology `snapshot`), docs/architecture.md "Failure rules". */
export interface ExclusionLimits {
  readonly silenceMs: number;
  readonly lagLimitMs: number;
  readonly maxOffsetMs: number;
}

/**
 * The origins a region must hold for its applied marks to count, and up to where: every
 * member origin without bound, and an excluded origin only below the point above which
 * its versions are hidden (every member must hold it up to there; members relay it).
 * Returns the region's effective mark: the minimum over those origins (zero when one is
 * missing), with the origin that sets it.
 */
export function effectiveMark(view: RegionView, m: MembershipRecord, self: string, asMember = m.members.includes(self)): { mark: Glt; origin: string } {
  const members = asMember && !m.members.includes(self) ? [...m.members, self] : m.members;
  let mark: Glt | undefined;
  let origin = self;
  const consider = (o: string, ts: Glt) => {
    if (mark === undefined || compareGlt(ts, mark) < 0) {
      mark = ts;
      origin = o;
    }
  };
  for (const o of members) consider(o, view.applied.get(o) ?? GLT_ZERO);
  for (const e of m.excluded) {
    if (e.region === self && asMember) continue;
    const held = view.applied.get(e.region) ?? GLT_ZERO;
    if (compareGlt(held, e.hiddenAbove) < 0) consider(e.region, held);
  }
  return { mark: mark ?? GLT_ZERO, origin };
}

/** The commit a membership allows now: the minimum effective mark over members; undefined until every member reported. */
export function watermark(views: ReadonlyMap<string, RegionView>, m: MembershipRecord): Glt | undefined {
  let t: Glt | undefined;
  for (const r of m.members) {
    const v = views.get(r);
    if (!v?.reported) return undefined;
    const { mark } = effectiveMark(v, m, r);
    t = t === undefined ? mark : minGlt(t, mark);
  }
  return t;
}

export type ExclusionReason = 'silent' | 'clock_ahead' | 'lagging';

/**
 * The member to exclude now, if any (one at a time; never the last member). In order:
 *  1. silent: nothing heard for silenceMs (crashed, cut off);
 *  2. clock ahead: its closed mark leads our clock by more than maxOffset;
 *  3. lagging: some pair (region r, origin o) has r's mark of o more than lagLimitMs
 *     behind our clock. Each stale pair blames both r (it cannot take o in) and o (its
 *     stream does not arrive): the region blamed most is the cause — an origin whose
 *     stream stalls is stale at every member, a region that cannot apply is stale on
 *     every origin. Ties go to the greater lag, then to the name.
 * `lagAllowed`: false early in a term, before every leader could report its positions.
 */
export function exclusionCandidate(
  views: ReadonlyMap<string, RegionView>,
  m: MembershipRecord,
  limits: ExclusionLimits,
  nowMs: number,
  now: Glt,
  lagAllowed: boolean,
): { region: string; reason: ExclusionReason; detail: Readonly<Record<string, unknown>> } | undefined {
  if (m.members.length <= 1) return undefined;
  let silent: { region: string; silentMs: number } | undefined;
  for (const r of m.members) {
    const silentMs = nowMs - (views.get(r)?.heardAtMs ?? -Infinity);
    if (silentMs > limits.silenceMs && (!silent || silentMs > silent.silentMs)) silent = { region: r, silentMs };
  }
  if (silent) return { region: silent.region, reason: 'silent', detail: { silentMs: Math.round(silent.silentMs) } };
  for (const r of m.members) {
    const closed = views.get(r)?.applied.get(r);
    if (closed && gltDiffMs(closed, now) > limits.maxOffsetMs) return { region: r, reason: 'clock_ahead', detail: { aheadMs: Math.round(gltDiffMs(closed, now)) } };
  }
  if (!lagAllowed) return undefined;
  const blame = new Map<string, { count: number; lagMs: number }>();
  const addBlame = (x: string, lagMs: number) => {
    const b = blame.get(x) ?? { count: 0, lagMs: 0 };
    blame.set(x, { count: b.count + 1, lagMs: Math.max(b.lagMs, lagMs) });
  };
  for (const r of m.members) {
    const v = views.get(r);
    const origins = [...m.members, ...m.excluded.filter((e) => compareGlt(v?.applied.get(e.region) ?? GLT_ZERO, e.hiddenAbove) < 0).map((e) => e.region)];
    for (const o of origins) {
      const lagMs = gltDiffMs(now, v?.applied.get(o) ?? GLT_ZERO);
      if (lagMs <= limits.lagLimitMs) continue;
      addBlame(r, lagMs);
      if (o !== r && m.members.includes(o)) addBlame(o, lagMs);
    }
  }
  let worst: { region: string; count: number; lagMs: number } | undefined;
  for (const [region, b] of blame) {
    if (!worst || b.count > worst.count || (b.count === worst.count && (b.lagMs > worst.lagMs || (b.lagMs === worst.lagMs && region < worst.region)))) worst = { region, ...b };
  }
  return worst ? { region: worst.region, reason: 'lagging', detail: { stalePairs: worst.count, lagMs: Math.round(worst.lagMs) } } : undefined;
}

/**
 * An excluded region ready to be readmitted, with the re-stamp bound (docs/architecture.md "Failure rules"):
 * it is heard and caught up as a member would be (lag ≤ lagLimitMs/2), and every member
 * already holds its versions recently (≤ lagLimitMs/2) and up to its hidden bound — so
 * the backlog has crossed while it was still excluded, and readmitting costs one record.
 *
 * `upTo` is where re-stamping ends: at least what every member holds, and past the floor
 * (the last commit) in wall time, because every version of the region up to the floor
 * was kept out of the commits made without it and must come back above them; re-stamped
 * versions land at the floor's wall time, below everything it stamps after upTo. The
 * region itself carries out the rule once its closed mark passes upTo (its writes up to
 * there stay hidden and are re-stamped too) — at most the clock skew away, as upTo is
 * within the members' clocks; members lack at most that stretch and a link delay, and
 * serve nothing newer than the floor until they re-stamped.
 *
 * The floor must be later in wall time than the floor of the region's previous
 * readmission: both rules number their versions from their floor, and two readmissions
 * with no commit between them would re-stamp two versions of a key to the same stamp.
 */
export function readmissionCandidate(
  views: ReadonlyMap<string, RegionView>,
  m: MembershipRecord,
  limits: ExclusionLimits,
  nowMs: number,
  now: Glt,
  floor: Glt,
): { region: string; upTo: Glt } | undefined {
  const halfLagMs = limits.lagLimitMs / 2;
  for (const e of m.excluded) {
    const v = views.get(e.region);
    if (!v?.reported || nowMs - v.heardAtMs > limits.silenceMs) continue;
    const previous = [...m.restamps].reverse().find((r) => r.region === e.region);
    if (previous && floor.wall <= previous.floor.wall) continue;
    if (gltDiffMs(now, effectiveMark(v, m, e.region, true).mark) > halfLagMs) continue;
    let held: Glt | undefined;
    for (const r of m.members) {
      const h = views.get(r)?.reported ? views.get(r)!.applied.get(e.region) : undefined;
      if (!h) {
        held = undefined;
        break;
      }
      held = held === undefined ? h : minGlt(held, h);
    }
    if (!held || compareGlt(held, e.hiddenAbove) < 0 || gltDiffMs(now, held) > halfLagMs) continue;
    const pastFloor: Glt = { wall: floor.wall + 1n, logical: 0 };
    return { region: e.region, upTo: compareGlt(held, pastFloor) > 0 ? held : pastFloor };
  }
  return undefined;
}
