import { GLT_ZERO, compareGlt, minGlt, type Glt } from '../glts/glt.js';
import type { Store } from '../datanode/store.js';

/**
 * The leader's round state that must survive a restart, kept in every data node's meta
 * (DESIGN.md "Leader failover"):
 *  - `frontier`: the last committed GLT this region has applied. Never moves back (M).
 *  - `watermark`: the last committed GLT whose round had this region as a member, so
 *    every own version at or below it is in every snapshot. Used as the base of the
 *    region's own deltas; it may lag (a larger delta is harmless), never lead.
 * Both are written after the versions they cover, node by node; the region's value is
 * the minimum over its nodes, so a leader that died half-way reads the older state.
 */
export const FRONTIER_META = 'frontier';
export const WATERMARK_META = 'watermark';

export interface Watermarks {
  readonly frontier: Glt;
  readonly watermark: Glt;
}

export async function loadWatermarks(stores: readonly Store[]): Promise<Watermarks> {
  let frontier: Glt | undefined;
  let watermark: Glt | undefined;
  for (const s of stores) {
    const f = (await s.getMeta(FRONTIER_META)) ?? GLT_ZERO;
    const w = (await s.getMeta(WATERMARK_META)) ?? GLT_ZERO;
    frontier = frontier === undefined ? f : minGlt(frontier, f);
    watermark = watermark === undefined ? w : minGlt(watermark, w);
  }
  return { frontier: frontier ?? GLT_ZERO, watermark: watermark ?? GLT_ZERO };
}

/** Persists both on one node, never moving either back. */
export async function saveWatermarks(store: Store, w: Watermarks): Promise<void> {
  const f = (await store.getMeta(FRONTIER_META)) ?? GLT_ZERO;
  if (compareGlt(w.frontier, f) > 0) await store.setMeta(FRONTIER_META, w.frontier);
  const m = (await store.getMeta(WATERMARK_META)) ?? GLT_ZERO;
  if (compareGlt(w.watermark, m) > 0) await store.setMeta(WATERMARK_META, w.watermark);
}
