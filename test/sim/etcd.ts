import { compareGlt } from '../../glts/glt.js';
import type { CommitRecord, MembershipRecord } from '../../kernel/records.js';
import { SimViolation } from './invariants.js';

/** Commit records etcd keeps (the real deployment compacts to a bounded history too). */
export const HISTORY_LIMIT = 32;

/**
 * The simulated etcd: one election (epoch = a revision that only grows), commit records
 * with a bounded history, and the membership. A persist is one atomic transaction fenced
 * on the election: it applies only while `epoch` is still the current leader's.
 */
export class SimEtcd {
  revision = 0n;
  leader: { readonly id: string; readonly epoch: bigint } | undefined;
  last: CommitRecord | undefined;
  readonly history: CommitRecord[] = [];
  membership: MembershipRecord;

  constructor(membership: MembershipRecord) {
    this.membership = membership;
  }

  elect(id: string): bigint {
    this.revision += 1n;
    this.leader = { id, epoch: this.revision };
    return this.revision;
  }

  /** The lease ended (crash, isolation, resign). */
  dropLeader(): void {
    this.leader = undefined;
  }

  persist(epoch: bigint, commit: CommitRecord | undefined, membership: MembershipRecord | undefined): 'ok' | 'fenced' {
    if (!this.leader || this.leader.epoch !== epoch) return 'fenced';
    if (commit) {
      if (this.last && compareGlt(commit.T, this.last.T) <= 0) throw new SimViolation('M', `commit record T ${commit.T.wall}.${commit.T.logical} not above the last one`);
      this.last = commit;
      this.history.push(commit);
      if (this.history.length > HISTORY_LIMIT) this.history.shift();
    }
    if (membership) {
      if (membership.version <= this.membership.version) throw new SimViolation('M', 'membership version did not increase');
      this.membership = membership;
    }
    this.revision += 1n;
    return 'ok';
  }
}
