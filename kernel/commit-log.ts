import type { Etcd3, Watcher } from 'etcd3';
import { assert } from '../common/errors.js';
import { silentLogger, type Logger } from '../common/log.js';
import { fencedPut, type Fence } from '../cluster/election.js';
import { etcdCall, etcdError } from '../cluster/etcd.js';
import type { ClusterPaths } from '../cluster/paths.js';
import { compareGlt } from '../glts/glt.js';
import {
  decodeCommitRecord,
  decodeMembership,
  encodeCommitRecord,
  encodeMembership,
  initialMembership,
  type CommitRecord,
  type MembershipRecord,
} from './records.js';

/** Commit records kept in etcd; older ones are deleted in the transaction that writes a newer one. */
export const COMMIT_HISTORY = 1_000;

/**
 * The commit records and the membership in etcd (cluster/paths.ts: `commits/<T>`,
 * `membership`). The newest record is the greatest key under `commits/` (keys are in GLT
 * order), so there is no separate "last" key to keep in step. History is bounded: the
 * coordinator's fenced write also deletes every record older than the newest
 * COMMIT_HISTORY; etcd's own revision history is compacted by the server
 * (`--auto-compaction-mode=revision`, see topology/local-etcd.ts).
 */
export class CommitLog {
  /** Keys of the records known to be in etcd, oldest first; bounded by COMMIT_HISTORY + 1. */
  private keys: string[] = [];

  constructor(
    private readonly etcd: Etcd3,
    private readonly paths: ClusterPaths,
    private readonly regions: readonly string[],
    private readonly history = COMMIT_HISTORY,
  ) {
    assert(Number.isInteger(history) && history >= 1, 'history must be a positive integer');
  }

  /** The newest commit record, or undefined before the first commit. */
  async last(): Promise<CommitRecord | undefined> {
    const res = await etcdCall('read last commit', () => this.etcd.getAll().prefix(this.paths.commitsPrefix).sort('Key', 'Descend').limit(1).exec());
    const kv = res.kvs[0];
    if (!kv) return undefined;
    const d = decodeCommitRecord(kv.value);
    if (!d.ok) throw d.error;
    return d.value;
  }

  /** Up to `limit` newest records, oldest first. */
  async recent(limit: number): Promise<CommitRecord[]> {
    const res = await etcdCall('read commits', () => this.etcd.getAll().prefix(this.paths.commitsPrefix).sort('Key', 'Descend').limit(limit).exec());
    const out: CommitRecord[] = [];
    for (const kv of res.kvs) {
      const d = decodeCommitRecord(kv.value);
      if (d.ok) out.push(d.value);
    }
    return out.reverse();
  }

  /** The membership; before any was written, every region of the topology is a member. */
  async membership(): Promise<MembershipRecord> {
    const buf = await etcdCall('read membership', () => this.etcd.get(this.paths.membership).buffer());
    if (buf === null) return initialMembership(this.regions);
    const d = decodeMembership(buf);
    if (!d.ok) throw d.error;
    return d.value;
  }

  /** Reads which records exist, so that `persist` can bound the history (call once per term). */
  async loadHistory(): Promise<void> {
    const keys = await etcdCall('list commits', () => this.etcd.getAll().prefix(this.paths.commitsPrefix).sort('Key', 'Ascend').keys());
    this.keys = keys;
  }

  /**
   * One transaction, fenced on the election term: the commit record and/or the membership,
   * and the deletion of records beyond the bounded history. FENCED when the term is over
   * (nothing written), ETCD when the outcome is unknown.
   */
  async persist(fence: Fence, w: { readonly commit?: CommitRecord; readonly membership?: MembershipRecord }): Promise<void> {
    const puts: { key: string; value: Buffer }[] = [];
    if (w.commit) puts.push({ key: this.paths.commit(w.commit.T), value: encodeCommitRecord(w.commit) });
    if (w.membership) puts.push({ key: this.paths.membership, value: encodeMembership(w.membership) });
    const newKey = w.commit ? this.paths.commit(w.commit.T) : undefined;
    const keys = newKey ? [...this.keys.filter((k) => k < newKey), newKey] : this.keys;
    const excess = keys.length - this.history;
    // Delete [prefix, first key kept): every older record, including any this process never saw.
    const deletes = excess > 0 ? [{ start: this.paths.commitsPrefix, end: keys[excess]! }] : [];
    await fencedPut(this.etcd, fence, puts, deletes);
    this.keys = excess > 0 ? keys.slice(excess) : keys;
  }

  /**
   * Watches membership changes, and the commit records unless `commits` is false (a leader
   * learns commits from the coordinator's announcements and reads the newest one only
   * when they stop: watching every record would cost it one event per commit). After a
   * reconnect (events may have been missed) the newest of each is read again. Returns the
   * function that stops it.
   */
  async watch(
    handlers: { readonly commit: (r: CommitRecord) => void; readonly membership: (m: MembershipRecord) => void },
    log: Logger = silentLogger(),
    options: { readonly commits?: boolean } = {},
  ): Promise<() => Promise<void>> {
    let newest: CommitRecord | undefined;
    const onCommit = (r: CommitRecord): void => {
      if (newest && compareGlt(r.T, newest.T) <= 0) return;
      newest = r;
      handlers.commit(r);
    };
    const resync = async (): Promise<void> => {
      try {
        const [last, membership] = await Promise.all([this.last(), this.membership()]);
        if (last) onCommit(last);
        handlers.membership(membership);
      } catch (err) {
        log.warn({ err }, 'reading commits after a reconnect failed');
      }
    };
    const watchers: Watcher[] = [];
    try {
      if (options.commits ?? true) {
        const commits = await etcdCall('watch commits', () => this.etcd.watch().prefix(this.paths.commitsPrefix).create());
        watchers.push(commits);
        commits.on('put', (kv) => {
          const d = decodeCommitRecord(kv.value);
          if (d.ok) onCommit(d.value);
          else log.warn({ err: d.error, key: kv.key.toString() }, 'malformed commit record');
        });
        commits.on('error', (err) => log.warn({ err: etcdError('commit watch', err) }, 'commit watch failed'));
      }
      const membership = await etcdCall('watch membership', () => this.etcd.watch().key(this.paths.membership).create());
      watchers.push(membership);
      membership.on('put', (kv) => {
        const d = decodeMembership(kv.value);
        if (d.ok) handlers.membership(d.value);
        else log.warn({ err: d.error }, 'malformed membership record');
      });
      membership.on('connected', () => void resync());
      membership.on('error', (err) => log.warn({ err: etcdError('membership watch', err) }, 'membership watch failed'));
    } catch (err) {
      for (const w of watchers) await w.cancel().catch(() => {});
      throw err;
    }
    await resync();
    return async () => {
      for (const w of watchers) await w.cancel().catch(() => {});
    };
  }
}
