import type { AetherClient } from '../client/client.js';
import { toAetherError } from '../common/errors.js';
import { compareGlt, compareVersionOrder, formatGlt, type Glt } from '../glts/glt.js';
import type { AcknowledgedWrite } from '../bench/workload.js';
import { checkSameSnapshot, diffStates, formatDifference, scanState, type ModelEntry, type ScannedRow } from '../bench/lww-model.js';
import type { CommitHistory } from './commit-history.js';
import { restampedModel } from './restamped-model.js';

export interface ReadBackResult {
  /** Acknowledged writes whose version (or re-stamped version) some region does not hold at the final GLT. */
  readonly lost: number;
  /** Writes of excluded regions found under a new timestamp. */
  readonly restamped: number;
  /** Writes due for re-stamping that no scan shows (overwritten before any checked GLT): neither found nor lost. */
  readonly restampUnseen: number;
  /** S: every region's scan equal at every checked GLT. */
  readonly sameSnapshot: boolean;
  /** Every checked GLT's scans against the LWW model, and every re-stamp where rule D puts it. */
  readonly modelHeld: boolean;
  readonly checkedGlts: string[];
  /** The first differences found, one line each. */
  readonly problems: string[];
  /** Scans that failed (a region that cannot serve a committed GLT), by region and code. */
  readonly scanErrors: string[];
  /** Rows each region's scan at the final GLT returned. */
  readonly finalRows: Record<string, number>;
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
 * Reads every acknowledged write back: scans every region at each GLT of `glts` (sorted;
 * the last is the final GLT: settled, at or above every acknowledged ts) and compares
 * regions with each other (S) and with the LWW model of the acknowledged writes under
 * rule D (restamped-model.ts: each re-stamped write where a scan shows it). A write is
 * lost when some final scan shows its key absent or older than it — for a re-stamp no
 * scan showed, not above the frontier it was to be re-stamped over.
 */
export async function readBack(
  client: AetherClient,
  o: { regions: readonly string[]; prefix: string; keys: number; acked: readonly AcknowledgedWrite[]; history: CommitHistory; glts: readonly Glt[] },
): Promise<ReadBackResult> {
  const problems: string[] = [];
  const scanErrors: string[] = [];
  const note = (p: string): void => void (problems.length < MAX_PROBLEMS && problems.push(p));
  const finalT = o.glts[o.glts.length - 1]!;
  const limit = o.keys + 1;

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

  const rows = [...scans.values()].flatMap((byRegion) => [...byRegion.values()].flat());
  const { model, restamps, violations, blindAt } = restampedModel(o.acked, o.history, rows);
  for (const v of violations.slice(0, 5)) note(v);

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
    const expected = model.stateAt(T);
    for (const [region, rows] of byRegion) {
      const diffs = diffStates(expected, scanState(rows)).filter((d) => !unacknowledgedLanded(d) && !blindAt(d.key, T));
      if (diffs.length > 0) modelHeld = false;
      for (const d of diffs.slice(0, 3)) note(`model at ${formatGlt(T)} in ${region}: ${formatDifference(d)}`);
    }
  }

  // Lost: a final scan shows the key absent, or older than the write (or, for an unseen
  // re-stamp, not above the frontier it was to be re-stamped over) — absent is no loss
  // when the key's last version is an acknowledged delete that is (or may be) newer than
  // the write, or when an unseen re-stamped delete leaves the model blind there
  // (restamped-model.ts).
  const lost = new Set<AcknowledgedWrite>();
  const restampOf = new Map(restamps.map((r) => [r.w, r]));
  const deletedAfter = (key: string, ts: Glt, origin: string): boolean => {
    const last = model.newest(key, finalT);
    return last !== null && last.value === null && compareVersionOrder(last.ts, last.origin, ts, origin) > 0;
  };
  for (const [region, rows] of scans.get(formatGlt(finalT)) ?? []) {
    const got = scanState(rows);
    for (const w of o.acked) {
      if (w.value === null || lost.has(w)) continue;
      const g = got.get(w.key);
      const r = restampOf.get(w);
      // An unseen re-stamp is newer than the original and above the frontier at rejoin.
      const older = g === undefined || compareVersionOrder(g.ts, g.origin, r?.to?.ts ?? w.ts, w.origin) < 0;
      const gone = older || (r !== undefined && !r.to && compareGlt(g.ts, r.above) <= 0);
      // An unseen re-stamp's new ts is only known to be above r.above: a delete above that may be newer.
      const excused = g === undefined && (deletedAfter(w.key, r ? (r.to?.ts ?? r.above) : w.ts, w.origin) || blindAt(w.key, finalT));
      if (!gone || excused) continue;
      lost.add(w);
      note(`lost in ${region}: ${w.key}=${JSON.stringify(w.value)} of ${w.region}@${formatGlt(w.ts)}/${w.origin}${r ? (r.to ? ` re-stamped to ${formatGlt(r.to.ts)}` : ` (unseen re-stamp above ${formatGlt(r.above)})`) : ''}; final ${g ? `${JSON.stringify(g.value)}@${formatGlt(g.ts)}/${g.origin}` : 'absent'}`);
    }
  }
  return {
    lost: lost.size,
    restamped: restamps.filter((r) => r.to).length,
    restampUnseen: restamps.filter((r) => !r.to).length,
    sameSnapshot: sameSnapshot && scanErrors.length === 0,
    modelHeld: modelHeld && violations.length === 0,
    checkedGlts: o.glts.map(formatGlt),
    problems,
    scanErrors,
    finalRows: Object.fromEntries([...(scans.get(formatGlt(finalT)) ?? [])].map(([region, rows]) => [region, rows.length])),
  };
}
