import { compareGlt, type Glt } from '../glts/glt.js';
import type { RestampRule } from '../datanode/store.js';
import { MAX_RESTAMP_RULES, type MembershipRecord, type RestampRecord } from '../kernel/records.js';

/** The next store job a leader owes a membership version (docs/architecture.md "Failure rules"). */
export type MembershipStep = (
  /** Hide `originIds`' versions above `above` (a region excluded; or, before a re-stamp, whatever a laggard never hid). */
  | { readonly kind: 'hide'; readonly region: string; readonly originIds: readonly string[]; readonly above: Glt }
  /** Re-stamp a readmitted region's hidden versions (`record.version` is the membership version that readmitted it). */
  | { readonly kind: 'restamp'; readonly record: RestampRecord; readonly rule: RestampRule }
  /** Every rule of `version` is carried out: record it on the data nodes. */
  | { readonly kind: 'applied'; readonly version: number }
) & { readonly key: string };

/** Why no step can run now. */
export type MembershipWait =
  | { readonly kind: 'idle' }
  /** A re-stamp needs the region's versions up to `upTo` first (its stream, or a relay). */
  | { readonly kind: 'waiting'; readonly region: string; readonly upTo: Glt }
  /** The record no longer keeps rules this leader still owes (more than MAX_RESTAMP_RULES readmissions behind). */
  | { readonly kind: 'gap'; readonly appliedVersion: number; readonly oldestRule: number };

/**
 * Which store jobs bring a region's data nodes from the membership version they carried
 * out (`appliedVersion`, persisted on them) to the record's: for every readmission since,
 * in order, hide then re-stamp the readmitted region's versions (once they are held up to
 * the rule's upTo); then hide every region excluded now; then record the version. The
 * leader serves no commit of a version whose rules are not carried out.
 *
 * Steps are idempotent (the stores skip what is done), so a leader that dies half-way
 * redoes the version from the start. `done` marks what this term already finished.
 */
export class MembershipRules {
  /** Steps finished this term for `forVersion` (cleared when a newer record arrives). */
  private readonly done = new Set<string>();
  private forVersion = 0;

  constructor(private readonly originIds: (region: string) => readonly string[]) {}

  next(record: MembershipRecord, appliedVersion: number, held: (region: string) => Glt): MembershipStep | MembershipWait {
    if (record.version <= appliedVersion) return { kind: 'idle' };
    if (record.version !== this.forVersion) {
      this.done.clear();
      this.forVersion = record.version;
    }
    const pending = record.restamps.filter((r) => r.version > appliedVersion);
    const oldest = record.restamps[0];
    // Rules older than the oldest kept may have been dropped: only safe if none was owed.
    if (record.restamps.length >= MAX_RESTAMP_RULES && oldest && oldest.version > appliedVersion + 1) {
      return { kind: 'gap', appliedVersion, oldestRule: oldest.version };
    }
    for (const r of pending) {
      const hideKey = `hide:${r.version}`;
      const restampKey = `restamp:${r.version}`;
      if (this.done.has(restampKey)) continue;
      if (compareGlt(held(r.region), r.upTo) < 0) return { kind: 'waiting', region: r.region, upTo: r.upTo };
      const originIds = this.originIds(r.region);
      if (!this.done.has(hideKey)) return { kind: 'hide', key: hideKey, region: r.region, originIds, above: r.above };
      return { kind: 'restamp', key: restampKey, record: r, rule: { origins: originIds, above: r.above, upTo: r.upTo, floor: r.floor } };
    }
    for (const e of record.excluded) {
      const key = `excluded:${e.region}`;
      if (!this.done.has(key)) return { kind: 'hide', key, region: e.region, originIds: this.originIds(e.region), above: e.hiddenAbove };
    }
    return { kind: 'applied', key: 'applied', version: record.version };
  }

  /** A step finished (all its chunks) for the record it was planned from. */
  finished(step: MembershipStep, version: number): void {
    if (version === this.forVersion) this.done.add(step.key);
  }
}
