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
  /** The LWW model of the acknowledged writes, each at the version rule D gives it (unseen re-stamps left out). */
  readonly model: LwwModel;
  readonly restamps: readonly Restamp[];
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
  for (const w of acked) {
    const fate = history.fate(w.region, w.ts);
    if (fate.kind !== 'restamped') {
      model.add(w);
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
      model.add(w);
      continue;
    }
    const to = moved[0];
    restamps.push({ w, above: fate.above, to: to && { value: to.value!, ts: to.ts, origin: to.origin } });
    if (to) model.add({ ...w, ts: to.ts });
  }
  return { model, restamps, violations };
}
