import { checkGlt, type Glt } from '../glts/glt.js';
import type { Timestamp, Timestamp__Output } from './load.js';

/** A GLT on the wire: uint64 wall as a decimal string, so no nanosecond is lost. */
export function toTimestamp(g: Glt): Timestamp {
  return { wall: g.wall.toString(), logical: g.logical };
}

/** A GLT from the wire, checked (GLT_PARSE when out of range); undefined when absent. */
export function fromTimestamp(t: Timestamp__Output | null | undefined): Glt | undefined {
  if (t === null || t === undefined) return undefined;
  let wall: bigint;
  try {
    wall = BigInt(t.wall);
  } catch {
    wall = -1n;
  }
  return checkGlt(wall, t.logical);
}
