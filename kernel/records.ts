import type { AetherError } from '../common/errors.js';
import { GLT_ZERO, compareGlt, maxGlt, type Glt } from '../glts/glt.js';
import { arr, decodeJson, gltFromJson, gltToJson, int, num, obj, str, strList, u64, type Json } from './json-fields.js';

/** Upper bound on regions in one deployment: bounds every per-region list on the wire. */
export const MAX_REGIONS = 64;
/**
 * Re-stamp rules a membership record keeps (newest last). A leader whose data nodes
 * applied a membership version older than the oldest rule kept cannot catch up on the
 * rules alone; it says so (MEMBERSHIP_GAP) and serves nothing newer.
 */
export const MAX_RESTAMP_RULES = 64;

/**
 * What the coordinator makes durable in etcd, in a transaction fenced on its election
 * key, before it announces a commit (docs/architecture.md "The snapshot pipeline").
 */
export interface CommitRecord {
  /** The snapshot's GLT: the minimum applied mark over members. Strictly increasing over records (M). */
  readonly T: Glt;
  /** The election epoch of the coordinator that committed it. */
  readonly epoch: bigint;
  /** Regions whose versions up to T the snapshot holds. */
  readonly members: readonly string[];
  /** The membership version T was decided under: a leader applies its rules before it serves T. */
  readonly membershipVersion: number;
  readonly coordinator: string;
  /** Interval tick → decision, as the coordinator measured it. */
  readonly decideMs: number;
  /** How far T trailed the coordinator's clock when decided: the slowest member's lag. */
  readonly lagMs: number;
}

/** An excluded region: hidden above `hiddenAbove` until it is readmitted. */
export interface ExcludedRegion {
  readonly region: string;
  /** The last committed GLT when it was excluded: its own frontier stays at or below it. */
  readonly watermark: Glt;
  /**
   * Its data nodes' versions above this are kept out of every snapshot (docs/architecture.md "Failure rules"):
   * max(watermark, the upTo of its last re-stamp rule) — what an earlier readmission
   * re-stamped is already in the snapshots.
   */
  readonly hiddenAbove: Glt;
}

/** A readmission's re-stamp (docs/architecture.md "Failure rules"), applied by every region to the versions it holds. */
export interface RestampRecord {
  /** The membership version that readmitted the region. */
  readonly version: number;
  readonly region: string;
  readonly above: Glt;
  /** Every member held the region's versions up to here when it was readmitted. */
  readonly upTo: Glt;
  /** The last committed GLT at readmission: re-stamped versions land just above it. */
  readonly floor: Glt;
}

/** Who takes part in the snapshots, who is excluded, and the re-stamp rules still to be applied by laggards. */
export interface MembershipRecord {
  /** Incremented on every change. */
  readonly version: number;
  readonly members: readonly string[];
  readonly excluded: readonly ExcludedRegion[];
  /** Newest last, at most MAX_RESTAMP_RULES. */
  readonly restamps: readonly RestampRecord[];
}

export function initialMembership(regions: readonly string[]): MembershipRecord {
  return { version: 1, members: [...regions], excluded: [], restamps: [] };
}

export function excludedEntry(m: MembershipRecord, region: string): ExcludedRegion | undefined {
  return m.excluded.find((e) => e.region === region);
}

/** The record after excluding `region` at `watermark` (the last committed GLT). */
export function excludeRegion(m: MembershipRecord, region: string, watermark: Glt): MembershipRecord {
  const lastRule = [...m.restamps].reverse().find((r) => r.region === region);
  const hiddenAbove = lastRule ? maxGlt(watermark, lastRule.upTo) : watermark;
  return {
    version: m.version + 1,
    members: m.members.filter((x) => x !== region),
    excluded: [...m.excluded, { region, watermark, hiddenAbove }],
    restamps: m.restamps,
  };
}

/** The record after readmitting `region`, its hidden versions up to `upTo` re-stamped above `floor`. */
export function readmitRegion(m: MembershipRecord, region: string, upTo: Glt, floor: Glt, order: readonly string[]): MembershipRecord {
  const e = excludedEntry(m, region);
  if (!e) return m;
  const version = m.version + 1;
  const members = order.filter((x) => x === region || m.members.includes(x));
  const rule: RestampRecord = { version, region, above: e.hiddenAbove, upTo, floor };
  return { version, members, excluded: m.excluded.filter((x) => x.region !== region), restamps: [...m.restamps, rule].slice(-MAX_RESTAMP_RULES) };
}

export function commitRecordToJson(r: CommitRecord): Json {
  return {
    T: gltToJson(r.T),
    epoch: r.epoch.toString(),
    members: [...r.members],
    membershipVersion: r.membershipVersion,
    coordinator: r.coordinator,
    decideMs: r.decideMs,
    lagMs: r.lagMs,
  };
}

export function commitRecordFromJson(v: unknown, path = 'commit'): CommitRecord {
  const o = obj(v, path);
  return {
    T: gltFromJson(o.T, `${path}.T`),
    epoch: u64(o.epoch, `${path}.epoch`),
    members: strList(o.members, `${path}.members`, MAX_REGIONS),
    membershipVersion: int(o.membershipVersion, `${path}.membershipVersion`),
    coordinator: str(o.coordinator, `${path}.coordinator`),
    decideMs: num(o.decideMs, `${path}.decideMs`),
    lagMs: num(o.lagMs, `${path}.lagMs`),
  };
}

export function membershipToJson(m: MembershipRecord): Json {
  return {
    version: m.version,
    members: [...m.members],
    excluded: m.excluded.map((e) => ({ region: e.region, watermark: gltToJson(e.watermark), hiddenAbove: gltToJson(e.hiddenAbove) })),
    restamps: m.restamps.map((r) => ({ version: r.version, region: r.region, above: gltToJson(r.above), upTo: gltToJson(r.upTo), floor: gltToJson(r.floor) })),
  };
}

export function membershipFromJson(v: unknown, path = 'membership'): MembershipRecord {
  const o = obj(v, path);
  const excluded = arr(o.excluded, `${path}.excluded`, MAX_REGIONS).map((x, i) => {
    const p = `${path}.excluded[${i}]`;
    const e = obj(x, p);
    return { region: str(e.region, `${p}.region`), watermark: gltFromJson(e.watermark, `${p}.watermark`), hiddenAbove: gltFromJson(e.hiddenAbove, `${p}.hiddenAbove`) };
  });
  const restamps = arr(o.restamps, `${path}.restamps`, MAX_RESTAMP_RULES).map((x, i) => {
    const p = `${path}.restamps[${i}]`;
    const r = obj(x, p);
    return {
      version: int(r.version, `${p}.version`),
      region: str(r.region, `${p}.region`),
      above: gltFromJson(r.above, `${p}.above`),
      upTo: gltFromJson(r.upTo, `${p}.upTo`),
      floor: gltFromJson(r.floor, `${p}.floor`),
    };
  });
  return { version: int(o.version, `${path}.version`), members: strList(o.members, `${path}.members`, MAX_REGIONS), excluded, restamps };
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

/** Newer membership wins: by version. */
export function newerMembership(a: MembershipRecord | undefined, b: MembershipRecord): boolean {
  return a === undefined || b.version > a.version;
}

/** The later of two commit records by T. */
export function laterCommit(a: CommitRecord | undefined, b: CommitRecord): boolean {
  return a === undefined || compareGlt(b.T, a.T) > 0;
}
