import { compareGlt } from '../../glts/glt.js';
import type { CommitRecord, MembershipRecord } from '../../kernel/records.js';
import { SimViolation } from './invariants.js';

/**
 * The simulated etcd: one election (epoch = a revision that only grows), the last commit
 * record and the membership. A persist is one atomic transaction fenced on the election:
 * it applies only while `epoch` is still the current leader's.
 */
export class SimEtcd {
  revision = 0n;
  leader: { readonly id: string; readonly epoch: bigint } | undefined;
  last: CommitRecord | undefined;
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
      if (commit.membershipVersion !== this.membership.version) throw new SimViolation('M', `commit decided under membership ${commit.membershipVersion}, etcd holds ${this.membership.version}`);
      this.last = commit;
    }
    if (membership) {
      if (membership.version !== this.membership.version + 1) throw new SimViolation('M', `membership version ${membership.version} does not follow ${this.membership.version}`);
      this.membership = membership;
    }
    this.revision += 1n;
    return 'ok';
  }
}
