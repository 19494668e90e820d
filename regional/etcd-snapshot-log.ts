import { compareGlt } from '../glts/glt.js';
import type { CommitLog } from '../kernel/commit-log.js';
import type { CommitRecord } from '../kernel/records.js';
import type { Frontier } from './frontier.js';
import { MemorySnapshotLog, type CommittedSnapshot, type SnapshotLog } from './snapshot-log.js';

/** Records read from etcd when a leader starts, so Snapshots.List has history at once. */
export const SNAPSHOT_LOG_PRELOAD = 1_000;

/**
 * A commit as clients see it: its duration is decide + persist (persist known when the
 * commit came by the coordinator's announcement, 0 from etcd alone); `lag` is how far T
 * trailed the coordinator's clock when it was decided (the slowest member's lag).
 */
function snapshotOf(r: CommitRecord, persistMs: number | undefined): CommittedSnapshot {
  return {
    glt: r.T,
    members: r.members,
    durationMs: r.decideMs + (persistMs ?? 0),
    phases: [{ name: 'decide', ms: r.decideMs }, ...(persistMs !== undefined ? [{ name: 'persist', ms: persistMs }] : []), { name: 'lag', ms: r.lagMs }],
    epoch: r.epoch,
    committedAtMs: Number(r.T.wall / 1_000_000n),
  };
}

/**
 * The committed snapshots as etcd's commit records say (the same in every region, also
 * after a failover): preloaded from the newest records, then fed by the commit watch.
 *
 * A record is shown only once this region's frontier has reached it: a region reports
 * the snapshots it can serve, so a client that reads at Latest's GLT here is never
 * refused SNAPSHOT_NOT_READY, and Watch tells when a snapshot became readable here,
 * not when etcd learnt of it.
 */
export class EtcdSnapshotLog implements SnapshotLog {
  /** Records above the frontier, oldest first; bounded by SNAPSHOT_LOG_PRELOAD (older ones dropped). */
  private readonly pending: { readonly record: CommitRecord; readonly persistMs: number | undefined }[] = [];

  private constructor(
    private readonly log: MemorySnapshotLog,
    private readonly frontier: Frontier,
  ) {}

  static async load(commits: Pick<CommitLog, 'recent'>, frontier: Frontier, preload = SNAPSHOT_LOG_PRELOAD): Promise<EtcdSnapshotLog> {
    const l = new EtcdSnapshotLog(new MemorySnapshotLog(), frontier);
    for (const r of await commits.recent(preload)) l.record(r);
    frontier.onAdvance(() => l.release());
    return l;
  }

  /** A commit record (from etcd, or announced with its persist time); older than the newest known ones are ignored (watch replays). */
  record(r: CommitRecord, persistMs?: number): void {
    const newest = this.pending[this.pending.length - 1]?.record.T ?? this.log.latest()?.glt;
    if (newest && compareGlt(r.T, newest) <= 0) return;
    this.pending.push({ record: r, persistMs });
    if (this.pending.length > SNAPSHOT_LOG_PRELOAD) this.pending.shift();
    this.release();
  }

  private release(): void {
    const f = this.frontier.current();
    while (this.pending.length > 0 && compareGlt(this.pending[0]!.record.T, f) <= 0) {
      const p = this.pending.shift()!;
      this.log.append(snapshotOf(p.record, p.persistMs));
    }
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
