import type { Watcher } from 'etcd3';
import { etcdCall } from '../cluster/etcd.js';
import { compareGlt, formatGlt, gltDiffMs, type Glt } from '../glts/glt.js';
import { CommitLog } from '../kernel/commit-log.js';
import { decodeCommitRecord, decodeMembership, type CommitRecord, type MembershipRecord } from '../kernel/records.js';
import { CommitHistory } from '../history/commit-history.js';
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

/** Bound on what one drill keeps: far above a drill's commits (20/s for minutes). */
const MAX_OBSERVED = 100_000;
const POLL_MS = 100;

/**
 * Watches a deployment's commit records and membership in etcd while a drill runs: etcd
 * is where a commit becomes durable (docs/architecture.md "The snapshot pipeline"), so it is the one place that sees
 * every commit, whichever region or coordinator is down.
 */
export class CommitObserver {
  readonly commits: ObservedCommit[] = [];
  /** Membership records watched (changes after the start). */
  readonly memberships: ObservedMembership[] = [];
  /** The membership in force when the watch began (before the first change etcd holds none: the initial one, version 1). */
  initial: MembershipRecord | undefined;
  /** The newest commit before the watch began (if older than every watched one): where the history starts. */
  prior: CommitRecord | undefined;
  /** Records that failed to decode: a bug in whoever wrote them. */
  malformed = 0;
  /**
   * Records delivered again unchanged: a coordinator re-persisting a commit whose first
   * write had an unknown outcome (etcd's leader died), or a watch replaying after a
   * reconnect. The same record twice is one commit; only a different record at a GLT or
   * version already seen, or an older one, breaks M.
   */
  repeated = 0;
  private readonly seen = new Set<string>();
  private watchers: Watcher[] = [];

  private constructor() {}

  static async start(d: Deployment): Promise<CommitObserver> {
    const o = new CommitObserver();
    const commits = await etcdCall('watch commits', () => d.etcd.watch().prefix(d.paths.commitsPrefix).create());
    commits.on('put', (kv) => o.onCommit(kv.value));
    const membership = await etcdCall('watch membership', () => d.etcd.watch().key(d.paths.membership).create());
    membership.on('put', (kv) => o.onMembership(kv.value));
    o.watchers = [commits, membership];
    const log = new CommitLog(d.etcd, d.paths, d.regionNames);
    o.initial = await log.membership();
    const last = await log.last();
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

  /** The first commit observed at or after `ms` that satisfies `pred`. */
  firstCommitAfter(ms: number, pred: (r: CommitRecord) => boolean = () => true): ObservedCommit | undefined {
    return this.commits.find((c) => c.atMs >= ms && pred(c.record));
  }

  /** The first membership change at or after `ms` that satisfies `pred`. */
  firstMembershipAfter(ms: number, pred: (r: MembershipRecord) => boolean): ObservedMembership | undefined {
    return this.memberships.find((m) => m.atMs >= ms && pred(m.record));
  }

  /**
   * The largest step in GLT between consecutive commits observed in [fromMs, toMs], from
   * the last one before the window on: how long the snapshots stood still, by the
   * deployment's clock rather than by when this process was told. `atMs`: when the commit
   * that ended it was observed.
   */
  largestGap(fromMs: number, toMs: number): { readonly ms: number; readonly atMs: number } | undefined {
    const before = this.commits.filter((c) => c.atMs < fromMs).at(-1) ?? (this.prior && { record: this.prior, atMs: 0 });
    const seq = [...(before ? [before] : []), ...this.commitsBetween(fromMs, toMs + 1)];
    let gap: { ms: number; atMs: number } | undefined;
    for (let i = 1; i < seq.length; i++) {
      const ms = gltDiffMs(seq[i]!.record.T, seq[i - 1]!.record.T);
      if (!gap || ms > gap.ms) gap = { ms: Math.round(ms), atMs: seq[i]!.atMs };
    }
    return gap;
  }

  /** The observed commits and membership records, as rule D judges writes by them. */
  history(): CommitHistory {
    return new CommitHistory(
      [...(this.prior ? [this.prior] : []), ...this.commits.map((c) => c.record)],
      [...(this.initial ? [this.initial] : []), ...this.memberships.map((m) => m.record)],
    );
  }

  /**
   * The first commit observed at or after `afterMs` (Date.now()) of every region of
   * `regions`, at or above `newest`, and settled (its membership version seen, so the
   * model knows every rule its snapshot carries out): it holds every write acknowledged
   * at or below `newest`. Waits for one until `deadlineMs`.
   */
  async settledCommit(regions: readonly string[], newest: Glt, afterMs: number, deadlineMs: number): Promise<ObservedCommit | undefined> {
    for (;;) {
      const h = this.history();
      const found = this.firstCommitAfter(afterMs, (r) => compareGlt(r.T, newest) >= 0 && regions.every((x) => r.members.includes(x)) && h.settledAt(r.T));
      if (found || Date.now() >= deadlineMs) return found;
      await sleep(POLL_MS);
    }
  }

  /** The newest settled commit at or above `newest`, whatever its members. */
  lastSettledCommit(newest: Glt): ObservedCommit | undefined {
    const h = this.history();
    return this.commits.filter((c) => compareGlt(c.record.T, newest) >= 0 && h.settledAt(c.record.T)).at(-1);
  }

  /**
   * M over the observed records: GLTs strictly increase in the order etcd delivered them,
   * and so do membership versions. Returns each break (at most `limit`), described; none
   * when M held.
   */
  monotonicBreaks(limit = 5): string[] {
    const out: string[] = [];
    for (let i = 1; i < this.commits.length && out.length < limit; i++) {
      const [a, b] = [this.commits[i - 1]!.record, this.commits[i]!.record];
      if (compareGlt(a.T, b.T) >= 0) out.push(`commit ${formatGlt(b.T)} (epoch ${b.epoch}, ${b.coordinator}) observed after ${formatGlt(a.T)} (epoch ${a.epoch}, ${a.coordinator})`);
    }
    for (let i = 1; i < this.memberships.length && out.length < limit; i++) {
      const [a, b] = [this.memberships[i - 1]!.record, this.memberships[i]!.record];
      if (a.version >= b.version) out.push(`membership version ${b.version} observed after version ${a.version}`);
    }
    return out;
  }

  /** The last committed GLT observed, if any. */
  lastGlt(): Glt | undefined {
    return this.commits.at(-1)?.record.T;
  }

  private onCommit(value: Buffer): void {
    const r = decodeCommitRecord(value);
    if (!r.ok) this.malformed++;
    else if (this.repeats('commit', value)) this.repeated++;
    else if (this.commits.length < MAX_OBSERVED) this.commits.push({ record: r.value, atMs: Date.now() });
  }

  private onMembership(value: Buffer): void {
    const r = decodeMembership(value);
    if (!r.ok) this.malformed++;
    else if (this.repeats('membership', value)) this.repeated++;
    else if (this.memberships.length < MAX_OBSERVED) this.memberships.push({ record: r.value, atMs: Date.now() });
  }

  /** Whether exactly this record was observed before (bounded like the records kept). */
  private repeats(kind: string, value: Buffer): boolean {
    const key = `${kind}:${value.toString('base64')}`;
    if (this.seen.has(key)) return true;
    if (this.seen.size < 2 * MAX_OBSERVED) this.seen.add(key);
    return false;
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
