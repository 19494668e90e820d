import { compareVersionOrder, type Glt } from '../glts/glt.js';

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
