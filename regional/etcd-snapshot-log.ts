import { compareGlt } from '../glts/glt.js';
import type { CommitLog } from '../kernel/commit-log.js';
import type { CommitRecord } from '../kernel/records.js';
import type { Frontier } from './frontier.js';
import { MemorySnapshotLog, type CommittedSnapshot, type SnapshotLog } from './snapshot-log.js';

/** Records read from etcd when a leader starts, so Snapshots.List has history at once. */
export const SNAPSHOT_LOG_PRELOAD = 1_000;

function snapshotOf(r: CommitRecord): CommittedSnapshot {
  return {
    glt: r.T,
    members: r.members,
    // The record is written when every member is Ready: what it knows is Begin → Ready.
    durationMs: r.beginToReadyMs,
    // The critical path's collect and exchange, and the rest of Begin → Ready: messages in transit and queued.
    phases: [
      { name: 'collect', ms: r.collectMs },
      { name: 'exchange', ms: r.exchangeMs },
      { name: 'transit', ms: Math.max(0, r.beginToReadyMs - r.collectMs - r.exchangeMs) },
    ],
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
  private readonly pending: CommitRecord[] = [];

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

  /** A commit record from etcd; older than the newest known ones are ignored (watch replays). */
  record(r: CommitRecord): void {
    const newest = this.pending[this.pending.length - 1]?.T ?? this.log.latest()?.glt;
    if (newest && compareGlt(r.T, newest) <= 0) return;
    this.pending.push(r);
    if (this.pending.length > SNAPSHOT_LOG_PRELOAD) this.pending.shift();
    this.release();
  }

  private release(): void {
    const f = this.frontier.current();
    while (this.pending.length > 0 && compareGlt(this.pending[0]!.T, f) <= 0) this.log.append(snapshotOf(this.pending.shift()!));
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
