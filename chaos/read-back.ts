import type { AetherClient } from '../client/client.js';
import { toAetherError } from '../common/errors.js';
import { compareGlt, compareVersionOrder, formatGlt, type Glt } from '../glts/glt.js';
import type { AcknowledgedWrite } from '../bench/workload.js';
import { LwwModel, checkSameSnapshot, diffStates, formatDifference, scanState, type ModelEntry, type ScannedRow } from '../bench/lww-model.js';

/** A region excluded during the drill: its writes above `watermark`, acknowledged before `readmittedAtMs`, are re-stamped on rejoin (rule D). */
export interface Exclusion {
  readonly region: string;
  readonly watermark: Glt;
  /** performance.now() time of readmission (the load's clock); Infinity if never readmitted. */
  readonly readmittedAtMs: number;
}

export interface ReadBackResult {
  /** Acknowledged writes whose version (or re-stamped version) some region does not hold at the final GLT. */
  readonly lost: number;
  /** Writes of excluded regions found under a new timestamp. */
  readonly restamped: number;
  /** Writes due for re-stamping that no final scan shows (overwritten since): neither found nor lost. */
  readonly restampUnseen: number;
  /** S: every region's scan equal at every checked GLT. */
  readonly sameSnapshot: boolean;
  /** Every checked GLT's scans against the LWW model. */
  readonly modelHeld: boolean;
  readonly checkedGlts: string[];
  /** The first differences found, one line each. */
  readonly problems: string[];
  /** Scans that failed (a region that cannot serve a committed GLT), by region and code. */
  readonly scanErrors: string[];
}

const MAX_PROBLEMS = 20;
/** A scan at a GLT the region has not reached yet waits this long. */
const SCAN_WAIT_MS = 5000;

async function scanAt(client: AetherClient, region: string, prefix: string, T: Glt, limit: number): Promise<ScannedRow[]> {
  const { rows } = await client.scan({ region, prefix, glt: T, waitMs: SCAN_WAIT_MS, limit });
  const out: ScannedRow[] = [];
  for await (const r of rows) out.push(r);
  return out;
}

/**
 * Reads every acknowledged write back: scans every region at each GLT of `glts` (the
 * last is the final GLT, reached after healing, above every acknowledged write) and
 * compares regions with each other (S) and with the LWW model of the acknowledged
 * writes (D). Writes of excluded regions above their watermark are looked up under
 * their re-stamped version in the final scans (same unique value, same origin, newer
 * timestamp); at the final GLT, a key whose version is older than the model's winner
 * means an acknowledged write was lost.
 */
export async function readBack(
  client: AetherClient,
  o: { regions: readonly string[]; prefix: string; keys: number; acked: readonly AcknowledgedWrite[]; exclusions: readonly Exclusion[]; glts: readonly Glt[] },
): Promise<ReadBackResult> {
  const problems: string[] = [];
  const scanErrors: string[] = [];
  const note = (p: string): void => void (problems.length < MAX_PROBLEMS && problems.push(p));
  const finalT = o.glts[o.glts.length - 1]!;
  const limit = o.keys + 1;

  const dueRestamp = (w: AcknowledgedWrite): boolean =>
    o.exclusions.some((e) => e.region === w.region && compareGlt(w.ts, e.watermark) > 0 && w.ackedAtMs < e.readmittedAtMs);
  const model = new LwwModel();
  const pending = new Map<string, AcknowledgedWrite>();
  for (const w of o.acked) {
    if (dueRestamp(w) && w.value !== null) pending.set(w.value, w);
    else if (!dueRestamp(w)) model.add(w);
  }

  const scans = new Map<string, Map<string, ScannedRow[]>>();
  for (const T of o.glts) {
    const byRegion = new Map<string, ScannedRow[]>();
    for (const region of o.regions) {
      try {
        byRegion.set(region, await scanAt(client, region, o.prefix, T, limit));
      } catch (err) {
        scanErrors.push(`${region}@${formatGlt(T)}: ${toAetherError(err).code}`);
      }
    }
    scans.set(formatGlt(T), byRegion);
  }

  // Re-stamped versions: a final row carrying a value due for re-stamping, newer than the original.
  let restamped = 0;
  for (const rows of scans.get(formatGlt(finalT))?.values() ?? []) {
    for (const r of rows) {
      const w = pending.get(r.value.toString('utf8'));
      if (w && compareGlt(r.version, w.ts) > 0) {
        model.add({ key: w.key, value: w.value, ts: r.version, origin: r.origin });
        pending.delete(w.value!);
        restamped++;
      }
    }
  }

  // A write that failed at the client may still have landed (its outcome is unknown): a row
  // newer than the model's winner whose value no acknowledged write carries is such a write.
  const ackedValues = new Set(o.acked.flatMap((w) => (w.value === null ? [] : [w.value])));
  const unacknowledgedLanded = (d: { expected: ModelEntry | null; got: ModelEntry | null }): boolean =>
    d.got !== null && !ackedValues.has(d.got.value) && (d.expected === null || compareVersionOrder(d.got.ts, d.got.origin, d.expected.ts, d.expected.origin) > 0);
  let sameSnapshot = true;
  let modelHeld = true;
  for (const T of o.glts) {
    const byRegion = scans.get(formatGlt(T))!;
    const [first, ...rest] = [...byRegion.entries()];
    if (!first) continue;
    for (const [region, rows] of rest) {
      const diffs = checkSameSnapshot(first[1], rows);
      if (diffs.length > 0) sameSnapshot = false;
      for (const d of diffs.slice(0, 3)) note(`S at ${formatGlt(T)}: ${first[0]} vs ${region}: ${formatDifference(d)}`);
    }
    for (const [region, rows] of byRegion) {
      const diffs = diffStates(model.stateAt(T), scanState(rows)).filter((d) => !unacknowledgedLanded(d));
      if (diffs.length > 0) modelHeld = false;
      for (const d of diffs.slice(0, 3)) note(`model at ${formatGlt(T)} in ${region}: ${formatDifference(d)}`);
    }
  }

  // Lost: at the final GLT a region shows a key older than the model's winner (or not at all).
  const lostVersions = new Set<string>();
  const expected = model.stateAt(finalT);
  const older = (got: ModelEntry | undefined, want: ModelEntry): boolean => got === undefined || compareVersionOrder(got.ts, got.origin, want.ts, want.origin) < 0;
  for (const rows of scans.get(formatGlt(finalT))?.values() ?? []) {
    const got = scanState(rows);
    for (const [key, want] of expected) if (older(got.get(key), want)) lostVersions.add(`${key}@${formatGlt(want.ts)}/${want.origin}`);
  }
  for (const v of [...lostVersions].slice(0, 5)) note(`lost: ${v}`);
  return {
    lost: lostVersions.size,
    restamped,
    restampUnseen: pending.size,
    sameSnapshot: sameSnapshot && scanErrors.length === 0,
    modelHeld,
    checkedGlts: o.glts.map(formatGlt),
    problems,
    scanErrors,
  };
}
