import type { Glt } from '../glts/glt.js';
import type { CommitRecord, MembershipRecord } from './records.js';

/**
 * The messages of the v2 pipeline (docs/architecture.md "The snapshot pipeline"), exchanged over
 * Quantum between region leaders, and between leaders and the coordinator. Endpoints are
 * named by region; the coordinator by `COORDINATOR`. The wire form is protobuf
 * (proto/aetherflow/internal/v1/stream.proto, kernel/wire.ts).
 */
export const COORDINATOR = '@coordinator';

/**
 * Versions of the origin region `origin` with ts in (from, to], from its stream (or a
 * relay of it). The delta is encoded once and sent as the same bytes to every peer.
 */
export interface Ship {
  readonly type: 'ship';
  /** The origin region of the versions. */
  readonly origin: string;
  /** The sending region: `origin` itself, or a member relaying it. */
  readonly region: string;
  readonly from: Glt;
  readonly to: Glt;
  /**
   * Non-zero when `from` is below the sender's GC horizon: the batch holds only what the
   * sender kept (a state transfer), and the receiver must raise its own horizon to this.
   */
  readonly horizon: Glt;
  /** A framed delta (datanode/delta.ts); an empty one for a mark-only batch. */
  readonly delta: Buffer;
  /** Versions in the delta (a receiver checks it against the decoded count). */
  readonly count: number;
}

/**
 * The receiver `region` holds `origin` durably up to `applied`. Sent after every apply and
 * periodically to the origin's leader (so a new leader learns where each peer stands),
 * and with `gap` when a Ship started beyond what it holds: resend from `applied`.
 */
export interface Ack {
  readonly type: 'ack';
  readonly origin: string;
  readonly region: string;
  readonly applied: Glt;
  readonly gap: boolean;
}

/**
 * `region` asks a member to relay `origin`'s versions in (from, upTo] from its change
 * index (an excluded origin's versions up to its watermark, docs/architecture.md "Failure rules").
 */
export interface RelayRequest {
  readonly type: 'relay';
  readonly origin: string;
  readonly region: string;
  readonly from: Glt;
  readonly upTo: Glt;
}

/** What a region's leader has durably applied (docs/architecture.md "The snapshot pipeline"). */
export interface Progress {
  readonly type: 'progress';
  readonly region: string;
  /** The region leader's election epoch. */
  readonly leaderEpoch: bigint;
  /** Per origin region (its own included, with its closed mark): held durably up to this. */
  readonly applied: readonly { readonly origin: string; readonly ts: Glt }[];
  /** The membership version whose rules its data nodes have carried out. */
  readonly membershipApplied: number;
  readonly frontier: Glt;
}

/** A commit, announced after it is durable in etcd, with the membership it was decided under. */
export interface Commit {
  readonly type: 'commit';
  readonly epoch: bigint;
  readonly record: CommitRecord;
  readonly membership: MembershipRecord;
  /** The commit's persist and announce times, for Snapshots.List (the record holds the decision only). */
  readonly persistMs: number;
}

/** A membership change (exclusion, readmission), announced after it is durable in etcd. */
export interface Membership {
  readonly type: 'membership';
  readonly epoch: bigint;
  readonly record: MembershipRecord;
}

export type Message = Ship | Ack | RelayRequest | Progress | Commit | Membership;
export type MessageType = Message['type'];

/** Messages the coordinator sends; every other type comes from a region's leader. */
export function fromCoordinator(m: Message): m is Commit | Membership {
  return m.type === 'commit' || m.type === 'membership';
}

/** The region a leader's message claims to come from (checked against the Quantum sender). */
export function senderRegion(m: Exclude<Message, Commit | Membership>): string {
  return m.region;
}
