import { crc32 } from 'node:zlib';
import { compressSync, uncompressSync } from 'lz4-napi';
import { AetherError, DeltaCorruptError } from '../common/errors.js';
import { compareGlt, type Glt } from '../glts/glt.js';
import { checkVersion, MAX_KEY_BYTES, MAX_ORIGIN_BYTES, MAX_VALUE_BYTES } from './checks.js';
import type { Version } from './version.js';

/**
 * Versions as they move between data nodes, leaders and regions, in two forms:
 *
 * A `VersionBatch` is the raw form: `count` entries back to back, each
 *     keyLen u16 | key | originLen u8 | origin (UTF-8) | wall u64 | logical u32 |
 *     kind u8 (0 tombstone, 1 value) | [valueLen u32 | value]
 * (big-endian). Data nodes feed it to their leader and the leader hands it to its data
 * nodes as is (a LAN: compressing would only cost CPU); the leader cuts and joins batches
 * by walking entry headers (`entryBounds`), without building a Version per entry.
 *
 * A delta is the framed form that crosses regions: a batch compressed once with LZ4 and
 * checksummed, sent as the same bytes to every peer.
 *   header (24 B, big-endian)
 *     0  magic "AFDL"        4
 *     4  format version = 1  1
 *     5  flags = 0           1   (reserved: must be 0)
 *     6  reserved = 0        2
 *     8  count               4   versions in the body
 *    12  rawBytes            4   body length before compression
 *    16  compressedBytes     4   length of what follows the header
 *    20  crc32               4   of header bytes 0..20 and the compressed body
 *   body: LZ4 block (lz4-napi, its 4-byte little-endian size first) of the raw batch
 *
 * Decoding checks the checksum before decompressing and every length against the bounds
 * below, and consumes the body exactly: anything else fails DELTA_CORRUPT as a whole — no
 * partial list, no foreign exception.
 */

/** A list of versions in the raw entry form (see above). */
export interface VersionBatch {
  readonly raw: Buffer;
  readonly count: number;
}

export const EMPTY_BATCH: VersionBatch = Object.freeze({ raw: Buffer.alloc(0), count: 0 });

const MAGIC = Buffer.from('AFDL', 'ascii');
const FORMAT = 1;
const HEADER_BYTES = 24;
/** Bounds on one batch; a larger change set is shipped as several. */
export const MAX_DELTA_VERSIONS = 1_000_000;
export const MAX_DELTA_RAW_BYTES = 64 << 20;
/** LZ4's worst case is a little above the input; anything further is not ours. */
const MAX_DELTA_COMPRESSED_BYTES = MAX_DELTA_RAW_BYTES + (MAX_DELTA_RAW_BYTES >>> 7) + 64;

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** Bytes of one version in the raw form. */
export function entryBytes(v: Version): number {
  return 2 + v.key.length + 1 + Buffer.byteLength(v.origin, 'utf8') + 12 + 1 + (v.value === null ? 0 : 4 + v.value.length);
}

function checkBounds(count: number, rawBytes: number): void {
  if (count > MAX_DELTA_VERSIONS) throw new AetherError('MESSAGE_TOO_LARGE', `batch of ${count} versions exceeds ${MAX_DELTA_VERSIONS}`);
  if (rawBytes > MAX_DELTA_RAW_BYTES) throw new AetherError('MESSAGE_TOO_LARGE', `batch of ${rawBytes} bytes exceeds ${MAX_DELTA_RAW_BYTES}`);
}

/** The raw form of `versions`. Fails MESSAGE_TOO_LARGE beyond the bounds (split the list). */
export function encodeVersions(versions: readonly Version[]): VersionBatch {
  let rawBytes = 0;
  for (const v of versions) {
    checkVersion(v);
    rawBytes += entryBytes(v);
  }
  checkBounds(versions.length, rawBytes);
  const raw = Buffer.allocUnsafe(rawBytes);
  let o = 0;
  for (const v of versions) o = writeEntry(raw, o, v);
  return { raw, count: versions.length };
}

function writeEntry(raw: Buffer, at: number, v: Version): number {
  let o = raw.writeUInt16BE(v.key.length, at);
  o += v.key.copy(raw, o);
  const originLen = raw.write(v.origin, o + 1, 'utf8');
  raw.writeUInt8(originLen, o);
  o += 1 + originLen;
  o = raw.writeBigUInt64BE(v.ts.wall, o);
  o = raw.writeUInt32BE(v.ts.logical, o);
  if (v.value === null) return raw.writeUInt8(0, o);
  o = raw.writeUInt8(1, o);
  o = raw.writeUInt32BE(v.value.length, o);
  return o + v.value.copy(raw, o);
}

function corruptUnless(ok: boolean, why: string): asserts ok {
  if (!ok) throw new DeltaCorruptError(why);
}

/** Where one raw entry lies, and the fields a leader routes and cuts by. */
export interface EntryBounds {
  readonly start: number;
  readonly end: number;
  /** The user key (a view into the batch, not a copy). */
  readonly key: Buffer;
  readonly ts: Glt;
}

/**
 * Walks the entries of a raw batch, checking every length (DELTA_CORRUPT otherwise)
 * without decoding origins or values.
 */
export function* entryBounds(b: VersionBatch): Generator<EntryBounds> {
  const raw = b.raw;
  let o = 0;
  for (let i = 0; i < b.count; i++) {
    const start = o;
    corruptUnless(o + 2 <= raw.length, `truncated key length in entry ${i}`);
    const keyLen = raw.readUInt16BE(o);
    corruptUnless(keyLen <= MAX_KEY_BYTES, `key of ${keyLen} bytes in entry ${i}`);
    o += 2;
    corruptUnless(o + keyLen + 1 <= raw.length, `truncated key in entry ${i}`);
    const key = raw.subarray(o, o + keyLen);
    o += keyLen;
    const originLen = raw[o++]!;
    corruptUnless(originLen >= 1 && originLen <= MAX_ORIGIN_BYTES, `origin of ${originLen} bytes in entry ${i}`);
    corruptUnless(o + originLen + 13 <= raw.length, `truncated origin and timestamp in entry ${i}`);
    o += originLen;
    const ts = { wall: raw.readBigUInt64BE(o), logical: raw.readUInt32BE(o + 8) };
    const kind = raw[o + 12]!;
    o += 13;
    if (kind === 1) {
      corruptUnless(o + 4 <= raw.length, `truncated value length in entry ${i}`);
      const valueLen = raw.readUInt32BE(o);
      corruptUnless(valueLen <= MAX_VALUE_BYTES, `value of ${valueLen} bytes in entry ${i}`);
      o += 4;
      corruptUnless(o + valueLen <= raw.length, `truncated value in entry ${i}`);
      o += valueLen;
    } else {
      corruptUnless(kind === 0, `unknown entry kind ${kind} in entry ${i}`);
    }
    yield { start, end: o, key, ts };
  }
  corruptUnless(o === raw.length, `${raw.length - o} trailing bytes after ${b.count} entries`);
}

/** Decodes a raw batch; fails DELTA_CORRUPT on anything malformed. Keys and values are views into `b.raw`. */
export function decodeVersions(b: VersionBatch): Version[] {
  try {
    const out: Version[] = [];
    for (const e of entryBounds(b)) {
      const raw = b.raw;
      let o = e.start + 2 + e.key.length;
      const originLen = raw[o++]!;
      const origin = utf8.decode(raw.subarray(o, o + originLen));
      o += originLen + 12;
      const value = raw[o++] === 1 ? raw.subarray(o + 4, e.end) : null;
      const v: Version = { key: e.key, value, ts: e.ts, origin };
      checkVersion(v);
      out.push(v);
    }
    return out;
  } catch (err) {
    if (err instanceof DeltaCorruptError) throw err;
    throw new DeltaCorruptError('malformed entry', err);
  }
}

/** One batch holding the entries of all of `batches`, in order. */
export function concatBatches(batches: readonly VersionBatch[]): VersionBatch {
  const nonEmpty = batches.filter((b) => b.count > 0);
  if (nonEmpty.length === 0) return EMPTY_BATCH;
  if (nonEmpty.length === 1) return nonEmpty[0]!;
  const count = nonEmpty.reduce((n, b) => n + b.count, 0);
  const raw = Buffer.concat(nonEmpty.map((b) => b.raw));
  checkBounds(count, raw.length);
  return { raw, count };
}

/**
 * Splits a batch whose entries are in ts order at `at`: the entries with ts ≤ at, and the
 * rest. Views into `b.raw`, no copy.
 */
export function splitBatchAt(b: VersionBatch, at: Glt): [VersionBatch, VersionBatch] {
  let n = 0;
  let cut = 0;
  for (const e of entryBounds(b)) {
    if (compareGlt(e.ts, at) > 0) break;
    n++;
    cut = e.end;
  }
  return [
    n === 0 ? EMPTY_BATCH : { raw: b.raw.subarray(0, cut), count: n },
    n === b.count ? EMPTY_BATCH : { raw: b.raw.subarray(cut), count: b.count - n },
  ];
}

/**
 * Sorts the entries of a batch into per-destination batches by `route(key)` (each a copy),
 * keeping their order.
 */
export function partitionBatch(b: VersionBatch, route: (key: Buffer) => string): Map<string, VersionBatch> {
  const parts = new Map<string, { spans: Buffer[]; count: number }>();
  for (const e of entryBounds(b)) {
    const dest = route(e.key);
    let p = parts.get(dest);
    if (!p) parts.set(dest, (p = { spans: [], count: 0 }));
    p.spans.push(b.raw.subarray(e.start, e.end));
    p.count++;
  }
  const out = new Map<string, VersionBatch>();
  for (const [dest, p] of parts) out.set(dest, { raw: Buffer.concat(p.spans), count: p.count });
  return out;
}

/** Frames a raw batch for the wire: LZ4, header, checksum. */
export function frameDelta(b: VersionBatch): Buffer {
  checkBounds(b.count, b.raw.length);
  const body = compressSync(b.raw);
  const header = Buffer.alloc(HEADER_BYTES);
  MAGIC.copy(header, 0);
  header.writeUInt8(FORMAT, 4);
  header.writeUInt32BE(b.count, 8);
  header.writeUInt32BE(b.raw.length, 12);
  header.writeUInt32BE(body.length, 16);
  header.writeUInt32BE(crc32(body, crc32(header.subarray(0, 20))), 20);
  return Buffer.concat([header, body]);
}

/** The raw batch of a framed delta; fails DELTA_CORRUPT on anything corrupt, truncated, oversize or of another format. Entries are not checked here. */
export function unframeDelta(input: Uint8Array): VersionBatch {
  try {
    return unframe(Buffer.isBuffer(input) ? input : Buffer.from(input.buffer, input.byteOffset, input.byteLength));
  } catch (err) {
    if (err instanceof DeltaCorruptError) throw err;
    throw new DeltaCorruptError('malformed body', err);
  }
}

function unframe(buf: Buffer): VersionBatch {
  corruptUnless(buf.length >= HEADER_BYTES, `truncated header (${buf.length} bytes)`);
  corruptUnless(buf.subarray(0, 4).equals(MAGIC), 'bad magic');
  corruptUnless(buf[4] === FORMAT, `unknown format version ${buf[4]}`);
  corruptUnless(buf[5] === 0 && buf.readUInt16BE(6) === 0, 'reserved header bits set');
  const count = buf.readUInt32BE(8);
  const rawBytes = buf.readUInt32BE(12);
  const compressedBytes = buf.readUInt32BE(16);
  corruptUnless(count <= MAX_DELTA_VERSIONS, `count ${count} exceeds ${MAX_DELTA_VERSIONS}`);
  corruptUnless(rawBytes <= MAX_DELTA_RAW_BYTES, `body of ${rawBytes} bytes exceeds ${MAX_DELTA_RAW_BYTES}`);
  corruptUnless(compressedBytes <= MAX_DELTA_COMPRESSED_BYTES, `compressed body of ${compressedBytes} bytes is oversize`);
  corruptUnless(buf.length === HEADER_BYTES + compressedBytes, `length ${buf.length} ≠ header + ${compressedBytes} (truncated or trailing bytes)`);
  const body = buf.subarray(HEADER_BYTES);
  corruptUnless(crc32(body, crc32(buf.subarray(0, 20))) === buf.readUInt32BE(20), 'checksum mismatch');
  // lz4-napi allocates the size it finds first in the block: check it before it does.
  corruptUnless(body.length >= 4 && body.readUInt32LE(0) === rawBytes, 'compressed size prefix disagrees with the header');
  const raw = uncompressSync(body);
  corruptUnless(raw.length === rawBytes, `decompressed ${raw.length} bytes, header says ${rawBytes}`);
  return { raw, count };
}

/** Encodes versions into one framed delta. Fails MESSAGE_TOO_LARGE beyond the bounds (split the list). */
export function encodeDelta(versions: readonly Version[]): Buffer {
  return frameDelta(encodeVersions(versions));
}

/** Decodes a framed delta; fails DELTA_CORRUPT on anything corrupt, truncated, oversize or of another format. */
export function decodeDelta(input: Uint8Array): Version[] {
  return decodeVersions(unframeDelta(input));
}
