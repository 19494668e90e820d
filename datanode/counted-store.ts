import { assert } from '../common/errors.js';
import { GLT_MAX, GLT_ZERO, LOGICAL_MAX, compareVersionOrder, type Glt } from '../glts/glt.js';
import type { KeyRange, ReadResult, Store } from './store.js';
import type { Version } from './version.js';

/** What a counted store reports to: the data node's `mvcc_versions` gauge and `gc_collected_total` counter. */
export interface VersionCounters {
  readonly mvccVersions: { set(n: number): void };
  readonly gcCollected: { inc(n: number): void };
}

/** Versions read per page by the opening count, so it holds a bounded number in memory. */
export const COUNT_PAGE = 10_000;

/**
 * A Store that keeps the number of versions it holds as it changes (writes +1, applied
 * versions +n, GC −dropped), so the gauge costs nothing at scrape time. The count starts
 * from one paged pass over the change index when the node opens, before it serves.
 * An idempotent re-application of versions already held counts them again: deltas are
 * re-sent only after a failover or a lost reply, so the gauge may read slightly high
 * until the next restart.
 */
export class CountedStore implements Store {
  private versions = 0;

  private constructor(
    private readonly inner: Store,
    private readonly counters: VersionCounters,
  ) {}

  /** `pageSize`: versions read per page by the opening count. */
  static async open(inner: Store, counters: VersionCounters, pageSize = COUNT_PAGE): Promise<CountedStore> {
    const s = new CountedStore(inner, counters);
    s.add(await countVersions(inner, pageSize));
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

  scan(range: KeyRange, t: Glt, limit?: number): Promise<ReadResult[]> {
    return this.inner.scan(range, t, limit);
  }

  changes(from: Glt, to: Glt, options?: { readonly origin?: string; readonly limit?: number }): Promise<Version[]> {
    return this.inner.changes(from, to, options);
  }

  async applyRemote(versions: readonly Version[]): Promise<void> {
    await this.inner.applyRemote(versions);
    this.add(versions.length);
  }

  close(t: Glt): Promise<void> {
    return this.inner.close(t);
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

  /** Moves versions (one deleted, one written each): the count does not change. */
  restamp(after: Glt): Promise<Version[]> {
    return this.inner.restamp(after);
  }

  getMeta(name: string): Promise<Glt | undefined> {
    return this.inner.getMeta(name);
  }

  setMeta(name: string, value: Glt): Promise<void> {
    return this.inner.setMeta(name, value);
  }

  shutdown(): Promise<void> {
    return this.inner.shutdown();
  }
}

/**
 * Every version in the change index, read pageSize at a time. `changes` takes an
 * exclusive lower bound, so each next page starts just below the last timestamp seen and
 * skips what it already counted there. Versions sharing a timestamp differ by origin (a
 * node stamps each write afresh), so a page longer than the number of origins always
 * gets past its first timestamp.
 */
async function countVersions(store: Store, pageSize: number): Promise<number> {
  let total = 0;
  let last: Version | undefined;
  for (;;) {
    const seen = last;
    const page = await store.changes(seen ? below(seen.ts) : GLT_ZERO, GLT_MAX, { limit: pageSize });
    const fresh = seen ? page.filter((v) => compareVersionOrder(v.ts, v.origin, seen.ts, seen.origin) > 0).length : page.length;
    total += fresh;
    if (page.length < pageSize) return total;
    assert(fresh > 0, 'a page of the change index holds only versions of one timestamp');
    last = page[page.length - 1]!;
  }
}

/** The greatest GLT below t (t > 0). */
function below(t: Glt): Glt {
  return t.logical > 0 ? { wall: t.wall, logical: t.logical - 1 } : { wall: t.wall - 1n, logical: LOGICAL_MAX };
}
