import type { Glt } from '../glts/glt.js';
import type { Version } from './version.js';

/** A key range for scans: prefix, or [start, end) (end omitted = to the end of the keyspace). */
export type KeyRange = { readonly prefix: Buffer } | { readonly start: Buffer; readonly end?: Buffer };

/** The version a read found: the LWW winner ≤ T, never a tombstone. */
export type ReadResult = Version & { readonly value: Buffer };

/**
 * The MVCC store of one data node (DESIGN.md "Store"). Implemented on LevelDB
 * (`LevelStore`) and in memory (`MemoryStore`, for the deterministic simulator); both
 * pass the same conformance suite (test/datanode/conformance.ts).
 */
export interface Store {
  /** This node's id: the origin of the versions it stamps. */
  readonly origin: string;

  /** Stamps a local write from the node's clock; version and change-index entry in one atomic batch. */
  put(key: Buffer, value: Buffer): Promise<Version>;
  /** A tombstone version. */
  delete(key: Buffer): Promise<Version>;

  /** LWW winner with ts ≤ t; undefined when none or when it is a tombstone. SNAPSHOT_COLLECTED below the GC horizon. */
  get(key: Buffer, t: Glt): Promise<ReadResult | undefined>;
  /** Live LWW winners ≤ t in key order, at most `limit`. */
  scan(range: KeyRange, t: Glt, limit?: number): Promise<ReadResult[]>;

  /** Every version (any origin) with from < ts ≤ to, in (ts, origin) order, from the change index. */
  changes(from: Glt, to: Glt, options?: { readonly origin?: string; readonly limit?: number }): Promise<Version[]>;

  /** Applies versions stamped elsewhere; idempotent and order-independent. */
  applyRemote(versions: readonly Version[]): Promise<void>;

  /**
   * Advances the clock past t and resolves when every write stamped ≤ t is durable.
   * The closed t is persisted, so after a restart no write is stamped ≤ t either.
   */
  close(t: Glt): Promise<void>;

  /** Drops versions older than `horizon` except the newest one at or below it; returns how many were dropped. */
  gc(horizon: Glt): Promise<number>;
  /** The GC horizon: reads below it fail with SNAPSHOT_COLLECTED. */
  horizon(): Glt;

  /**
   * Moves this node's own versions with ts > `after` to fresh timestamps above the clock,
   * in one atomic batch; returns the new versions (rejoin after exclusion).
   */
  restamp(after: Glt): Promise<Version[]>;

  /** Small persisted metadata: the region's frontier and per-peer watermarks. */
  getMeta(name: string): Promise<Glt | undefined>;
  setMeta(name: string, value: Glt): Promise<void>;

  /** Releases the underlying database; the store is unusable afterwards (STORE_CLOSED). */
  shutdown(): Promise<void>;
}
