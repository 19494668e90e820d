import { assert } from '../common/errors.js';
import { EMPTY_BATCH, concatBatches, frameDelta, splitBatchAt, type VersionBatch } from '../datanode/delta.js';
import { compareGlt, minGlt, type Glt } from '../glts/glt.js';

/** A batch of the region's own stream: every own version with ts in (from, to], framed once for every peer. */
export interface StreamBatch {
  readonly from: Glt;
  readonly to: Glt;
  readonly delta: Buffer;
  readonly count: number;
}

export interface OwnStreamLimits {
  /** Raw bytes of one batch at most (about; one node's feed chunk may reach it alone). */
  readonly maxBatchBytes: number;
  /** Framed bytes the ring keeps; older batches are dropped and peers behind them read the change index. */
  readonly ringBytes: number;
  /** Raw bytes the feeds may queue here before they are cut into batches (back-pressure signal). */
  readonly maxQueuedBytes: number;
}

interface NodeFeed {
  /** The feed's position: every own version of the node with ts ≤ mark has arrived (or was cut). Undefined until its first batch. */
  mark: Glt | undefined;
  /** Arrived, not yet cut, in ts order; every entry above the stream's end. */
  readonly chunks: { batch: VersionBatch; to: Glt }[];
  bytes: number;
}

/**
 * The region's own stream (docs/architecture.md "The snapshot pipeline"): the data nodes' feeds merged into
 * batches that cover (from, to] with `to` ≤ the region's closed mark (the minimum of the
 * nodes' marks), each framed once (LZ4) and kept in a ring bounded in bytes, so every
 * peer that keeps up is sent the same bytes. No sort: a batch is the concatenation of
 * the nodes' slices; applies are blind writes.
 *
 * Invariant: ring batches are contiguous and end at `end`; every own version with
 * ts ≤ `end` is durable on its data node (its mark passed it).
 */
export class OwnStream {
  private readonly feeds = new Map<string, NodeFeed>();
  private readonly ring: StreamBatch[] = [];
  private ringSize = 0;
  /** The stream position: batches cover up to here. Starts at the term's start position. */
  private endAt: Glt;

  constructor(
    nodes: readonly string[],
    start: Glt,
    private readonly limits: OwnStreamLimits,
  ) {
    assert(nodes.length > 0, 'a region has data nodes');
    for (const n of nodes) this.feeds.set(n, { mark: undefined, chunks: [], bytes: 0 });
    this.endAt = start;
  }

  get end(): Glt {
    return this.endAt;
  }

  /** The region's closed mark: the minimum over its nodes' feeds; undefined until each reported. */
  closed(): Glt | undefined {
    let c: Glt | undefined;
    for (const f of this.feeds.values()) {
      if (f.mark === undefined) return undefined;
      c = c === undefined ? f.mark : minGlt(c, f.mark);
    }
    return c;
  }

  /** Raw bytes arrived from the feeds and not yet cut. */
  queuedBytes(): number {
    let n = 0;
    for (const f of this.feeds.values()) n += f.bytes;
    return n;
  }

  /** Where the node's feed must (re)start from. */
  feedPosition(node: string): Glt {
    const f = this.feeds.get(node)!;
    return f.mark ?? this.endAt;
  }

  /**
   * A feed batch of `node` covering (from, to]. Returns false when it does not chain onto
   * what arrived before (a feed restarted elsewhere): the caller reopens the feed.
   */
  onFeed(node: string, from: Glt, to: Glt, batch: VersionBatch): boolean {
    const f = this.feeds.get(node);
    if (!f) return false;
    const expected = f.mark ?? this.endAt;
    if (compareGlt(from, expected) > 0) return false;
    if (compareGlt(to, expected) <= 0) return true;
    // Only what lies above both the expected position and the stream's end is new.
    const [, fresh] = splitBatchAt(batch, expected);
    if (fresh.count > 0) {
      f.chunks.push({ batch: fresh, to });
      f.bytes += fresh.raw.length;
    }
    f.mark = to;
    return true;
  }

  /** A feed ended: what arrived and was not cut is dropped; it reopens at the stream's end. */
  onFeedEnded(node: string): void {
    const f = this.feeds.get(node);
    if (!f) return;
    f.chunks.length = 0;
    f.bytes = 0;
    f.mark = undefined;
  }

  /** True when a cut would carry data now, or the closed mark moved. */
  canCut(): boolean {
    const c = this.closed();
    return c !== undefined && compareGlt(c, this.endAt) > 0;
  }

  /** True when the queued data alone makes a full batch. */
  full(): boolean {
    return this.queuedBytes() >= this.limits.maxBatchBytes;
  }

  /**
   * Cuts the next batch up to the closed mark — or, when more than maxBatchBytes waits,
   * up to the earliest first-chunk end among the nodes, which takes at most one chunk of
   * each — frames it and appends it to the ring. Undefined when the mark has not moved.
   */
  cut(): StreamBatch | undefined {
    const closed = this.closed();
    if (closed === undefined || compareGlt(closed, this.endAt) <= 0) return undefined;
    let to = closed;
    if (this.queuedBytes() > this.limits.maxBatchBytes) {
      for (const f of this.feeds.values()) if (f.chunks[0]) to = minGlt(to, f.chunks[0].to);
    }
    const parts: VersionBatch[] = [];
    for (const f of this.feeds.values()) {
      while (f.chunks.length > 0) {
        const head = f.chunks[0]!;
        const [taken, rest] = compareGlt(head.to, to) <= 0 ? [head.batch, EMPTY_BATCH] : splitBatchAt(head.batch, to);
        parts.push(taken);
        f.bytes -= taken.raw.length;
        if (rest.count > 0) {
          f.chunks[0] = { batch: rest, to: head.to };
          break;
        }
        f.chunks.shift();
      }
    }
    const batch = concatBatches(parts);
    const b: StreamBatch = { from: this.endAt, to, delta: frameDelta(batch), count: batch.count };
    this.endAt = to;
    this.ring.push(b);
    this.ringSize += b.delta.length;
    while (this.ringSize > this.limits.ringBytes && this.ring.length > 1) this.ringSize -= this.ring.shift()!.delta.length;
    return b;
  }

  /**
   * The ring batch to send to a peer at `position`: the one covering the position. Undefined
   * when the position is at the end (nothing to send) or below the ring (read the change
   * index up to `ringStart()` instead).
   */
  batchAt(position: Glt): StreamBatch | undefined {
    if (compareGlt(position, this.endAt) >= 0) return undefined;
    // The ring is short and peers are mostly near its end: search from the end.
    for (let i = this.ring.length - 1; i >= 0; i--) {
      const b = this.ring[i]!;
      if (compareGlt(b.from, position) <= 0) return compareGlt(position, b.to) < 0 ? b : undefined;
    }
    return undefined;
  }

  /** Where the ring begins: positions below it are served from the change index. */
  ringStart(): Glt {
    return this.ring[0]?.from ?? this.endAt;
  }

  /** Feeds still waiting for a first batch (a node down or slow to open). */
  silentNodes(): string[] {
    return [...this.feeds].filter(([, f]) => f.mark === undefined).map(([n]) => n);
  }
}
