import { MAX_KEY_BYTES, MAX_VALUE_BYTES } from '../datanode/checks.js';

/**
 * The limits of the public client API (aetherflow.v1 KV and Snapshots, served by each
 * region's leader), in one place. Every one answers a coded error instead of taking
 * memory or time without bound:
 *  - sizes: KEY_TOO_LARGE, VALUE_TOO_LARGE, INVALID_ARGUMENT (too many mutations, a wait
 *    too long); a message over maxRequestBytes is refused by gRPC before it is decoded
 *    (RESOURCE_EXHAUSTED, which the client reports as MESSAGE_TOO_LARGE);
 *  - concurrency: TOO_MANY_REQUESTS (RESOURCE_EXHAUSTED) beyond the reads waiting for
 *    the frontier, the scans or the watches one client connection — or all of them
 *    together — may have open; retry when one of them ends;
 *  - scans: one Scan call returns one page (scanPageRows rows, scanPageBytes of keys and
 *    values); a larger `limit`, or none, is capped to a page and the call's trailing
 *    metadata says where the next page starts (KvService, client/client.ts follows it).
 * The internal services (leader ↔ data node) keep proto/server.ts MAX_MESSAGE_BYTES.
 */
export interface ApiLimits {
  readonly maxKeyBytes: number;
  readonly maxValueBytes: number;
  /** Largest request message the public server decodes. */
  readonly maxRequestBytes: number;
  /** Largest response message it sends (a Get of the largest value fits). */
  readonly maxResponseBytes: number;
  /** Mutations in one Write call. */
  readonly maxWriteMutations: number;
  /** Longest a read may wait for the frontier (wait_ms). */
  readonly maxWaitMs: number;
  /** Reads (Get or Scan) waiting for the frontier to reach their glt or min_glt, per client connection… */
  readonly maxWaitingReadsPerPeer: number;
  /** …and in all (below regional/frontier.ts MAX_WAITERS, so this coded refusal comes first). */
  readonly maxWaitingReads: number;
  /** Scans open, from the call to its last row, per client connection and in all. */
  readonly maxOpenScansPerPeer: number;
  readonly maxOpenScans: number;
  /** Snapshot watches open, per client connection and in all. */
  readonly maxOpenWatchesPerPeer: number;
  readonly maxOpenWatches: number;
  /** Most rows, and key + value bytes (after the row that reaches it, so at least one row), of one Scan call. */
  readonly scanPageRows: number;
  readonly scanPageBytes: number;
  /** Snapshots a List without a limit returns; no List returns more than listMaxSnapshots. */
  readonly listDefaultSnapshots: number;
  readonly listMaxSnapshots: number;
  /** A watcher with this many messages unread is cut off (UNAVAILABLE) rather than buffered without bound. */
  readonly watchMaxBufferedMessages: number;
}

export const DEFAULT_API_LIMITS: ApiLimits = {
  maxKeyBytes: MAX_KEY_BYTES,
  maxValueBytes: MAX_VALUE_BYTES,
  maxRequestBytes: 4 << 20,
  maxResponseBytes: 4 << 20,
  maxWriteMutations: 10_000,
  maxWaitMs: 60_000,
  maxWaitingReadsPerPeer: 512,
  maxWaitingReads: 4096,
  maxOpenScansPerPeer: 16,
  maxOpenScans: 256,
  maxOpenWatchesPerPeer: 16,
  maxOpenWatches: 1024,
  scanPageRows: 10_000,
  scanPageBytes: 4 << 20,
  listDefaultSnapshots: 20,
  listMaxSnapshots: 1000,
  watchMaxBufferedMessages: 1000,
};
