import type { AetherError } from '../common/errors.js';
import { GLT_ZERO, type Glt } from '../glts/glt.js';
import { arr, decodeJson, gltFromJson, gltToJson, int, num, obj, str, strList, u64, type Json } from './json-fields.js';

/** Upper bound on regions in one deployment: bounds every per-region list on the wire. */
export const MAX_REGIONS = 64;

/**
 * What the coordinator makes durable in etcd, in a transaction fenced on its election
 * key, before it announces a commit (DESIGN.md step 5).
 */
export interface CommitRecord {
  /** The snapshot's GLT. Strictly increasing over records (invariant M). */
  readonly T: Glt;
  /** The previous commit's GLT: a region at exactly prevT needs only this round's deltas to reach T. */
  readonly prevT: Glt;
  /** The election epoch of the coordinator that committed it. */
  readonly epoch: bigint;
  readonly roundId: number;
  /** Regions whose deltas the snapshot holds; exactly the round's members. */
  readonly members: readonly string[];
  /** Phase timing known when the record is written: Begin → last Ready… */
  readonly beginToReadyMs: number;
  /**
   * …and, of it, what the region whose Ready came last (the round's critical path)
   * spent collecting and exchanging; the rest is messages in transit and waiting to be
   * handled. 0 in records written before they were kept.
   */
  readonly collectMs: number;
  readonly exchangeMs: number;
  readonly coordinator: string;
}

/** The round's membership: who takes part, and, for each excluded region, its last committed watermark. */
export interface MembershipRecord {
  /** Incremented on every change. */
  readonly version: number;
  readonly members: readonly string[];
  /**
   * `watermark` = the last committed GLT whose round had the region as a member: its
   * own versions at or below it are in every snapshot; those above it are re-stamped
   * when it rejoins (DESIGN.md "Rejoin").
   */
  readonly excluded: readonly { readonly region: string; readonly watermark: Glt }[];
}

export function initialMembership(regions: readonly string[]): MembershipRecord {
  return { version: 1, members: [...regions], excluded: [] };
}

export function excludedWatermark(m: MembershipRecord, region: string): Glt | undefined {
  return m.excluded.find((e) => e.region === region)?.watermark;
}

export function commitRecordToJson(r: CommitRecord): Json {
  return {
    T: gltToJson(r.T),
    prevT: gltToJson(r.prevT),
    epoch: r.epoch.toString(),
    roundId: r.roundId,
    members: [...r.members],
    beginToReadyMs: r.beginToReadyMs,
    collectMs: r.collectMs,
    exchangeMs: r.exchangeMs,
    coordinator: r.coordinator,
  };
}

export function commitRecordFromJson(v: unknown, path = 'commit'): CommitRecord {
  const o = obj(v, path);
  return {
    T: gltFromJson(o.T, `${path}.T`),
    prevT: gltFromJson(o.prevT, `${path}.prevT`),
    epoch: u64(o.epoch, `${path}.epoch`),
    roundId: int(o.roundId, `${path}.roundId`),
    members: strList(o.members, `${path}.members`, MAX_REGIONS),
    beginToReadyMs: num(o.beginToReadyMs, `${path}.beginToReadyMs`),
    collectMs: o.collectMs === undefined ? 0 : num(o.collectMs, `${path}.collectMs`),
    exchangeMs: o.exchangeMs === undefined ? 0 : num(o.exchangeMs, `${path}.exchangeMs`),
    coordinator: str(o.coordinator, `${path}.coordinator`),
  };
}

export function membershipToJson(m: MembershipRecord): Json {
  return {
    version: m.version,
    members: [...m.members],
    excluded: m.excluded.map((e) => ({ region: e.region, watermark: gltToJson(e.watermark) })),
  };
}

export function membershipFromJson(v: unknown, path = 'membership'): MembershipRecord {
  const o = obj(v, path);
  const excluded = arr(o.excluded, `${path}.excluded`, MAX_REGIONS).map((x, i) => {
    const e = obj(x, `${path}.excluded[${i}]`);
    return { region: str(e.region, `${path}.excluded[${i}].region`), watermark: gltFromJson(e.watermark, `${path}.excluded[${i}].watermark`) };
  });
  return { version: int(o.version, `${path}.version`), members: strList(o.members, `${path}.members`, MAX_REGIONS), excluded };
}

export function encodeCommitRecord(r: CommitRecord): Buffer {
  return Buffer.from(JSON.stringify(commitRecordToJson(r)), 'utf8');
}

export function decodeCommitRecord(buf: Uint8Array): { ok: true; value: CommitRecord } | { ok: false; error: AetherError } {
  return decodeJson(buf, (v) => commitRecordFromJson(v));
}

export function encodeMembership(m: MembershipRecord): Buffer {
  return Buffer.from(JSON.stringify(membershipToJson(m)), 'utf8');
}

export function decodeMembership(buf: Uint8Array): { ok: true; value: MembershipRecord } | { ok: false; error: AetherError } {
  return decodeJson(buf, (v) => membershipFromJson(v));
}

/** The GLT of the last commit, or zero before the first one. */
export function committedGlt(r: CommitRecord | undefined): Glt {
  return r?.T ?? GLT_ZERO;
}
