import type { Watcher } from 'etcd3';
import { etcdCall } from '../cluster/etcd.js';
import { compareGlt, type Glt } from '../glts/glt.js';
import { CommitLog } from '../kernel/commit-log.js';
import { CommitHistory } from './commit-history.js';
import { decodeCommitRecord, decodeMembership, type CommitRecord, type MembershipRecord } from '../kernel/records.js';
import type { Deployment } from './deployment.js';

export interface ObservedCommit {
  readonly record: CommitRecord;
  /** When the watch delivered it (Date.now()). */
  readonly atMs: number;
}

export interface ObservedMembership {
  readonly record: MembershipRecord;
  readonly atMs: number;
}

/** Bound on what one drill keeps: far above a drill's rounds (20/s for minutes). */
const MAX_OBSERVED = 100_000;
/** Membership records may trail the commits they go with (two watches): a settled-looking commit is judged again this much later. */
const MEMBERSHIP_LAG_MS = 300;
const POLL_MS = 100;

/**
 * Watches a deployment's commit records and membership in etcd while a drill runs:
 * etcd is where a commit becomes durable (DESIGN.md step 5), so it is the one place
 * that sees every round, whichever region or coordinator is down.
 */
export class RoundObserver {
  readonly commits: ObservedCommit[] = [];
  readonly memberships: ObservedMembership[] = [];
  /** The newest commit before the watch began (if older than every watched one): where the history of rule D starts. */
  prior: CommitRecord | undefined;
  /** Records that failed to decode: a bug in whoever wrote them. */
  malformed = 0;
  private watchers: Watcher[] = [];

  private constructor() {}

  static async start(d: Deployment): Promise<RoundObserver> {
    const o = new RoundObserver();
    const commits = await etcdCall('watch commits', () => d.etcd.watch().prefix(d.paths.commitsPrefix).create());
    commits.on('put', (kv) => o.onCommit(kv.value));
    const membership = await etcdCall('watch membership', () => d.etcd.watch().key(d.paths.membership).create());
    membership.on('put', (kv) => o.onMembership(kv.value));
    o.watchers = [commits, membership];
    const m = await etcdCall('read membership', () => d.etcd.get(d.paths.membership).exec());
    if (m.kvs[0]) o.onMembership(m.kvs[0].value);
    const last = await new CommitLog(d.etcd, d.paths, d.regionNames).last();
    const firstWatched = o.commits[0]?.record.T;
    if (last && (!firstWatched || compareGlt(last.T, firstWatched) < 0)) o.prior = last;
    return o;
  }

  async stop(): Promise<void> {
    await Promise.all(this.watchers.map((w) => w.cancel().catch(() => {})));
    this.watchers = [];
  }

  /** Commits observed in [fromMs, toMs). */
  commitsBetween(fromMs: number, toMs: number): ObservedCommit[] {
    return this.commits.filter((c) => c.atMs >= fromMs && c.atMs < toMs);
  }

  /** The first commit observed at or after `ms` (optionally: one whose members include or exclude a region). */
  firstCommitAfter(ms: number, pred: (r: CommitRecord) => boolean = () => true): ObservedCommit | undefined {
    return this.commits.find((c) => c.atMs >= ms && pred(c.record));
  }

  /** The first membership change at or after `ms` that satisfies `pred`. */
  firstMembershipAfter(ms: number, pred: (r: MembershipRecord) => boolean): ObservedMembership | undefined {
    return this.memberships.find((m) => m.atMs >= ms && pred(m.record));
  }

  /** The longest time between two consecutive observed commits in [fromMs, toMs], counting the window's edges. */
  longestGapMs(fromMs: number, toMs: number): number {
    let last = fromMs;
    let gap = 0;
    for (const c of this.commitsBetween(fromMs, toMs)) {
      gap = Math.max(gap, c.atMs - last);
      last = c.atMs;
    }
    return Math.max(gap, toMs - last);
  }

  /** The observed rounds and exclusions, as rule D judges writes by them. */
  history(): CommitHistory {
    return new CommitHistory(
      [...(this.prior ? [this.prior] : []), ...this.commits.map((c) => c.record)],
      this.memberships.flatMap((m) => m.record.excluded),
    );
  }

  /**
   * The first commit observed at or after `afterMs` (Date.now()) of every region of
   * `regions`, at or above `newest`, and settled (CommitHistory.settledAt: every region
   * readmitted meanwhile has shipped its re-stamped writes), so that it holds every write
   * acknowledged at or below `newest`. Waits for one until `deadlineMs`.
   */
  async settledCommit(regions: readonly string[], newest: Glt, afterMs: number, deadlineMs: number): Promise<ObservedCommit | undefined> {
    const settled = (h: CommitHistory): ObservedCommit | undefined =>
      this.firstCommitAfter(afterMs, (r) => compareGlt(r.T, newest) >= 0 && regions.every((x) => r.members.includes(x)) && h.settledAt(r.T));
    for (;;) {
      if (settled(this.history())) {
        await sleep(MEMBERSHIP_LAG_MS);
        const final = settled(this.history());
        if (final) return final;
      }
      if (Date.now() >= deadlineMs) return undefined;
      await sleep(POLL_MS);
    }
  }

  /** M over the observed records: GLTs strictly increase in the order etcd delivered them. */
  gltsIncreasing(): boolean {
    for (let i = 1; i < this.commits.length; i++) if (compareGlt(this.commits[i - 1]!.record.T, this.commits[i]!.record.T) >= 0) return false;
    return true;
  }

  /** The last committed GLT observed, if any. */
  lastGlt(): Glt | undefined {
    return this.commits.at(-1)?.record.T;
  }

  private onCommit(value: Buffer): void {
    const r = decodeCommitRecord(value);
    if (!r.ok) this.malformed++;
    else if (this.commits.length < MAX_OBSERVED) this.commits.push({ record: r.value, atMs: Date.now() });
  }

  private onMembership(value: Buffer): void {
    const r = decodeMembership(value);
    if (!r.ok) this.malformed++;
    else if (this.memberships.length < MAX_OBSERVED) this.memberships.push({ record: r.value, atMs: Date.now() });
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
