import { assert } from '../common/errors.js';
import { GLT_BYTES, LOGICAL_MAX, checkGlt, compareGlt, compareVersionOrder, formatGlt, maxGlt, type Glt } from '../glts/glt.js';
import { MAX_KEY_BYTES, MAX_ORIGIN_BYTES, MAX_VALUE_BYTES, checkEpoch, checkRegion } from './checks.js';
import { EMPTY_BATCH, MAX_DELTA_RAW_BYTES, MAX_DELTA_VERSIONS, decodeVersions, encodeVersions, entryBytes } from './delta.js';
import type { ApplyRequest, ChangesResult, RestampRule } from './store.js';

/**
 * One MVCC version of a key. `value === null` is a tombstone (a delete).
 * Versions are totally ordered by (ts.wall, ts.logical, origin); LWW picks the greatest.
 */
export interface Version {
  readonly key: Buffer;
  readonly value: Buffer | null;
  readonly ts: Glt;
  /** Id of the data node that stamped the write. */
  readonly origin: string;
}

/** LWW order of versions (key not considered). */
export function compareVersions(a: Version, b: Version): number {
  return compareVersionOrder(a.ts, a.origin, b.ts, b.origin);
}

/** A version's identity: two versions with the same id are the same write. */
export function versionId(v: Version): string {
  return `${v.key.toString('latin1')}\u0000${formatGlt(v.ts)}\u0000${v.origin}`;
}

// ---- semantics both stores share (LevelStore, MemoryStore)

/** What the stores persisted about streams and hiding, as `apply` reads it. */
export interface ApplyState {
  readonly applied: ReadonlyMap<string, Glt>;
  readonly appliedFloor: Glt;
  readonly hideRules: ReadonlyMap<string, Glt>;
  readonly horizon: Glt;
}

/** An apply request checked whole and its batches decoded, before anything is written. */
export interface DecodedApply {
  readonly epoch: bigint;
  readonly frontier: Glt | undefined;
  readonly batches: readonly { readonly region: string; readonly to: Glt; readonly horizon: Glt | undefined; readonly versions: readonly Version[] }[];
}

/** Checks an apply request (DELTA_CORRUPT on a malformed batch, INVALID_ARGUMENT, GLT_PARSE). */
export function decodeApply(request: ApplyRequest): DecodedApply {
  checkEpoch(request.epoch);
  if (request.frontier) checkGlt(request.frontier.wall, request.frontier.logical);
  const batches = request.batches.map((b) => {
    checkRegion(b.region);
    checkGlt(b.to.wall, b.to.logical);
    if (b.horizon) checkGlt(b.horizon.wall, b.horizon.logical);
    return { region: b.region, to: b.to, horizon: b.horizon, versions: decodeVersions(b.versions) };
  });
  return { epoch: request.epoch, frontier: request.frontier, batches };
}

/** How one apply call sorts the versions it writes. */
export interface ApplyPlan {
  /** Versions of hidden origins above their hide bound: to the hidden set. */
  readonly hidden: readonly Version[];
  /** Versions above the (raised) horizon: to their chains. */
  readonly chained: readonly Version[];
  /** Versions at or below the horizon, by key (latin1): only the newest there per key may stay. */
  readonly belowHorizon: ReadonlyMap<string, Version[]>;
  /** The horizon after the call: raised by any state-transfer batch. */
  readonly horizon: Glt;
  /** applied[region] after the call, for the regions of the call. */
  readonly applied: ReadonlyMap<string, Glt>;
}

/**
 * Sorts the versions of an apply call. A version with ts ≤ applied[region] (or the
 * applied floor) was applied before and may have moved since (re-stamped, hidden): it
 * must not reappear, so it is skipped. The same version twice in one call is written
 * once (the last copy, as a blind put keeps).
 */
export function planApply(request: DecodedApply, state: ApplyState): ApplyPlan {
  let horizon = state.horizon;
  const applied = new Map<string, Glt>();
  const fresh = new Map<string, Version>();
  for (const b of request.batches) {
    const held = maxGlt(applied.get(b.region) ?? state.applied.get(b.region) ?? state.appliedFloor, state.appliedFloor);
    for (const v of b.versions) if (compareGlt(v.ts, held) > 0) fresh.set(versionId(v), v);
    if (b.horizon) horizon = maxGlt(horizon, b.horizon);
    applied.set(b.region, maxGlt(held, b.to));
  }
  const hidden: Version[] = [];
  const chained: Version[] = [];
  const belowHorizon = new Map<string, Version[]>();
  for (const v of fresh.values()) {
    const bound = state.hideRules.get(v.origin);
    if (bound && compareGlt(v.ts, bound) > 0) hidden.push(v);
    else if (compareGlt(v.ts, horizon) > 0) chained.push(v);
    else {
      const id = v.key.toString('latin1');
      const list = belowHorizon.get(id);
      if (list) list.push(v);
      else belowHorizon.set(id, [v]);
    }
  }
  return { hidden, chained, belowHorizon, horizon, applied };
}

/** A version in its chain: `orig` is its original ts when a re-stamp moved it. */
export interface ChainedVersion {
  readonly version: Version;
  readonly orig: Glt | undefined;
}

/**
 * One key's collapse below a state transfer's horizon: of the versions at or below it,
 * stored and incoming, only the newest stays. A stored version a hide rule covers (still
 * at its own ts, above its origin's bound: the hide job has not moved it yet) takes no
 * part: the donor holds it hidden, outside its snapshot at the horizon, and it shows again
 * only by a readmission's re-stamp. Returns the stored entries to drop and the incoming
 * version to chain, if the newest is one.
 */
export function collapseBelowHorizon<E extends ChainedVersion>(
  stored: readonly E[],
  incoming: readonly Version[],
  hideRules: ReadonlyMap<string, Glt>,
): { readonly dropped: E[]; readonly kept: Version | undefined } {
  const visible = stored.filter((e) => {
    const bound = hideRules.get(e.version.origin);
    return e.orig !== undefined || bound === undefined || compareGlt(e.version.ts, bound) <= 0;
  });
  const newest = [...visible.map((e) => e.version), ...incoming].reduce((a, b) => (compareVersions(a, b) >= 0 ? a : b));
  return { dropped: visible.filter((e) => compareVersions(e.version, newest) !== 0), kept: incoming.includes(newest) ? newest : undefined };
}

/** Identifies a re-stamp rule, for a store's resume cursor: the same rule again resumes where it stopped. */
export function restampRuleId(rule: RestampRule): string {
  return [[...new Set(rule.origins)].sort().join('\u0000'), formatGlt(rule.above), formatGlt(rule.upTo), formatGlt(rule.floor)].join('|');
}

/** A version as a re-stamp puts it back in its chain: `orig` set when it moved. */
export interface Restamped {
  readonly version: Version;
  readonly orig?: Glt;
}

/**
 * Where a re-stamp rule puts one key's hidden versions of its origins, given in (ts,
 * origin) order: those in (above, upTo] to (floor.wall, floor.logical + r), r = 1, 2, …
 * in that order; the others keep their ts. Depends on nothing but the versions and the
 * rule, so every region that holds the same hidden versions re-stamps them alike.
 */
export function restampKey(hidden: readonly Version[], rule: RestampRule): Restamped[] {
  let rank = 0;
  return hidden.map((v) => {
    if (compareGlt(v.ts, rule.above) <= 0 || compareGlt(v.ts, rule.upTo) > 0) return { version: v };
    rank++;
    assert(rule.floor.logical + rank <= LOGICAL_MAX, () => `re-stamping ${rank} versions of one key above ${formatGlt(rule.floor)} overflows its logical counter`);
    return { version: { ...v, ts: { wall: rule.floor.wall, logical: rule.floor.logical + rank } }, orig: v.ts };
  });
}

/** The largest raw entry (key, origin, ts, value): a byte-limited read stops at most this past its limit. */
const MAX_ENTRY_BYTES = 2 + MAX_KEY_BYTES + 1 + MAX_ORIGIN_BYTES + GLT_BYTES + 1 + 4 + MAX_VALUE_BYTES;
/** A `changes` read stays within the bounds of one raw batch (delta.ts), whatever the caller asks. */
const MAX_CHANGES_BYTES = MAX_DELTA_RAW_BYTES - MAX_ENTRY_BYTES;

/**
 * Collects one `changes` read, entries in ts order: it stops after the entry that reaches
 * `maxBytes` (so at least one is read), and `end` is that entry's ts, else the read's `to`.
 * An origin stamps each ts once, so cutting at a ts is clean; should one ts hold several
 * entries anyway, they stay together.
 */
export class ChangesCollector {
  private readonly out: Version[] = [];
  private readonly budget: number;
  private bytes = 0;
  private cut: Glt | undefined;

  constructor(maxBytes: number) {
    this.budget = Math.min(maxBytes, MAX_CHANGES_BYTES);
  }

  /** Takes the next entry; false (not taken) once the read is over. */
  add(v: Version): boolean {
    if (this.cut && compareGlt(v.ts, this.cut) !== 0) return false;
    this.out.push(v);
    this.bytes += entryBytes(v);
    if (!this.cut && (this.bytes >= this.budget || this.out.length >= MAX_DELTA_VERSIONS)) this.cut = v.ts;
    return true;
  }

  result(to: Glt): ChangesResult {
    return { versions: this.out.length === 0 ? EMPTY_BATCH : encodeVersions(this.out), end: this.cut ?? to };
  }
}

/** Applied positions in region order: two reads of the same state compare equal. */
export function sortedMap(applied: ReadonlyMap<string, Glt>): Map<string, Glt> {
  return new Map([...applied].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}
