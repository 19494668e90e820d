import { hash } from 'node:crypto';
import { AetherError, assert } from '../common/errors.js';

/** Virtual nodes per data node: enough that shares stay within a few percent of even. */
export const DEFAULT_VNODES = 160;

interface Point {
  readonly hash: bigint;
  readonly node: string;
}

/** 64 bits of SHA-256: stable across processes, platforms and releases (the mapping is persistent state). */
function hash64(data: Buffer | string): bigint {
  // One-shot hash(): half the cost of createHash() per key, the same digest.
  return hash('sha256', data, 'buffer').readBigUInt64BE(0);
}

/**
 * Consistent hashing of keys over one region's data nodes: a ring of `vnodes` points per
 * node; a key belongs to the first point at or after its hash (wrapping). Deterministic
 * for a given set of node ids, whatever their order; adding a node moves only the keys it
 * takes over (≈ 1/(n+1) of them). Each region builds its own ring from its own nodes.
 */
export class Router {
  readonly nodes: readonly string[];
  /** Sorted by hash; ties broken by node id so the order is total. */
  private readonly ring: readonly Point[];

  constructor(nodeIds: readonly string[], vnodes = DEFAULT_VNODES) {
    assert(Number.isInteger(vnodes) && vnodes > 0, 'vnodes must be a positive integer');
    if (nodeIds.length === 0) throw new AetherError('INVALID_ARGUMENT', 'a router needs at least one data node');
    if (new Set(nodeIds).size !== nodeIds.length) throw new AetherError('INVALID_ARGUMENT', 'data node ids must be distinct');
    this.nodes = [...nodeIds].sort();
    const ring: Point[] = [];
    for (const node of this.nodes) for (let i = 0; i < vnodes; i++) ring.push({ hash: hash64(`${node}#${i}`), node });
    ring.sort((a, b) => (a.hash < b.hash ? -1 : a.hash > b.hash ? 1 : a.node < b.node ? -1 : a.node > b.node ? 1 : 0));
    this.ring = ring;
  }

  /** The id of the data node that owns `key`. */
  route(key: Buffer): string {
    const h = hash64(key);
    let lo = 0;
    let hi = this.ring.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.ring[mid]!.hash < h) lo = mid + 1;
      else hi = mid;
    }
    return this.ring[lo === this.ring.length ? 0 : lo]!.node;
  }
}
