import { assert } from '../common/errors.js';
import { GLT_BYTES, GLT_MAX, decodeGlt, decodeGltDescending, encodeGlt, encodeGltDescending, nextGlt, gltEquals, type Glt } from '../glts/glt.js';

/**
 * The LevelDB key layout of a data node (DESIGN.md "Store"):
 *
 *   version   'v' | esc(userKey) | ~wall (8 B BE) | ~logical (4 B BE) | ~esc(origin)  → stored value
 *   change    'c' | wall (8 B BE) | logical (4 B BE) | esc(origin) | esc(userKey)     → stored value
 *   user meta 'm' | utf8(name)            (frontier, per-peer watermarks)
 *   sys meta  's' | utf8(name)            (closed T, last stamp, GC horizon, format)
 *
 * esc() is order-preserving and prefix-free: 0x00 → 0x00 0xff, then the terminator
 * 0x00 0x01. Prefix-free means no escaped key is a prefix of another, so the fields
 * after it never mix with a longer key's bytes, and tuples sort field by field: versions
 * group by user key in byte order, newest first within a key ((ts, origin) descending,
 * the origin through ~esc, which reverses esc's order and stays prefix-free); change
 * entries sort by (ts, origin, key), so (from, to] is one range scan.
 */

export const VERSION_TAG = 0x76; // 'v'
export const CHANGE_TAG = 0x63; // 'c'
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

export function changeKey(ts: Glt, origin: string, key: Uint8Array): Buffer {
  const o = encodedOrigin(origin).asc;
  const out = Buffer.allocUnsafe(1 + GLT_BYTES + o.length + escapedLength(key));
  out[0] = CHANGE_TAG;
  encodeGlt(ts, out, 1);
  o.copy(out, 1 + GLT_BYTES);
  escapeInto(key, out, 1 + GLT_BYTES + o.length);
  return out;
}

/**
 * The two entries of one version, written in one batch: its chain entry and its
 * change-index entry, both holding the stored value. The copy in the index costs the
 * write path bytes, but keeps `changes()` one sequential range scan: a change index
 * holding only keys would need a point read per change, which measured 2.2–2.7× slower
 * in a 1M-key store than in a 10k-key one (bench store (b), goal ≤ 2).
 */
export function versionEntries(v: { readonly key: Uint8Array; readonly ts: Glt; readonly origin: string }, stored: Buffer): [version: [Buffer, Buffer], change: [Buffer, Buffer]] {
  return [
    [versionKey(v.key, v.ts, v.origin), stored],
    [changeKey(v.ts, v.origin, v.key), stored],
  ];
}

export function decodeChangeKey(buf: Buffer): DecodedVersionKey {
  assert(buf[0] === CHANGE_TAG, 'not a change key');
  const ts = decodeGlt(buf, 1);
  const o = unescape(buf, 1 + GLT_BYTES);
  const k = unescape(buf, o.end);
  assert(k.end === buf.length, 'trailing bytes after the user key of a change key');
  return { key: k.raw, ts, origin: o.raw.toString('utf8') };
}

/** Bounds of the change entries with from < ts ≤ to. */
export function changeRange(from: Glt, to: Glt): { gte: Buffer; lt: Buffer } {
  const gte = Buffer.concat([Buffer.of(CHANGE_TAG), encodeGlt(nextGlt(from))]);
  const lt = gltEquals(to, GLT_MAX) ? Buffer.of(CHANGE_TAG + 1) : Buffer.concat([Buffer.of(CHANGE_TAG), encodeGlt(nextGlt(to))]);
  return { gte, lt };
}

// ---- metadata keys

export function userMetaKey(name: string): Buffer {
  return Buffer.concat([Buffer.of(USER_META_TAG), Buffer.from(name, 'utf8')]);
}

export type SysMeta = 'closed' | 'stamped' | 'horizon' | 'format';

export function sysMetaKey(name: SysMeta): Buffer {
  return Buffer.concat([Buffer.of(SYS_META_TAG), Buffer.from(name, 'utf8')]);
}

// ---- values: 0x00 = tombstone, 0x01 | bytes = a value (both the version and its change entry carry it)

export function encodeStoredValue(value: Uint8Array | null): Buffer {
  if (value === null) return Buffer.of(0);
  const out = Buffer.allocUnsafe(1 + value.length);
  out[0] = 1;
  out.set(value, 1);
  return out;
}

export function decodeStoredValue(buf: Buffer): Buffer | null {
  assert(buf.length >= 1 && (buf[0] === 0 || buf[0] === 1), 'malformed stored value');
  if (buf[0] === 0) {
    assert(buf.length === 1, 'a tombstone carries no bytes');
    return null;
  }
  return buf.subarray(1);
}
