import { existsSync, readFileSync } from 'node:fs';
import { dirname, isAbsolute, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import protobuf from 'protobufjs';
import { AetherError, GltParseError } from '../common/errors.js';
import { checkGlt, LOGICAL_MAX, WALL_MAX, type Glt } from '../glts/glt.js';
import { PROTOCOL_VERSION, protocolRefusal } from '../proto/protocol.js';
import { arr, FieldError, int, num, str, strList } from './json-fields.js';
import type { Message } from './messages.js';
import { MAX_REGIONS, MAX_RESTAMP_RULES, type CommitRecord, type MembershipRecord } from './records.js';

/**
 * The wire form of the stream messages: one protobuf `Envelope`
 * (proto/aetherflow/internal/v1/stream.proto) per Quantum message, carrying the protocol
 * version. Decoding never throws: another protocol version is PROTOCOL_VERSION, anything
 * else that is not a well-formed message INVALID_ARGUMENT naming the field. A Ship's delta
 * passes through as bytes, undecoded (the receiver decodes it when it applies it), and the
 * decoded delta is a view of the received buffer, not a copy.
 */

/** The directory holding the .proto files, found from this module whether it runs from the sources or from dist/ (as proto/load.ts does). */
function protoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    const pkg = join(dir, 'package.json');
    if (existsSync(pkg) && (JSON.parse(readFileSync(pkg, 'utf8')) as { name?: string }).name === 'aetherflow') return join(dir, 'proto');
    dir = dirname(dir);
  }
  throw new Error('cannot find the aetherflow package root (proto files) above ' + fileURLToPath(import.meta.url));
}

function loadEnvelope(): protobuf.Type {
  const dir = protoRoot();
  const root = new protobuf.Root();
  // Imports name files from the proto root ("aetherflow/v1/timestamp.proto"), not from the importing file.
  root.resolvePath = (_origin, target) => (isAbsolute(target) ? target : join(dir, target));
  root.loadSync('aetherflow/internal/v1/stream.proto');
  // Without long.js protobufjs reads uint64 as doubles and loses the low bits of a wall clock.
  if (!protobuf.util.Long) throw new Error('protobufjs found no long.js: uint64 fields would lose precision');
  return root.lookupType('aetherflow.internal.v1.Envelope');
}

const Envelope = loadEnvelope();

/** A uint64 as protobufjs reads it (long.js Long) and as its writer takes it. */
interface U64 {
  readonly low: number;
  readonly high: number;
  readonly unsigned: boolean;
}

function toU64(v: bigint): U64 {
  return { low: Number(v & 0xffff_ffffn) | 0, high: Number((v >> 32n) & 0xffff_ffffn) | 0, unsigned: true };
}

function wireGlt(g: Glt): { wall: U64; logical: number } {
  return { wall: toU64(g.wall), logical: g.logical };
}

function wireCommitRecord(r: CommitRecord): object {
  return {
    t: wireGlt(r.T),
    epoch: toU64(r.epoch),
    members: [...r.members],
    membershipVersion: toU64(BigInt(r.membershipVersion)),
    coordinator: r.coordinator,
    decideMs: r.decideMs,
    lagMs: r.lagMs,
  };
}

function wireMembership(m: MembershipRecord): object {
  return {
    version: toU64(BigInt(m.version)),
    members: [...m.members],
    excluded: m.excluded.map((e) => ({ region: e.region, watermark: wireGlt(e.watermark), hiddenAbove: wireGlt(e.hiddenAbove) })),
    restamps: m.restamps.map((r) => ({ version: toU64(BigInt(r.version)), region: r.region, above: wireGlt(r.above), upTo: wireGlt(r.upTo), floor: wireGlt(r.floor) })),
  };
}

/** The envelope's oneof member for a message. */
function wireMessage(m: Message): object {
  switch (m.type) {
    case 'ship':
      return { ship: { origin: m.origin, region: m.region, from: wireGlt(m.from), to: wireGlt(m.to), horizon: wireGlt(m.horizon), count: m.count, delta: m.delta } };
    case 'ack':
      return { ack: { origin: m.origin, region: m.region, applied: wireGlt(m.applied), gap: m.gap } };
    case 'relay':
      return { relay: { origin: m.origin, region: m.region, from: wireGlt(m.from), upTo: wireGlt(m.upTo) } };
    case 'progress':
      return {
        progress: {
          region: m.region,
          leaderEpoch: toU64(m.leaderEpoch),
          applied: m.applied.map((a) => ({ origin: a.origin, ts: wireGlt(a.ts) })),
          membershipApplied: toU64(BigInt(m.membershipApplied)),
          frontier: wireGlt(m.frontier),
        },
      };
    case 'commit':
      return { commit: { epoch: toU64(m.epoch), record: wireCommitRecord(m.record), membership: wireMembership(m.membership), persistMs: m.persistMs } };
    case 'membership':
      return { membership: { epoch: toU64(m.epoch), record: wireMembership(m.record) } };
  }
}

/**
 * The message's wire bytes. Encode a Ship once and send the same bytes to every peer
 * (kernel/peer-transport.ts sendEncoded): the delta is copied once, into this buffer.
 */
export function encodeMessage(m: Message): Buffer {
  const w = Envelope.encode({ protocol: PROTOCOL_VERSION, ...wireMessage(m) }).finish();
  // protobufjs's node writer allocates a Buffer; the view keeps the type honest without a copy.
  return Buffer.isBuffer(w) ? w : Buffer.from(w.buffer, w.byteOffset, w.byteLength);
}

export type DecodeResult = { ok: true; value: Message } | { ok: false; error: AetherError };

/** Decodes one envelope; never throws. */
export function decodeMessage(buf: Uint8Array): DecodeResult {
  let envelope: Record<string, unknown>;
  try {
    envelope = Envelope.decode(buf) as unknown as Record<string, unknown>;
  } catch (err) {
    return { ok: false, error: new AetherError('INVALID_ARGUMENT', `not a stream envelope: ${err instanceof Error ? err.message : String(err)}`, { cause: err, details: { path: 'envelope' } }) };
  }
  const protocol = envelope['protocol'];
  if (protocol === 0) return { ok: false, error: new FieldError('envelope.protocol', 'missing') };
  const refusal = protocolRefusal(PROTOCOL_VERSION, typeof protocol === 'number' ? protocol : undefined, 'the sender');
  if (refusal !== undefined) return { ok: false, error: refusal };
  try {
    return { ok: true, value: readMessage(envelope) };
  } catch (err) {
    if (err instanceof FieldError) return { ok: false, error: err };
    return { ok: false, error: new AetherError('INVALID_ARGUMENT', 'malformed stream envelope', { cause: err, details: { path: 'envelope' } }) };
  }
}

const MEMBERS = ['ship', 'ack', 'relay', 'progress', 'commit', 'membership'] as const;

function readMessage(e: Record<string, unknown>): Message {
  const set = MEMBERS.filter((k) => e[k] !== null && e[k] !== undefined);
  if (set.length !== 1) throw new FieldError('envelope', set.length === 0 ? 'no message' : `several messages (${set.join(', ')})`);
  const type = set[0]!;
  const o = e[type] as Record<string, unknown>;
  switch (type) {
    case 'ship':
      return {
        type: 'ship',
        origin: str(o['origin'], 'ship.origin'),
        region: str(o['region'], 'ship.region'),
        from: glt(o['from'], 'ship.from'),
        to: glt(o['to'], 'ship.to'),
        horizon: glt(o['horizon'], 'ship.horizon'),
        delta: bytes(o['delta'], 'ship.delta'),
        count: int(o['count'], 'ship.count', 0xffff_ffff),
      };
    case 'ack':
      return { type: 'ack', origin: str(o['origin'], 'ack.origin'), region: str(o['region'], 'ack.region'), applied: glt(o['applied'], 'ack.applied'), gap: o['gap'] === true };
    case 'relay':
      return { type: 'relay', origin: str(o['origin'], 'relay.origin'), region: str(o['region'], 'relay.region'), from: glt(o['from'], 'relay.from'), upTo: glt(o['upTo'], 'relay.upTo') };
    case 'progress': {
      const applied = arr(o['applied'], 'progress.applied', MAX_REGIONS).map((x, i) => {
        const a = obj(x, `progress.applied[${i}]`);
        return { origin: str(a['origin'], `progress.applied[${i}].origin`), ts: glt(a['ts'], `progress.applied[${i}].ts`) };
      });
      if (new Set(applied.map((a) => a.origin)).size !== applied.length) throw new FieldError('progress.applied', 'an origin appears twice');
      return {
        type: 'progress',
        region: str(o['region'], 'progress.region'),
        leaderEpoch: u64(o['leaderEpoch'], 'progress.leaderEpoch'),
        applied,
        membershipApplied: safeInt(o['membershipApplied'], 'progress.membershipApplied'),
        frontier: glt(o['frontier'], 'progress.frontier'),
      };
    }
    case 'commit':
      return {
        type: 'commit',
        epoch: u64(o['epoch'], 'commit.epoch'),
        record: commitRecord(o['record'], 'commit.record'),
        membership: membership(o['membership'], 'commit.membership'),
        persistMs: num(o['persistMs'], 'commit.persistMs'),
      };
    case 'membership':
      return { type: 'membership', epoch: u64(o['epoch'], 'membership.epoch'), record: membership(o['record'], 'membership.record') };
  }
}

function commitRecord(v: unknown, path: string): CommitRecord {
  const o = obj(v, path);
  return {
    T: glt(o['t'], `${path}.T`),
    epoch: u64(o['epoch'], `${path}.epoch`),
    members: strList(o['members'], `${path}.members`, MAX_REGIONS),
    membershipVersion: safeInt(o['membershipVersion'], `${path}.membershipVersion`),
    coordinator: str(o['coordinator'], `${path}.coordinator`),
    decideMs: num(o['decideMs'], `${path}.decideMs`),
    lagMs: num(o['lagMs'], `${path}.lagMs`),
  };
}

function membership(v: unknown, path: string): MembershipRecord {
  const o = obj(v, path);
  const excluded = arr(o['excluded'], `${path}.excluded`, MAX_REGIONS).map((x, i) => {
    const p = `${path}.excluded[${i}]`;
    const e = obj(x, p);
    return { region: str(e['region'], `${p}.region`), watermark: glt(e['watermark'], `${p}.watermark`), hiddenAbove: glt(e['hiddenAbove'], `${p}.hiddenAbove`) };
  });
  const restamps = arr(o['restamps'], `${path}.restamps`, MAX_RESTAMP_RULES).map((x, i) => {
    const p = `${path}.restamps[${i}]`;
    const r = obj(x, p);
    return {
      version: safeInt(r['version'], `${p}.version`),
      region: str(r['region'], `${p}.region`),
      above: glt(r['above'], `${p}.above`),
      upTo: glt(r['upTo'], `${p}.upTo`),
      floor: glt(r['floor'], `${p}.floor`),
    };
  });
  return { version: safeInt(o['version'], `${path}.version`), members: strList(o['members'], `${path}.members`, MAX_REGIONS), excluded, restamps };
}

/** A present submessage (proto3 reads an absent one as null). */
function obj(v: unknown, path: string): Record<string, unknown> {
  if (typeof v !== 'object' || v === null) throw new FieldError(path, 'missing');
  return v as Record<string, unknown>;
}

function u64(v: unknown, path: string): bigint {
  if (typeof v === 'object' && v !== null && typeof (v as U64).low === 'number' && typeof (v as U64).high === 'number') {
    const l = v as U64;
    return (BigInt(l.high >>> 0) << 32n) | BigInt(l.low >>> 0);
  }
  throw new FieldError(path, 'not a uint64');
}

/** A uint64 that a JS number holds exactly (versions, counters). */
function safeInt(v: unknown, path: string): number {
  const n = u64(v, path);
  if (n > BigInt(Number.MAX_SAFE_INTEGER)) throw new FieldError(path, 'above 2^53-1');
  return Number(n);
}

function glt(v: unknown, path: string): Glt {
  const o = obj(v, path);
  const logical = o['logical'];
  if (typeof logical !== 'number') throw new FieldError(`${path}.logical`, `not an integer in 0..${LOGICAL_MAX}`);
  try {
    return checkGlt(u64(o['wall'], `${path}.wall`), logical);
  } catch (err) {
    if (err instanceof GltParseError) throw new FieldError(path, `${err.message} (wall ≤ ${WALL_MAX})`);
    throw err;
  }
}

function bytes(v: unknown, path: string): Buffer {
  if (Buffer.isBuffer(v)) return v;
  if (v instanceof Uint8Array) return Buffer.from(v.buffer, v.byteOffset, v.byteLength);
  throw new FieldError(path, 'not bytes');
}
