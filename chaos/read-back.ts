import type { AetherClient } from '../client/client.js';
import { toAetherError } from '../common/errors.js';
import { compareGlt, formatGlt, type Glt } from '../glts/glt.js';
import type { AcknowledgedWrite } from '../history/write-load.js';
import type { CommitHistory } from '../history/commit-history.js';
import { SnapshotModel, valueId, type SeenRow } from '../history/snapshot-model.js';

export interface ReadBackResult {
  /** Acknowledged writes some region does not hold at the final GLT where rule D puts them. */
  readonly lost: number;
  /** Writes a readmission re-stamped (by its rule), and how many of them a scan showed at their new stamp. */
  readonly restamped: number;
  readonly restampsSeen: number;
  /** Writes of a region excluded now, above the bound it is hidden above: in no snapshot yet, not lost. */
  readonly hidden: number;
  /** S: every region's scan equal at every checked GLT. */
  readonly sameSnapshot: boolean;
  /** D: every checked GLT's scans equal the model of the acknowledged writes (snapshot-model.ts). */
  readonly modelHeld: boolean;
  readonly checkedGlts: string[];
  /** The first differences found, one line each. */
  readonly problems: string[];
  /** Scans that failed (a region that cannot serve a committed GLT), by region and code. */
  readonly scanErrors: string[];
  /** Rows each region's scan at the final GLT returned. */
  readonly finalRows: Record<string, number>;
}

export interface ReadBackOptions {
  /** The regions to scan: members at the final GLT (an excluded one serves nothing above its watermark). */
  readonly regions: readonly string[];
  readonly prefix: string;
  /** Keys under the prefix at most: the scans' limit. */
  readonly keys: number;
  /** Under the prefix, every acknowledged write. */
  readonly acked: readonly AcknowledgedWrite[];
  readonly history: CommitHistory;
  /** Committed GLTs, ascending; the last is the final GLT: settled, at or above every acknowledged ts. */
  readonly glts: readonly Glt[];
  /** Keys with a failed write (it may have landed all the same). */
  readonly uncertainKeys?: ReadonlySet<string>;
}

const MAX_PROBLEMS = 20;
/** Per GLT and region, differences named at most. */
const MAX_PER_SCAN = 3;
/** A scan at a GLT the region has not reached yet waits this long. */
const SCAN_WAIT_MS = 5000;

/** Rows per scan call: a region's scan of a bulk drill's keys is many calls, each short. */
const SCAN_PAGE_ROWS = 1000;

/** The first key above every key starting with `prefix` (a scan's exclusive end); empty: none. */
function prefixEnd(prefix: Buffer): Buffer {
  let n = prefix.length;
  while (n > 0 && prefix[n - 1] === 0xff) n--;
  if (n === 0) return Buffer.alloc(0);
  const end = Buffer.from(prefix.subarray(0, n));
  end[n - 1]!++;
  return end;
}

/**
 * One region's scan at T of at most `limit` keys, page by page, each value reduced to its
 * id as it arrives (a bulk drill's values are never all held at once).
 */
async function scanAt(client: AetherClient, region: string, prefix: string, T: Glt, limit: number): Promise<Map<string, SeenRow>> {
  const out = new Map<string, SeenRow>();
  const end = prefixEnd(Buffer.from(prefix, 'utf8'));
  let start = Buffer.from(prefix, 'utf8');
  while (out.size < limit) {
    const { rows } = await client.scan({ region, start, end, glt: T, waitMs: SCAN_WAIT_MS, limit: Math.min(SCAN_PAGE_ROWS, limit - out.size) });
    let n = 0;
    let last: Buffer | undefined;
    for await (const r of rows) {
      const key = r.key.toString('utf8');
      out.set(key, { key, id: valueId(r.value), ts: r.version, origin: r.origin });
      last = r.key;
      n++;
    }
    if (!last || n < SCAN_PAGE_ROWS) break;
    // The next page starts just above the last key.
    start = Buffer.concat([last, Buffer.alloc(1)]);
  }
  return out;
}

const sameRow = (a: SeenRow | undefined, b: SeenRow | undefined): boolean =>
  a === undefined || b === undefined ? a === b : a.id === b.id && a.origin === b.origin && compareGlt(a.ts, b.ts) === 0;
const showRow = (r: SeenRow | undefined): string => (r === undefined ? '(absent)' : `${JSON.stringify(r.id)}@${formatGlt(r.ts)}/${r.origin}`);

/**
 * Reads every acknowledged write back: scans every region at each GLT of `glts`,
 * compares the regions with each other (S) and with the model of the acknowledged
 * writes under rule D (D), and finds the writes the final scans lost. A write is either
 * in the snapshots with its own stamp, or re-stamped by a readmission's rule, or still
 * hidden because its region is excluded — anything else is a problem, and a write the
 * final scans do not hold is lost.
 */
export async function readBack(client: AetherClient, o: ReadBackOptions): Promise<ReadBackResult> {
  const problems: string[] = [];
  const scanErrors: string[] = [];
  const note = (p: string): void => void (problems.length < MAX_PROBLEMS && problems.push(p));
  const model = new SnapshotModel(o.acked, o.history, o.uncertainKeys);
  const finalT = o.glts[o.glts.length - 1]!;
  let sameSnapshot = true;
  let modelHeld = true;
  let finalScans = new Map<string, Map<string, SeenRow>>();
  // One GLT at a time: a bulk drill's scans are large, and only the final one is kept.
  for (const T of o.glts) {
    const byRegion = new Map<string, Map<string, SeenRow>>();
    for (const region of o.regions) {
      try {
        byRegion.set(region, await scanAt(client, region, o.prefix, T, o.keys + 1));
      } catch (err) {
        scanErrors.push(`${region}@${formatGlt(T)}: ${toAetherError(err).code}`);
      }
    }
    const [first, ...rest] = [...byRegion.entries()];
    if (!first) continue;
    for (const [region, rows] of rest) {
      let named = 0;
      for (const key of new Set([...first[1].keys(), ...rows.keys()])) {
        if (sameRow(first[1].get(key), rows.get(key))) continue;
        sameSnapshot = false;
        if (named++ < MAX_PER_SCAN) note(`S at ${formatGlt(T)}: ${key}: ${first[0]} ${showRow(first[1].get(key))}, ${region} ${showRow(rows.get(key))}`);
      }
    }
    for (const [region, rows] of byRegion) {
      let named = 0;
      for (const key of new Set([...model.keys(), ...rows.keys()])) {
        const wrong = model.judge(key, T, rows.get(key));
        if (wrong === undefined) continue;
        modelHeld = false;
        if (named++ < MAX_PER_SCAN) note(`D in ${region}: ${wrong}`);
      }
    }
    if (T === finalT) finalScans = byRegion;
  }

  const lost = new Set<AcknowledgedWrite>();
  for (const [region, rows] of finalScans) {
    for (const m of model.lostAt(finalT, rows)) {
      if (lost.has(m.w)) continue;
      lost.add(m.w);
      const row = rows.get(m.w.key);
      note(`lost in ${region}: ${m.w.key}=${JSON.stringify(m.id)} of ${m.w.region}@${formatGlt(m.w.ts)}/${m.w.origin}${m.stamp && compareGlt(m.stamp, m.w.ts) !== 0 ? ` re-stamped to ${formatGlt(m.stamp)}` : ''}; final ${showRow(row)}`);
    }
  }
  const counts = model.counts();
  return {
    lost: lost.size,
    restamped: counts.restamped,
    restampsSeen: counts.restampsSeen,
    hidden: counts.hidden,
    sameSnapshot: sameSnapshot && scanErrors.length === 0,
    modelHeld,
    checkedGlts: o.glts.map(formatGlt),
    problems,
    scanErrors,
    finalRows: Object.fromEntries([...finalScans].map(([region, rows]) => [region, rows.size])),
  };
}
