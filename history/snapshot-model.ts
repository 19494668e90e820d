import { createHash } from 'node:crypto';
import { compareGlt, compareVersionOrder, formatGlt, type Glt } from '../glts/glt.js';
import type { AcknowledgedWrite } from './write-load.js';
import type { CommitHistory, WriteFate } from './commit-history.js';
import { inRestampBand } from './visibility.js';

/** Values longer than this many bytes are compared by digest: a drill keeps only the digest of a bulk value. */
const VALUE_ID_MAX_BYTES = 64;

/** What a value is compared by: its text when short, else a digest of its bytes (the same for a string and its UTF-8 bytes). */
export function valueId(v: Buffer | string): string {
  const bytes = typeof v === 'string' ? Buffer.byteLength(v, 'utf8') : v.length;
  if (bytes <= VALUE_ID_MAX_BYTES) return typeof v === 'string' ? v : v.toString('utf8');
  return `sha256:${createHash('sha256').update(v).digest('base64url')}`;
}

/** A row of a scan, its value by valueId. */
export interface SeenRow {
  readonly key: string;
  readonly id: string;
  readonly ts: Glt;
  readonly origin: string;
}

/** An acknowledged write and where rule D puts it. */
export interface ModelledWrite {
  readonly w: AcknowledgedWrite;
  /** valueId of its value; null for a delete. */
  readonly id: string | null;
  readonly fate: WriteFate;
  /** Where it shows in the snapshots (history/visibility.ts); undefined while hidden or not yet known (fate open). */
  readonly stamp: Glt | undefined;
}

const show = (m: ModelledWrite | undefined): string =>
  m === undefined ? '(absent)' : `${m.id === null ? 'delete' : JSON.stringify(m.id)} of ${m.w.region}@${formatGlt(m.w.ts)}/${m.w.origin}${m.stamp && compareGlt(m.stamp, m.w.ts) !== 0 ? ` re-stamped to ${formatGlt(m.stamp)}` : ''}`;
const showRow = (r: SeenRow | undefined): string => (r === undefined ? '(absent)' : `${JSON.stringify(r.id)}@${formatGlt(r.ts)}/${r.origin}`);

/**
 * The snapshots the acknowledged writes make under S and D (the invariants in README.md), by the commits
 * and membership records seen (commit-history.ts): at GLT T each key holds its write of
 * the greatest visible stamp ≤ T, in (stamp, origin) order — nothing, if that is a delete.
 *
 * `uncertain` keys had a write fail at the client; such a write may still have landed
 * (a timeout), unseen by the model. There a scan may show a value no acknowledged write
 * carries as the newest, and a re-stamped write one rank higher than the model counts
 * (ranks count every version of the region, the unknown one too).
 */
export class SnapshotModel {
  readonly writes: readonly ModelledWrite[];
  /** Per key, its writes with a stamp, in (stamp, origin) order. */
  private readonly byKey = new Map<string, ModelledWrite[]>();
  /** Per value id: values are unique per write (a drill's loads make them so). */
  private readonly byValue = new Map<string, ModelledWrite>();
  /** Re-stamped writes some judged row showed at their new stamp. */
  private readonly restampsSeen = new Set<ModelledWrite>();

  constructor(
    acked: readonly AcknowledgedWrite[],
    history: CommitHistory,
    private readonly uncertain: ReadonlySet<string> = new Set(),
  ) {
    const sameKey = new Map<string, AcknowledgedWrite[]>();
    for (const w of acked) {
      const list = sameKey.get(w.key);
      if (list) list.push(w);
      else sameKey.set(w.key, [w]);
    }
    this.writes = acked.map((w): ModelledWrite => {
      const fate = history.fate(w.region, w.ts);
      const stamp = fate.kind === 'hidden' || fate.kind === 'open' ? undefined : history.visibility.stamp(w, sameKey.get(w.key)!);
      return { w, id: w.value === null ? null : valueId(w.value), fate, stamp };
    });
    for (const m of this.writes) {
      if (m.id !== null) this.byValue.set(m.id, m);
      if (!m.stamp) continue;
      const list = this.byKey.get(m.w.key) ?? [];
      if (!this.byKey.has(m.w.key)) this.byKey.set(m.w.key, list);
      list.push(m);
    }
    for (const list of this.byKey.values()) list.sort((a, b) => compareVersionOrder(a.stamp!, a.w.origin, b.stamp!, b.w.origin));
  }

  /** Every key some modelled write touched. */
  keys(): IterableIterator<string> {
    return this.byKey.keys();
  }

  /** The key's newest write visible at T, a delete included. */
  newest(key: string, T: Glt): ModelledWrite | undefined {
    const list = this.byKey.get(key) ?? [];
    let lo = 0;
    let hi = list.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (compareGlt(list[mid]!.stamp!, T) <= 0) lo = mid + 1;
      else hi = mid;
    }
    return list[lo - 1];
  }

  /** How many writes a readmission re-stamps, how many of them a judged row showed, and how many are still hidden. */
  counts(): { readonly restamped: number; readonly restampsSeen: number; readonly hidden: number } {
    return {
      restamped: this.writes.filter((m) => m.fate.kind === 'restamped').length,
      restampsSeen: this.restampsSeen.size,
      hidden: this.writes.filter((m) => m.fate.kind === 'hidden').length,
    };
  }

  /**
   * A region's row of `key` at T (undefined: the key is absent) against the model: a
   * line naming the difference, or undefined when it is what S and D allow.
   */
  judge(key: string, T: Glt, row: SeenRow | undefined): string | undefined {
    const expected = this.newest(key, T);
    const uncertain = this.uncertain.has(key);
    const wrong = (why: string): string => `${key} at ${formatGlt(T)}: expected ${show(expected)}, got ${showRow(row)}${why ? ` (${why})` : ''}`;
    if (row === undefined) return expected === undefined || expected.id === null || uncertain ? undefined : wrong('');
    const shown = this.byValue.get(row.id);
    if (shown === undefined) {
      // An unacknowledged write that landed: only where one failed, and then it is the newest.
      const newer = expected === undefined || compareVersionOrder(row.ts, row.origin, expected.stamp!, expected.w.origin) > 0;
      return uncertain && newer ? undefined : wrong('a value no acknowledged write carries');
    }
    if (shown.w.key !== key || shown.w.origin !== row.origin) return wrong(`that value is ${show(shown)}`);
    const atStamp = shown.stamp !== undefined && compareGlt(shown.stamp, row.ts) === 0;
    const shiftedRestamp = uncertain && shown.fate.kind === 'restamped' && inRestampBand(shown.fate.rule, row.ts);
    if (!atStamp && !shiftedRestamp) return wrong(`D: ${show(shown)} shown at ${formatGlt(row.ts)}`);
    if (shown.fate.kind === 'restamped') this.restampsSeen.add(shown);
    return shown === expected || uncertain ? undefined : wrong('');
  }

  /**
   * The acknowledged puts a region's final scan lost: those the model shows at or below
   * `finalT` that the row of their key neither shows nor covers with a newer version. An
   * absent key is covered by a newer acknowledged delete; on an uncertain key, by any
   * (a failed delete may have landed).
   */
  lostAt(finalT: Glt, rows: ReadonlyMap<string, SeenRow>): ModelledWrite[] {
    const lost: ModelledWrite[] = [];
    for (const [key, list] of this.byKey) {
      const row = rows.get(key);
      const shown = row && this.byValue.get(row.id);
      // The row's place in the order: a known write's by the model (a re-stamp's rank may be off by failed writes), an unknown one's as shown.
      const cover = row && { ts: shown?.stamp ?? row.ts, origin: row.origin };
      const newest = this.newest(key, finalT);
      const covered = (m: ModelledWrite): boolean => {
        if (cover) return shown === m || compareVersionOrder(cover.ts, cover.origin, m.stamp!, m.w.origin) > 0;
        if (this.uncertain.has(key)) return true;
        return newest !== undefined && newest.id === null && compareVersionOrder(newest.stamp!, newest.w.origin, m.stamp!, m.w.origin) > 0;
      };
      for (const m of list) if (m.id !== null && compareGlt(m.stamp!, finalT) <= 0 && !covered(m)) lost.push(m);
    }
    return lost;
  }
}
