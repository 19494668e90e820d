import { AetherError } from '../common/errors.js';
import type { Glt } from '../glts/glt.js';
import type { Version } from '../datanode/version.js';
import { decodeDelta, encodeDelta } from '../datanode/delta.js';
import { MAX_REGIONS } from './records.js';
import {
  FieldError,
  arr,
  bool,
  gltFromJson,
  gltToJson,
  int,
  num,
  obj,
  str,
  strList,
  u64,
  type Json,
} from './json-fields.js';

/**
 * The messages of the snapshot round (DESIGN.md "The snapshot round"), exchanged over
 * Quantum between the coordinator and the regions' leaders, and between leaders.
 * Endpoints are named by region; the coordinator by `COORDINATOR`.
 *
 * Every message the coordinator sends carries its election epoch; a leader remembers the
 * highest epoch it has seen and ignores anything older, so a deposed coordinator's late
 * messages are harmless. A round is named by (epoch, roundId); T strictly increases with it.
 */
export const COORDINATOR = '@coordinator';

/** Frame format version (byte 0 of an encoded message). */
export const MESSAGE_FORMAT = 1;
/** Upper bound on a message's JSON header; the versions travel in the delta codec after it. */
export const MAX_HEADER_BYTES = 64 << 10;

/** Step 1: the coordinator opens round T. */
export interface Begin {
  readonly type: 'begin';
  readonly epoch: bigint;
  readonly roundId: number;
  readonly T: Glt;
  /** Every region taking part, joiners included. */
  readonly members: readonly string[];
  /** Excluded regions readmitted by this round, each with its authoritative watermark to re-stamp above. */
  readonly joining: readonly { readonly region: string; readonly watermark: Glt }[];
  /** The last committed snapshot when the round began: a leader must hold it before it may be Ready. */
  readonly prev: { readonly T: Glt; readonly prevT: Glt; readonly members: readonly string[] };
}

/** Step 3: one leader's own-origin versions with ts in (base, T], to one peer. */
export interface Delta {
  readonly type: 'delta';
  readonly epoch: bigint;
  readonly roundId: number;
  readonly T: Glt;
  readonly from: string;
  /**
   * The delta holds every own version of the sender above `base`: its watermark (never
   * above prev.T), or higher when the receiver said it holds the sender's versions up to
   * there from rounds that did not commit (`holds`).
   */
  readonly base: Glt;
  /** How far the sender holds the receiver's own versions, shipped in rounds that did not commit (GLT 0: none). */
  readonly holds: Glt;
  readonly versions: readonly Version[];
}

/**
 * A leader's progress when it has sent its own delta but is not Ready yet. It lets the
 * coordinator blame the region that failed (silent, or listed as missing by the others),
 * not the regions that waited on it.
 */
export interface Waiting {
  readonly type: 'waiting';
  readonly epoch: bigint;
  readonly roundId: number;
  readonly T: Glt;
  readonly region: string;
  /** Members whose delta for T it has not received. */
  readonly missing: readonly string[];
  /** False while it still lacks committed snapshots up to prev.T (catching up). */
  readonly caughtUp: boolean;
}

/**
 * A leader cannot take part in round T: its collect failed (a data node is down). The
 * coordinator aborts the round at once instead of waiting out its budget — a readmitting
 * round's budget is up to 16 s, all of it lost to every region.
 */
export interface Unable {
  readonly type: 'unable';
  readonly epoch: bigint;
  readonly roundId: number;
  readonly T: Glt;
  readonly region: string;
  /** The error code of what failed. */
  readonly code: string;
}

/** Step 4: the region holds its own and every member's delta for T, and every snapshot up to prev.T. */
export interface Ready {
  readonly type: 'ready';
  readonly epoch: bigint;
  readonly roundId: number;
  readonly T: Glt;
  readonly region: string;
  readonly frontier: Glt;
  /** Where the region's time went, as its leader measured it: Begin → own delta sent (close and collect)… */
  readonly collectMs: number;
  /** …and own delta sent → Ready (the peers' deltas, and any catching up). */
  readonly exchangeMs: number;
}

/** Step 5, after the commit record is durable: apply the staged deltas and advance to T. */
export interface Commit {
  readonly type: 'commit';
  readonly epoch: bigint;
  readonly roundId: number;
  readonly T: Glt;
  readonly prevT: Glt;
  readonly members: readonly string[];
}

/** Round T is abandoned: drop its staged deltas. */
export interface Abort {
  readonly type: 'abort';
  readonly epoch: bigint;
  readonly roundId: number;
  readonly T: Glt;
}

/** An excluded region asks to be readmitted (DESIGN.md "Rejoin" b). */
export interface JoinRequest {
  readonly type: 'join';
  readonly region: string;
  readonly frontier: Glt;
}

/**
 * A region behind the last commit asks a peer for versions with ts in (from, to]: the
 * peer's per-requester watermark is the requester's own frontier.
 *  - mode 'all': every version of any origin; the peer must itself be at or past `to`
 *    (or answers up to its own frontier).
 *  - mode 'own': the peer's own-origin versions only; asked of every member of the
 *    commit `to` when `from` is its prevT, so a region can rebuild the deltas of a
 *    commit it lost (it crashed after Ready), even when no region has applied it yet.
 */
export type CatchUpMode = 'all' | 'own';

export interface CatchUpRequest {
  readonly type: 'catchup-request';
  readonly reqId: number;
  readonly mode: CatchUpMode;
  readonly region: string;
  readonly from: Glt;
  readonly to: Glt;
}

/**
 * The answer: committed versions in (from, to]. `full` when `from` was below the donor's
 * GC horizon: then it is the donor's whole state up to `to` and the requester must not
 * serve reads below `horizon` (a full state transfer).
 */
export interface CatchUp {
  readonly type: 'catchup';
  readonly reqId: number;
  readonly mode: CatchUpMode;
  readonly region: string;
  readonly from: Glt;
  readonly to: Glt;
  readonly full: boolean;
  readonly horizon: Glt;
  readonly versions: readonly Version[];
}

/** The donor is itself behind `to` (or busy); ask another. */
export interface CatchUpRefused {
  readonly type: 'catchup-refused';
  readonly reqId: number;
  readonly region: string;
  readonly frontier: Glt;
}

export type Message = Begin | Delta | Waiting | Unable | Ready | Commit | Abort | JoinRequest | CatchUpRequest | CatchUp | CatchUpRefused;
export type MessageType = Message['type'];

/** What every message of a round carries: the coordinator's epoch, the round, its T. */
type RoundHead = Pick<Begin, 'epoch' | 'roundId' | 'T'>;

function roundHeadToJson(m: RoundHead): { epoch: string; roundId: number; T: Json } {
  return { epoch: m.epoch.toString(), roundId: m.roundId, T: gltToJson(m.T) };
}

function roundHeadFromJson(o: Record<string, unknown>): RoundHead {
  return { epoch: u64(o.epoch, 'epoch'), roundId: int(o.roundId, 'roundId'), T: gltFromJson(o.T, 'T') };
}

/** The message without its versions (those are framed separately, see encodeMessage). */
export function messageToJson(m: Message): Json {
  switch (m.type) {
    case 'begin':
      return {
        type: m.type,
        ...roundHeadToJson(m),
        members: [...m.members],
        joining: m.joining.map((j) => ({ region: j.region, watermark: gltToJson(j.watermark) })),
        prev: { T: gltToJson(m.prev.T), prevT: gltToJson(m.prev.prevT), members: [...m.prev.members] },
      };
    case 'delta':
      return { type: m.type, ...roundHeadToJson(m), from: m.from, base: gltToJson(m.base), holds: gltToJson(m.holds) };
    case 'waiting':
      return { type: m.type, ...roundHeadToJson(m), region: m.region, missing: [...m.missing], caughtUp: m.caughtUp };
    case 'unable':
      return { type: m.type, ...roundHeadToJson(m), region: m.region, code: m.code };
    case 'ready':
      return { type: m.type, ...roundHeadToJson(m), region: m.region, frontier: gltToJson(m.frontier), collectMs: m.collectMs, exchangeMs: m.exchangeMs };
    case 'commit':
      return { type: m.type, ...roundHeadToJson(m), prevT: gltToJson(m.prevT), members: [...m.members] };
    case 'abort':
      return { type: m.type, ...roundHeadToJson(m) };
    case 'join':
      return { type: m.type, region: m.region, frontier: gltToJson(m.frontier) };
    case 'catchup-request':
      return { type: m.type, reqId: m.reqId, mode: m.mode, region: m.region, from: gltToJson(m.from), to: gltToJson(m.to) };
    case 'catchup':
      return {
        type: m.type,
        reqId: m.reqId,
        mode: m.mode,
        region: m.region,
        from: gltToJson(m.from),
        to: gltToJson(m.to),
        full: m.full,
        horizon: gltToJson(m.horizon),
      };
    case 'catchup-refused':
      return { type: m.type, reqId: m.reqId, region: m.region, frontier: gltToJson(m.frontier) };
  }
}

function mode(v: unknown): CatchUpMode {
  if (v !== 'all' && v !== 'own') throw new FieldError('mode', 'not "all" or "own"');
  return v;
}

/** `versions` comes from the frame's delta part; it must be empty for message types without versions. */
export function messageFromJson(v: unknown, versions: readonly Version[] = []): Message {
  const o = obj(v, 'message');
  const type = str(o.type, 'type');
  switch (type) {
    case 'begin': {
      const prev = obj(o.prev, 'prev');
      return {
        type,
        ...roundHeadFromJson(o),
        members: strList(o.members, 'members', MAX_REGIONS),
        joining: arr(o.joining, 'joining', MAX_REGIONS).map((x, i) => {
          const j = obj(x, `joining[${i}]`);
          return { region: str(j.region, `joining[${i}].region`), watermark: gltFromJson(j.watermark, `joining[${i}].watermark`) };
        }),
        prev: { T: gltFromJson(prev.T, 'prev.T'), prevT: gltFromJson(prev.prevT, 'prev.prevT'), members: strList(prev.members, 'prev.members', MAX_REGIONS) },
      };
    }
    case 'delta':
      return {
        type,
        ...roundHeadFromJson(o),
        from: str(o.from, 'from'),
        base: gltFromJson(o.base, 'base'),
        holds: gltFromJson(o.holds, 'holds'),
        versions,
      };
    case 'waiting':
      return {
        type,
        ...roundHeadFromJson(o),
        region: str(o.region, 'region'),
        missing: strList(o.missing, 'missing', MAX_REGIONS),
        caughtUp: bool(o.caughtUp, 'caughtUp'),
      };
    case 'unable':
      return { type, ...roundHeadFromJson(o), region: str(o.region, 'region'), code: str(o.code, 'code') };
    case 'ready':
      return {
        type,
        ...roundHeadFromJson(o),
        region: str(o.region, 'region'),
        frontier: gltFromJson(o.frontier, 'frontier'),
        collectMs: num(o.collectMs, 'collectMs'),
        exchangeMs: num(o.exchangeMs, 'exchangeMs'),
      };
    case 'commit':
      return { type, ...roundHeadFromJson(o), prevT: gltFromJson(o.prevT, 'prevT'), members: strList(o.members, 'members', MAX_REGIONS) };
    case 'abort':
      return { type, ...roundHeadFromJson(o) };
    case 'join':
      return { type, region: str(o.region, 'region'), frontier: gltFromJson(o.frontier, 'frontier') };
    case 'catchup-request':
      return { type, reqId: int(o.reqId, 'reqId'), mode: mode(o.mode), region: str(o.region, 'region'), from: gltFromJson(o.from, 'from'), to: gltFromJson(o.to, 'to') };
    case 'catchup':
      return {
        type,
        reqId: int(o.reqId, 'reqId'),
        mode: mode(o.mode),
        region: str(o.region, 'region'),
        from: gltFromJson(o.from, 'from'),
        to: gltFromJson(o.to, 'to'),
        full: bool(o.full, 'full'),
        horizon: gltFromJson(o.horizon, 'horizon'),
        versions,
      };
    case 'catchup-refused':
      return { type, reqId: int(o.reqId, 'reqId'), region: str(o.region, 'region'), frontier: gltFromJson(o.frontier, 'frontier') };
    default:
      throw new FieldError('type', `unknown message type ${JSON.stringify(type)}`);
  }
}

function hasVersions(m: Message): m is Delta | CatchUp {
  return m.type === 'delta' || m.type === 'catchup';
}

/**
 * The wire form: format (1 B) | header length (u32 BE) | JSON header | versions in the
 * delta codec (datanode/delta.ts: LZ4, checksummed), present only for delta and catchup.
 */
export function encodeMessage(m: Message): Buffer {
  const header = Buffer.from(JSON.stringify(messageToJson(m)), 'utf8');
  const prefix = Buffer.allocUnsafe(5);
  prefix.writeUInt8(MESSAGE_FORMAT, 0);
  prefix.writeUInt32BE(header.length, 1);
  return Buffer.concat(hasVersions(m) ? [prefix, header, encodeDelta(m.versions)] : [prefix, header]);
}

/** Never throws for bad input: a message, or a coded error (INVALID_ARGUMENT naming the field, DELTA_CORRUPT). */
export function decodeMessage(input: Uint8Array): { ok: true; value: Message } | { ok: false; error: AetherError } {
  const buf = Buffer.from(input.buffer, input.byteOffset, input.byteLength);
  try {
    if (buf.length < 5 || buf.readUInt8(0) !== MESSAGE_FORMAT) throw new FieldError('frame', `not a format-${MESSAGE_FORMAT} message`);
    const headerBytes = buf.readUInt32BE(1);
    if (headerBytes > MAX_HEADER_BYTES || 5 + headerBytes > buf.length) throw new FieldError('frame', 'header length out of bounds');
    let header: unknown;
    try {
      header = JSON.parse(buf.subarray(5, 5 + headerBytes).toString('utf8'));
    } catch (err) {
      throw new FieldError('header', `not JSON (${err instanceof Error ? err.message : String(err)})`);
    }
    const rest = buf.subarray(5 + headerBytes);
    const type = (header as { type?: unknown } | null)?.type;
    const carries = type === 'delta' || type === 'catchup';
    if (!carries && rest.length > 0) throw new FieldError('frame', `trailing bytes after a ${String(type)} message`);
    return { ok: true, value: messageFromJson(header, carries ? decodeDelta(rest) : []) };
  } catch (err) {
    if (err instanceof AetherError) return { ok: false, error: err };
    return { ok: false, error: new AetherError('INVALID_ARGUMENT', 'malformed message', { cause: err }) };
  }
}
