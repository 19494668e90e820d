import { assert } from '../common/errors.js';
import { GLT_BYTES, GLT_MAX, decodeGlt, decodeGltDescending, encodeGlt, encodeGltDescending, nextGlt, gltEquals, type Glt } from '../glts/glt.js';

/**
 * The LevelDB key layout of a data node, store format 2:
 *
 *   version   'v' | esc(userKey) | ~wall (8 B BE) | ~logical (4 B BE) | ~esc(origin)  → stored value
 *   change    'o' | esc(origin) | wall (8 B BE) | logical (4 B BE) | esc(userKey)     → stored value
 *   hidden    'h' | esc(userKey) | wall (8 B BE) | logical (4 B BE) | esc(origin)      → stored value
 *   user meta 'm' | utf8(name)    (frontier, applied/<region>, membershipApplied, epoch)
 *   sys meta  's' | utf8(name)    (format, ceiling, stamped, horizon, hide/<origin>, appliedFloor)
 *
 * esc() is order-preserving and prefix-free: 0x00 → 0x00 0xff, then the terminator
 * 0x00 0x01. Prefix-free means no escaped field is a prefix of another, so the fields
 * after it never mix with a longer field's bytes, and tuples sort field by field:
 *  - versions group by user key in byte order, newest first within a key ((ts, origin)
 *    descending, the origin through ~esc, which reverses esc's order and stays prefix-free);
 *  - change entries group by origin, in (ts, key) order within one: an origin's changes in
 *    (from, to] are one range scan, and each origin is one prefix (`origins()` seeks past it);
 *  - hidden entries group by user key, oldest first: a re-stamp takes a key's hidden
 *    versions together, in the (ts, origin) order that ranks them.
 *
 * The change index holds every version at its ORIGINAL timestamp (own, remote, hidden,
 * re-stamped). A re-stamped version sits in its chain at its new timestamp and carries
 * the original one in its stored value, so GC finds its change entry.
 * Format 1 had a time-ordered change index under 'c' (migrate.ts converts it).
 */

export const VERSION_TAG = 0x76; // 'v'
export const CHANGE_TAG = 0x6f; // 'o'
export const HIDDEN_TAG = 0x68; // 'h'
export const USER_META_TAG = 0x6d; // 'm'
export const SYS_META_TAG = 0x73; // 's'

/** The escaped form of `raw`, terminator included. */
export function escape(raw: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(escapedLength(raw));
  escapeInto(raw, out, 0);
  return out;
}

function escapedLength(raw: Uint8Array): number {
  let zeros = 0;
  for (let i = raw.indexOf(0); i >= 0; i = raw.indexOf(0, i + 1)) zeros++;
  return raw.length + zeros + 2;
}

/** Writes esc(raw) at `offset`; returns the offset after it. */
function escapeInto(raw: Uint8Array, out: Buffer, offset: number): number {
  let o = escapeBodyInto(raw, out, offset);
  out[o++] = 0x00;
  out[o++] = 0x01;
  return o;
}

function escapeBodyInto(raw: Uint8Array, out: Buffer, offset: number): number {
  if (raw.indexOf(0) < 0) {
    out.set(raw, offset);
    return offset + raw.length;
  }
  let o = offset;
  for (const byte of raw) {
    out[o++] = byte;
    if (byte === 0) out[o++] = 0xff;
  }
  return o;
}

/** esc(raw) without its terminator: every escaped key starting with raw starts with this. */
function escapeBody(raw: Uint8Array): Buffer {
  const full = escape(raw);
  return full.subarray(0, full.length - 2);
}

/** Decodes an escaped field at `offset`; returns the raw bytes and the offset after the terminator. */
export function unescape(buf: Buffer, offset: number): { readonly raw: Buffer; readonly end: number } {
  const bytes: number[] = [];
  for (let i = offset; i < buf.length; i++) {
    const byte = buf[i]!;
    if (byte !== 0) {
      bytes.push(byte);
      continue;
    }
    const next = buf[i + 1];
    if (next === 0x01) return { raw: Buffer.from(bytes), end: i + 2 };
    assert(next === 0xff, 'malformed escape in a store key');
    bytes.push(0);
    i++;
  }
  assert(false, 'unterminated escaped field in a store key');
}

/** The smallest key greater than every key starting with `prefix` (undefined: none, prefix is all 0xff). */
export function prefixSuccessor(prefix: Buffer): Buffer | undefined {
  let end = prefix.length;
  while (end > 0 && prefix[end - 1] === 0xff) end--;
  if (end === 0) return undefined;
  const out = Buffer.from(prefix.subarray(0, end));
  out[end - 1]! += 1;
  return out;
}

function complement(buf: Buffer): Buffer {
  for (let i = 0; i < buf.length; i++) buf[i] = ~buf[i]! & 0xff;
  return buf;
}

// ---- version keys

/** 'v' | esc(key): the start of every version key of `key`. */
export function versionKeyPrefix(key: Uint8Array): Buffer {
  return Buffer.concat([Buffer.of(VERSION_TAG), escape(key)]);
}

/** esc(origin) and its complement, per origin: every write of a node encodes the same one. */
const originCache = new Map<string, { readonly asc: Buffer; readonly desc: Buffer }>();
const ORIGIN_CACHE_MAX = 1024;

function encodedOrigin(origin: string): { readonly asc: Buffer; readonly desc: Buffer } {
  let e = originCache.get(origin);
  if (!e) {
    const asc = escape(Buffer.from(origin, 'utf8'));
    e = { asc, desc: complement(Buffer.from(asc)) };
    if (originCache.size >= ORIGIN_CACHE_MAX) originCache.clear();
    originCache.set(origin, e);
  }
  return e;
}

export function versionKey(key: Uint8Array, ts: Glt, origin: string): Buffer {
  const o = encodedOrigin(origin).desc;
  const kLen = escapedLength(key);
  const out = Buffer.allocUnsafe(1 + kLen + GLT_BYTES + o.length);
  out[0] = VERSION_TAG;
  escapeInto(key, out, 1);
  encodeGltDescending(ts, out, 1 + kLen);
  o.copy(out, 1 + kLen + GLT_BYTES);
  return out;
}

/** Where a read of `key` at `t` seeks: the first version key at or after it has ts ≤ t. */
export function versionSeekKey(key: Uint8Array, t: Glt): Buffer {
  const p = versionKeyPrefix(key);
  return Buffer.concat([p, encodeGltDescending(t)]);
}

/** The first key after every version key of `key`. */
export function versionKeyEnd(key: Uint8Array): Buffer {
  const end = prefixSuccessor(versionKeyPrefix(key));
  assert(end, 'a version prefix always has a successor');
  return end;
}

export interface DecodedVersionKey {
  readonly key: Buffer;
  readonly ts: Glt;
  readonly origin: string;
}

export function decodeVersionKey(buf: Buffer): DecodedVersionKey {
  assert(buf[0] === VERSION_TAG, 'not a version key');
  const { raw: key, end } = unescape(buf, 1);
  const ts = decodeGltDescending(buf, end);
  const o = unescape(complement(Buffer.from(buf.subarray(end + GLT_BYTES))), 0);
  assert(o.end === buf.length - end - GLT_BYTES, 'trailing bytes after the origin of a version key');
  return { key, ts, origin: o.raw.toString('utf8') };
}

/** Bounds of every version key whose user key lies in [start, end) or starts with `prefix`. */
export function versionRange(range: { readonly prefix: Buffer } | { readonly start: Buffer; readonly end?: Buffer }): { gte: Buffer; lt: Buffer } {
  const tagEnd = Buffer.of(VERSION_TAG + 1);
  if ('prefix' in range) {
    const p = Buffer.concat([Buffer.of(VERSION_TAG), escapeBody(range.prefix)]);
    return { gte: p, lt: prefixSuccessor(p) ?? tagEnd };
  }
  return {
    gte: versionKeyPrefix(range.start),
    lt: range.end === undefined ? tagEnd : versionKeyPrefix(range.end),
  };
}

// ---- change-index keys

/** 'o' | esc(origin): the start of every change key of `origin`. */
export function changeOriginPrefix(origin: string): Buffer {
  return Buffer.concat([Buffer.of(CHANGE_TAG), encodedOrigin(origin).asc]);
}

export function changeKey(origin: string, ts: Glt, key: Uint8Array): Buffer {
  const o = encodedOrigin(origin).asc;
  const out = Buffer.allocUnsafe(1 + o.length + GLT_BYTES + escapedLength(key));
  out[0] = CHANGE_TAG;
  o.copy(out, 1);
  encodeGlt(ts, out, 1 + o.length);
  escapeInto(key, out, 1 + o.length + GLT_BYTES);
  return out;
}

export function decodeChangeKey(buf: Buffer): DecodedVersionKey {
  assert(buf[0] === CHANGE_TAG, 'not a change key');
  const o = unescape(buf, 1);
  const ts = decodeGlt(buf, o.end);
  const k = unescape(buf, o.end + GLT_BYTES);
  assert(k.end === buf.length, 'trailing bytes after the user key of a change key');
  return { key: k.raw, ts, origin: o.raw.toString('utf8') };
}

/** The origin of a change key, without decoding the rest. */
export function changeKeyOrigin(buf: Buffer): string {
  assert(buf[0] === CHANGE_TAG, 'not a change key');
  return unescape(buf, 1).raw.toString('utf8');
}

/** Bounds of `origin`'s change entries with from < ts ≤ to (empty when from is GLT_MAX). */
export function changeRange(origin: string, from: Glt, to: Glt): { gte: Buffer; lt: Buffer } {
  const p = changeOriginPrefix(origin);
  const end = prefixSuccessor(p);
  assert(end, 'an origin prefix always has a successor');
  const gte = gltEquals(from, GLT_MAX) ? end : Buffer.concat([p, encodeGlt(nextGlt(from))]);
  const lt = gltEquals(to, GLT_MAX) ? end : Buffer.concat([p, encodeGlt(nextGlt(to))]);
  return { gte, lt };
}

/** Bounds of the whole change index. */
export function changeIndexRange(): { gte: Buffer; lt: Buffer } {
  return { gte: Buffer.of(CHANGE_TAG), lt: Buffer.of(CHANGE_TAG + 1) };
}

// ---- hidden-set keys

export function hiddenKey(key: Uint8Array, ts: Glt, origin: string): Buffer {
  const o = encodedOrigin(origin).asc;
  const kLen = escapedLength(key);
  const out = Buffer.allocUnsafe(1 + kLen + GLT_BYTES + o.length);
  out[0] = HIDDEN_TAG;
  escapeInto(key, out, 1);
  encodeGlt(ts, out, 1 + kLen);
  o.copy(out, 1 + kLen + GLT_BYTES);
  return out;
}

export function decodeHiddenKey(buf: Buffer): DecodedVersionKey {
  assert(buf[0] === HIDDEN_TAG, 'not a hidden key');
  const { raw: key, end } = unescape(buf, 1);
  const ts = decodeGlt(buf, end);
  const o = unescape(buf, end + GLT_BYTES);
  assert(o.end === buf.length, 'trailing bytes after the origin of a hidden key');
  return { key, ts, origin: o.raw.toString('utf8') };
}

/** 'h' | esc(key): the start of every hidden key of `key`. */
export function hiddenKeyPrefix(key: Uint8Array): Buffer {
  return Buffer.concat([Buffer.of(HIDDEN_TAG), escape(key)]);
}

/** Bounds of the hidden set from `key`'s entries on (all of it when omitted). */
export function hiddenRange(fromKey?: Uint8Array): { gte: Buffer; lt: Buffer } {
  return { gte: fromKey === undefined ? Buffer.of(HIDDEN_TAG) : hiddenKeyPrefix(fromKey), lt: Buffer.of(HIDDEN_TAG + 1) };
}

// ---- metadata keys

export type UserMeta = 'frontier' | 'membershipApplied' | 'epoch' | `applied/${string}`;
export type SysMeta = 'format' | 'ceiling' | 'stamped' | 'horizon' | 'appliedFloor' | `hide/${string}`;

export function userMetaKey(name: UserMeta): Buffer {
  return Buffer.concat([Buffer.of(USER_META_TAG), Buffer.from(name, 'utf8')]);
}

export function sysMetaKey(name: SysMeta): Buffer {
  return Buffer.concat([Buffer.of(SYS_META_TAG), Buffer.from(name, 'utf8')]);
}

/** Bounds of the metadata entries named `prefix…` ('applied/', 'hide/') under `tag`. */
export function metaPrefixRange(tag: typeof USER_META_TAG | typeof SYS_META_TAG, prefix: string): { gte: Buffer; lt: Buffer } {
  const gte = Buffer.concat([Buffer.of(tag), Buffer.from(prefix, 'utf8')]);
  const lt = prefixSuccessor(gte);
  assert(lt, 'a metadata prefix always has a successor');
  return { gte, lt };
}

/** The part of a metadata key after `tag | prefix`. */
export function metaNameSuffix(key: Buffer, prefix: string): string {
  return key.subarray(1 + Buffer.byteLength(prefix, 'utf8')).toString('utf8');
}

// ---- stored values
//   0x00                 a tombstone
//   0x01 | bytes         a value
//   0x02 | orig ts       a re-stamped tombstone (in its chain at its new ts)
//   0x03 | orig ts | bytes  a re-stamped value
// Change and hidden entries hold 0x00/0x01 (they sit at the original ts).

export interface StoredValue {
  readonly value: Buffer | null;
  /** The original ts of a re-stamped version; undefined for any other. */
  readonly orig?: Glt;
}

export function encodeStoredValue(value: Uint8Array | null, orig?: Glt): Buffer {
  const head = orig === undefined ? 1 : 1 + GLT_BYTES;
  const out = Buffer.allocUnsafe(head + (value === null ? 0 : value.length));
  out[0] = (orig === undefined ? 0 : 2) + (value === null ? 0 : 1);
  if (orig !== undefined) encodeGlt(orig, out, 1);
  if (value !== null) out.set(value, head);
  return out;
}

export function decodeStoredValue(buf: Buffer): StoredValue {
  const kind = buf[0];
  assert(buf.length >= 1 && kind !== undefined && kind <= 3, 'malformed stored value');
  const head = kind >= 2 ? 1 + GLT_BYTES : 1;
  assert(buf.length >= head, 'a re-stamped value carries its original ts');
  assert(kind % 2 === 1 || buf.length === head, 'a tombstone carries no bytes');
  const value = kind % 2 === 1 ? buf.subarray(head) : null;
  return kind >= 2 ? { value, orig: decodeGlt(buf, 1) } : { value };
}
