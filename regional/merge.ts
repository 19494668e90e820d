import { compareVersions, type Version } from '../datanode/version.js';

/** Change-index order (ts, origin, key): the LWW order with the key as the last tiebreak. */
export function compareChangeOrder(a: Version, b: Version): number {
  return compareVersions(a, b) || Buffer.compare(a.key, b.key);
}

/**
 * Merges per-data-node deltas into one list in LWW order, dropping exact duplicates
 * (same key, ts and origin). Every version is kept, not only the last one per key, so
 * reads at any GLT ≤ the frontier stay exact in every region.
 */
export function mergeDeltas(lists: readonly (readonly Version[])[]): Version[] {
  const all = lists.flat().sort(compareChangeOrder);
  const out: Version[] = [];
  for (const v of all) {
    const prev = out[out.length - 1];
    if (prev && compareChangeOrder(prev, v) === 0) continue;
    out.push(v);
  }
  return out;
}
