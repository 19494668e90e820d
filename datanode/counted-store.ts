import { GLT_MAX, GLT_ZERO, gltEquals, type Glt } from '../glts/glt.js';
import type { ApplyRequest, ChangesResult, ChunkResult, KeyRange, ReadResult, RestampRule, Store, StreamState } from './store.js';
import type { Version } from './version.js';

/** What a counted store reports to: the data node's `mvcc_versions` gauge and `gc_collected_total` counter. */
export interface VersionCounters {
  readonly mvccVersions: { set(n: number): void };
  readonly gcCollected: { inc(n: number): void };
}

/** Bytes of the change index read per page by the opening count, so it holds a bounded amount in memory. */
export const COUNT_PAGE_BYTES = 1 << 20;

/**
 * A Store that keeps the number of versions it holds (chains and hidden set) as it
 * changes — writes +1, applied versions +n, GC −dropped; hiding and re-stamping move
 * versions and change nothing — so the gauge costs nothing at scrape time. The count
 * starts from one paged pass over the change index (one entry per version held) when
 * the node opens, before it serves. A version applied again (written blindly: a batch
 * a lost reply made the leader send twice) counts again, so the gauge may read slightly
 * high until the next restart.
 */
export class CountedStore implements Store {
  private versions = 0;

  private constructor(
    private readonly inner: Store,
    private readonly counters: VersionCounters,
  ) {}

  /** `pageBytes`: change-index bytes read per page by the opening count. */
  static async open(inner: Store, counters: VersionCounters, pageBytes = COUNT_PAGE_BYTES): Promise<CountedStore> {
    const s = new CountedStore(inner, counters);
    s.add(await countVersions(inner, pageBytes));
    return s;
  }

  get origin(): string {
    return this.inner.origin;
  }

  private add(n: number): void {
    this.versions += n;
    this.counters.mvccVersions.set(this.versions);
  }

  async put(key: Buffer, value: Buffer): Promise<Version> {
    const v = await this.inner.put(key, value);
    this.add(1);
    return v;
  }

  async delete(key: Buffer): Promise<Version> {
    const v = await this.inner.delete(key);
    this.add(1);
    return v;
  }

  get(key: Buffer, t: Glt): Promise<ReadResult | undefined> {
    return this.inner.get(key, t);
  }

  scan(range: KeyRange, t: Glt, limit?: number): AsyncIterable<ReadResult> {
    return this.inner.scan(range, t, limit);
  }

  closedMark(): Promise<Glt> {
    return this.inner.closedMark();
  }

  onOwnWrites(listener: () => void): () => void {
    return this.inner.onOwnWrites(listener);
  }

  changes(origin: string, from: Glt, to: Glt, maxBytes: number): Promise<ChangesResult> {
    return this.inner.changes(origin, from, to, maxBytes);
  }

  origins(): Promise<string[]> {
    return this.inner.origins();
  }

  async apply(request: ApplyRequest): Promise<number> {
    const written = await this.inner.apply(request);
    this.add(written);
    return written;
  }

  streamState(): Promise<StreamState> {
    return this.inner.streamState();
  }

  hide(epoch: bigint, origins: readonly string[], above: Glt, limit: number): Promise<ChunkResult> {
    return this.inner.hide(epoch, origins, above, limit);
  }

  restamp(epoch: bigint, rule: RestampRule, limit: number): Promise<ChunkResult> {
    return this.inner.restamp(epoch, rule, limit);
  }

  hiddenCount(): number {
    return this.inner.hiddenCount();
  }

  setMembershipApplied(epoch: bigint, version: number): Promise<void> {
    return this.inner.setMembershipApplied(epoch, version);
  }

  async gc(horizon: Glt): Promise<number> {
    const dropped = await this.inner.gc(horizon);
    this.add(-dropped);
    this.counters.gcCollected.inc(dropped);
    return dropped;
  }

  horizon(): Glt {
    return this.inner.horizon();
  }

  shutdown(): Promise<void> {
    return this.inner.shutdown();
  }
}

/** Every change entry (one per version held), origin by origin, `pageBytes` at a time. */
async function countVersions(store: Store, pageBytes: number): Promise<number> {
  let total = 0;
  for (const origin of await store.origins()) {
    for (let from = GLT_ZERO; ; ) {
      const page = await store.changes(origin, from, GLT_MAX, pageBytes);
      total += page.versions.count;
      if (gltEquals(page.end, GLT_MAX)) break;
      from = page.end;
    }
  }
  return total;
}
