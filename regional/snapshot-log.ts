import { assert } from '../common/errors.js';
import { compareGlt, formatGlt, type Glt } from '../glts/glt.js';

/** One phase of a commit (decide, persist, announce) and its duration. */
export interface PhaseTiming {
  readonly name: string;
  readonly ms: number;
}

/** A committed snapshot as clients see it (Snapshots service). */
export interface CommittedSnapshot {
  readonly glt: Glt;
  /** Regions that took part. */
  readonly members: readonly string[];
  /** Begin to Commit. */
  readonly durationMs: number;
  readonly phases: readonly PhaseTiming[];
  /** The coordinator epoch that committed it. */
  readonly epoch: bigint;
  readonly committedAtMs: number;
}

/**
 * The committed snapshots a leader knows, newest last. Commits fill it (announced, or
 * read from etcd's commit records when none was announced for a while or after a failover); the Snapshots service reads it.
 */
export interface SnapshotLog {
  latest(): CommittedSnapshot | undefined;
  /** Newest first, at most `limit`. */
  list(limit: number): CommittedSnapshot[];
  /** Calls `listener` for every snapshot appended from now on; returns the unsubscribe function. */
  subscribe(listener: (s: CommittedSnapshot) => void): () => void;
}

/** Snapshots kept when none is configured: 600 s of retention at one per 50 ms. */
export const DEFAULT_SNAPSHOT_CAPACITY = 12_000;

/** A SnapshotLog in memory, bounded to the newest `capacity` snapshots. */
export class MemorySnapshotLog implements SnapshotLog {
  /** Oldest first; GLTs strictly increasing (invariant M). */
  private readonly entries: CommittedSnapshot[] = [];
  private readonly listeners = new Set<(s: CommittedSnapshot) => void>();

  constructor(private readonly capacity = DEFAULT_SNAPSHOT_CAPACITY) {
    assert(Number.isInteger(capacity) && capacity > 0, 'capacity must be a positive integer');
  }

  append(s: CommittedSnapshot): void {
    const last = this.latest();
    assert(last === undefined || compareGlt(s.glt, last.glt) > 0, () => `committed GLTs must strictly increase: ${formatGlt(s.glt)} after ${last ? formatGlt(last.glt) : '-'}`);
    this.entries.push(s);
    if (this.entries.length > this.capacity) this.entries.shift();
    for (const l of this.listeners) l(s);
  }

  latest(): CommittedSnapshot | undefined {
    return this.entries[this.entries.length - 1];
  }

  list(limit: number): CommittedSnapshot[] {
    return this.entries.slice(-limit).reverse();
  }

  subscribe(listener: (s: CommittedSnapshot) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
}
