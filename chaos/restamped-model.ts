import { compareGlt, formatGlt, type Glt } from '../glts/glt.js';
import type { AcknowledgedWrite } from '../bench/workload.js';
import { LwwModel, type ModelEntry, type ModelVersion, type ScannedRow } from '../bench/lww-model.js';
import type { CommitHistory } from './commit-history.js';

/** A write rule D re-stamps: found under its new version `to`, or unseen (no row showed it, e.g. overwritten first, or a delete). */
export interface Restamp {
  readonly w: AcknowledgedWrite;
  /** The frontier when its region rejoined: the new ts is above it. */
  readonly above: Glt;
  readonly to: ModelEntry | undefined;
}

export interface RestampedModel {
  /** The LWW model of the acknowledged writes, each at the version rule D gives it (unseen re-stamped puts left out). */
  readonly model: LwwModel;
  readonly restamps: readonly Restamp[];
  /**
   * Whether the model cannot vouch for `key` at T. An unseen re-stamped put is left out
   * and harmless: no scan shows it, so it is the winner at no checked T. An unseen
   * re-stamped delete (a tombstone shows in no scan) is not: its new ts lies somewhere in
   * (above, shippedBy]. Below that window it changes nothing; inside it the model is
   * blind; above it, blind only while the key's newest version ≤ T lies in the window
   * with it (their order is unknown) — when none does, the delete is placed at shippedBy.
   */
  blindAt(key: string, T: Glt): boolean;
  /** Rows that show a write where rule D does not allow it, one line each. */
  readonly violations: readonly string[];
}

const text = (b: Buffer | string): string => (typeof b === 'string' ? b : b.toString('utf8'));

/**
 * The LWW model of the acknowledged writes under rule D (DESIGN.md), from `history` (the
 * committed rounds and exclusions, commit-history.ts) and the rows that scans of
 * committed snapshots showed. A write of fate `original` is modelled at its ts. A
 * re-stamped one keeps its key, its unique value and its origin and moves to a newer ts
 * above the frontier when its region rejoined: a row showing exactly that places it;
 * a row showing it anywhere else — at its original ts (unless it may keep it), below
 * that frontier, before its region rejoined, or at two new versions — is a violation.
 */
export function restampedModel(acked: readonly AcknowledgedWrite[], history: CommitHistory, rows: Iterable<ScannedRow>): RestampedModel {
  // Every version shown, by value (values are unique per write).
  const seen = new Map<string, ModelVersion[]>();
  for (const e of rows) {
    const v: ModelVersion = { key: text(e.key), value: text(e.value), ts: e.version, origin: e.origin };
    const list = seen.get(v.value!) ?? [];
    if (!list.some((x) => x.key === v.key && x.origin === v.origin && compareGlt(x.ts, v.ts) === 0)) list.push(v);
    seen.set(v.value!, list);
  }

  const model = new LwwModel();
  const restamps: Restamp[] = [];
  const violations: string[] = [];
  const unseenDeletes: { readonly w: AcknowledgedWrite; readonly above: Glt; readonly shippedBy: Glt | undefined }[] = [];
  /** The ts of every version placed in the model, by key. */
  const placed = new Map<string, Glt[]>();
  const place = (v: ModelVersion): void => {
    model.add(v);
    placed.set(v.key, [...(placed.get(v.key) ?? []), v.ts]);
  };
  for (const w of acked) {
    const fate = history.fate(w.region, w.ts);
    if (fate.kind !== 'restamped') {
      place(w);
      continue;
    }
    const shown = (w.value === null ? [] : (seen.get(w.value) ?? [])).filter((v) => v.key === w.key && v.origin === w.origin);
    const isMoved = (v: ModelVersion): boolean => fate.rejoin !== undefined && compareGlt(v.ts, fate.above) > 0 && compareGlt(v.ts, w.ts) > 0;
    const isOriginal = (v: ModelVersion): boolean => fate.maybe && compareGlt(v.ts, w.ts) === 0;
    const moved = shown.filter(isMoved);
    const original = shown.filter(isOriginal);
    if (shown.some((v) => !isMoved(v) && !isOriginal(v)) || moved.length + original.length > 1) {
      const at = shown.map((v) => formatGlt(v.ts)).join(', ');
      violations.push(
        `D: ${w.key}=${JSON.stringify(w.value)} of ${w.region}, acknowledged at ${formatGlt(w.ts)}, ${fate.maybe ? 'may be' : 'due for'} re-stamping above ${formatGlt(fate.above)}${fate.rejoin ? '' : ' (not readmitted)'}, shown at ${at}`,
      );
    }
    if (original.length > 0 && moved.length === 0) {
      place(w);
      continue;
    }
    const to = moved[0];
    restamps.push({ w, above: fate.above, to: to && { value: to.value!, ts: to.ts, origin: to.origin } });
    if (to) place({ ...w, ts: to.ts });
    else if (w.value === null) unseenDeletes.push({ w, above: fate.above, shippedBy: fate.shippedBy });
  }
  const windows = new Map<string, { readonly above: Glt; readonly shippedBy: Glt | undefined; readonly alone: boolean }[]>();
  for (const { w, above, shippedBy } of unseenDeletes) {
    const inWindow = (ts: Glt): boolean => compareGlt(ts, above) > 0 && (shippedBy === undefined || compareGlt(ts, shippedBy) <= 0);
    const alone = shippedBy !== undefined && !(placed.get(w.key) ?? []).some(inWindow);
    windows.set(w.key, [...(windows.get(w.key) ?? []), { above, shippedBy, alone }]);
    if (alone) model.add({ ...w, ts: shippedBy });
  }
  const blindAt = (key: string, T: Glt): boolean =>
    (windows.get(key) ?? []).some((d) => {
      if (compareGlt(T, d.above) <= 0) return false;
      if (d.shippedBy === undefined || compareGlt(T, d.shippedBy) < 0) return true;
      const end = d.shippedBy;
      return !d.alone && !(placed.get(key) ?? []).some((ts) => compareGlt(ts, end) > 0 && compareGlt(ts, T) <= 0);
    });
  return { model, restamps, violations, blindAt };
}
