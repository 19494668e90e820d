import type { Glt } from '../glts/glt.js';
import type { VersionBatch } from './delta.js';
import type { Version } from './version.js';

/** A key range for scans: prefix, or [start, end) (end omitted = to the end of the keyspace). */
export type KeyRange = { readonly prefix: Buffer } | { readonly start: Buffer; readonly end?: Buffer };

/** The version a read found: the LWW winner ≤ T, never a tombstone. */
export type ReadResult = Version & { readonly value: Buffer };

/**
 * Versions of one origin region applied in one call: every version in `versions` whose ts
 * is above the node's `applied[region]` is written (the rest were applied before), and
 * `applied[region]` is raised to `to` in the same atomic batch. `horizon`, when set, comes
 * with a state transfer (the sender had collected history below it): the node raises its
 * own GC horizon to it in the same batch, so it never answers a read that could miss
 * collected versions.
 */
export interface ApplyBatch {
  /** The origin region (positions are keyed by region; a version's `origin` is its data node). */
  readonly region: string;
  readonly to: Glt;
  readonly versions: VersionBatch;
  readonly horizon?: Glt;
}

/** What one `apply` call writes, atomically. */
export interface ApplyRequest {
  /** The leader's election epoch: calls of an older epoch than one seen fail FENCED. */
  readonly epoch: bigint;
  readonly batches: readonly ApplyBatch[];
  /** Raises the persisted frontier (never lowers it). */
  readonly frontier?: Glt;
}

/** What a node persisted about the streams (read by a new leader, docs/architecture.md "Failure rules"). */
export interface StreamState {
  /** Per origin region: every version of it with ts ≤ applied is held. */
  readonly applied: ReadonlyMap<string, Glt>;
  /**
   * Every region's versions are held up to at least this, listed or not: zero for a new
   * store; a data dir migrated from layout 1 held every committed version up to its frontier.
   */
  readonly appliedFloor: Glt;
  /** The last frontier persisted by a leader of this region (never moves back). */
  readonly frontier: Glt;
  /** The newest membership version whose rules (hide, re-stamp) this node has carried out. */
  readonly membershipApplied: number;
  /** The highest leader epoch seen. */
  readonly epoch: bigint;
  readonly horizon: Glt;
}

/**
 * A re-stamp rule (docs/architecture.md "Failure rules"): the versions of `origins` (one region's data nodes)
 * with ts in (above, upTo] move, on every region alike, to (floor.wall, floor.logical + r)
 * where r = 1, 2, … is their rank among that key's re-stamped versions in (ts, origin)
 * order; those above upTo keep their ts. Both only once they leave the hidden set.
 */
export interface RestampRule {
  readonly origins: readonly string[];
  readonly above: Glt;
  readonly upTo: Glt;
  readonly floor: Glt;
}

/** How much one chunked membership job (hide, restamp) did; `done` once nothing is left. */
export interface ChunkResult {
  readonly done: boolean;
  /** Versions moved by this call. */
  readonly moved: number;
}

/** A read of the change index: one origin's versions in (from, end], in ts order. */
export interface ChangesResult {
  readonly versions: VersionBatch;
  /** `to` when everything in (from, to] was read, else the ts of the last version read (a byte or count limit). */
  readonly end: Glt;
}

/**
 * The MVCC store of one data node (docs/architecture.md "Storage layout"). Implemented on LevelDB (`LevelStore`)
 * and in memory (`MemoryStore`, for the deterministic simulator); both pass the same
 * conformance suite (test/datanode/conformance.ts).
 *
 * Three kinds of entries:
 *  - version chains (what reads see), per key, newest first;
 *  - the change index, per origin in ts order: the log of every version this node holds,
 *    at its original ts, which feeds, backfills, relays and state transfers read;
 *  - the hidden set: versions of an excluded region above its watermark, kept out of the
 *    chains until a re-stamp brings them back.
 */
export interface Store {
  /** This node's id: the origin of the versions it stamps. */
  readonly origin: string;

  /** Stamps a local write at real time (the HLC, never pushed ahead); version and index entry in one atomic batch. */
  put(key: Buffer, value: Buffer): Promise<Version>;
  /** A tombstone version. */
  delete(key: Buffer): Promise<Version>;

  /** LWW winner with ts ≤ t; undefined when none or when it is a tombstone. SNAPSHOT_COLLECTED below the GC horizon. */
  get(key: Buffer, t: Glt): Promise<ReadResult | undefined>;
  /** Live LWW winners ≤ t in key order, at most `limit`, read from an iterator as the consumer pulls. */
  scan(range: KeyRange, t: Glt, limit?: number): AsyncIterable<ReadResult>;

  /**
   * The closed mark c: every own write with ts ≤ c is durable and no later write can be
   * stamped ≤ c. Taken as a clock reading, then waiting for the batches sealed before
   * it; never moves the clock. A ceiling above c is persisted before c is returned, and a
   * reopened store does not stamp below that ceiling.
   */
  closedMark(): Promise<Glt>;
  /** Calls `listener` after every batch of own writes is durable; returns the unsubscribe function. */
  onOwnWrites(listener: () => void): () => void;

  /**
   * `origin`'s versions with from < ts ≤ to from the change index (original timestamps),
   * at most `maxBytes` of encoded entries (at least one version when any exists).
   */
  changes(origin: string, from: Glt, to: Glt, maxBytes: number): Promise<ChangesResult>;
  /** The origins that have entries in the change index. */
  origins(): Promise<string[]>;

  /** Writes remote versions and raises positions, in one atomic batch (see ApplyBatch); returns how many versions it wrote. */
  apply(request: ApplyRequest): Promise<number>;
  streamState(): Promise<StreamState>;

  /**
   * Hides the versions of `origins` above `above`: from now on versions of them above it
   * (remote or, for this node's own origin, local writes) go to the hidden set, and each
   * call moves up to `limit` such versions out of the chains. Idempotent.
   */
  hide(epoch: bigint, origins: readonly string[], above: Glt, limit: number): Promise<ChunkResult>;
  /**
   * Applies a re-stamp rule to up to `limit` hidden versions per call; when none of
   * `rule.origins` is left hidden, drops their hiding. Idempotent.
   */
  restamp(epoch: bigint, rule: RestampRule, limit: number): Promise<ChunkResult>;
  /** Hidden versions held (own and remote): the writes waiting to be re-stamped. */
  hiddenCount(): number;
  /** Records that membership `version`'s rules are carried out (never lowered). */
  setMembershipApplied(epoch: bigint, version: number): Promise<void>;

  /** Drops versions older than `horizon` except the newest one at or below it; returns how many were dropped. */
  gc(horizon: Glt): Promise<number>;
  /** The GC horizon: reads below it fail with SNAPSHOT_COLLECTED. */
  horizon(): Glt;

  /** Releases the underlying database; the store is unusable afterwards (STORE_CLOSED). */
  shutdown(): Promise<void>;
}
