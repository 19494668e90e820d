import { compareGlt } from '../glts/glt.js';
import type { CommitLog } from '../kernel/commit-log.js';
import type { CommitRecord } from '../kernel/records.js';
import { MemorySnapshotLog, type CommittedSnapshot, type SnapshotLog } from './snapshot-log.js';

/** Records read from etcd when a leader starts, so Snapshots.List has history at once. */
export const SNAPSHOT_LOG_PRELOAD = 1_000;

function snapshotOf(r: CommitRecord): CommittedSnapshot {
  return {
    glt: r.T,
    members: r.members,
    // The record is written when every member is Ready: what it knows is Begin → Ready.
    durationMs: r.beginToReadyMs,
    phases: [{ name: 'begin-to-ready', ms: r.beginToReadyMs }],
    epoch: r.epoch,
    committedAtMs: Number(r.T.wall / 1_000_000n),
  };
}

/**
 * The committed snapshots as etcd's commit records say (the same in every region, also
 * after a failover): preloaded from the newest records, then fed by the commit watch.
 */
export class EtcdSnapshotLog implements SnapshotLog {
  private constructor(private readonly log: MemorySnapshotLog) {}

  static async load(commits: CommitLog, preload = SNAPSHOT_LOG_PRELOAD): Promise<EtcdSnapshotLog> {
    const l = new EtcdSnapshotLog(new MemorySnapshotLog());
    for (const r of await commits.recent(preload)) l.record(r);
    return l;
  }

  /** A commit record from etcd; older than the newest known ones are ignored (watch replays). */
  record(r: CommitRecord): void {
    const last = this.log.latest();
    if (last && compareGlt(r.T, last.glt) <= 0) return;
    this.log.append(snapshotOf(r));
  }

  latest(): CommittedSnapshot | undefined {
    return this.log.latest();
  }

  list(limit: number): CommittedSnapshot[] {
    return this.log.list(limit);
  }

  subscribe(listener: (s: CommittedSnapshot) => void): () => void {
    return this.log.subscribe(listener);
  }
}
