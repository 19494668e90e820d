import { crc32 } from 'node:zlib';
import { compressSync, uncompressSync } from 'lz4-napi';
import { AetherError, DeltaCorruptError } from '../common/errors.js';
import { checkVersion, MAX_KEY_BYTES, MAX_ORIGIN_BYTES, MAX_VALUE_BYTES } from './checks.js';
import type { Version } from './version.js';

/**
 * The delta codec: a list of versions as shipped between data nodes, leaders and regions.
 *
 *   header (24 B, big-endian)
 *     0  magic "AFDL"        4
 *     4  format version = 1  1
 *     5  flags = 0           1   (reserved: must be 0)
 *     6  reserved = 0        2
 *     8  count               4   versions in the body
 *    12  rawBytes            4   body length before compression
 *    16  compressedBytes     4   length of what follows the header
 *    20  crc32               4   of header bytes 0..20 and the compressed body
 *   body: LZ4 block (lz4-napi, its 4-byte little-endian size first) of `count` entries
 *     keyLen u16 | key | originLen u8 | origin (UTF-8) | wall u64 | logical u32 |
 *     kind u8 (0 tombstone, 1 value) | [valueLen u32 | value]
 *
 * Decoding checks the checksum before decompressing and every length against the
 * bounds below, and consumes the body exactly: anything else fails DELTA_CORRUPT as a
 * whole — no partial list, no foreign exception.
 */

const MAGIC = Buffer.from('AFDL', 'ascii');
const FORMAT = 1;
const HEADER_BYTES = 24;
/** Bounds on one delta; a larger change set is shipped as several deltas. */
export const MAX_DELTA_VERSIONS = 1_000_000;
export const MAX_DELTA_RAW_BYTES = 64 << 20;
/** LZ4's worst case is a little above the input; anything further is not ours. */
const MAX_DELTA_COMPRESSED_BYTES = MAX_DELTA_RAW_BYTES + (MAX_DELTA_RAW_BYTES >>> 7) + 64;

const utf8 = new TextDecoder('utf-8', { fatal: true });

function entryBytes(v: Version): number {
  return 2 + v.key.length + 1 + Buffer.byteLength(v.origin, 'utf8') + 12 + 1 + (v.value === null ? 0 : 4 + v.value.length);
}

/** Encodes versions into one delta. Fails MESSAGE_TOO_LARGE beyond the bounds (split the list). */
export function encodeDelta(versions: readonly Version[]): Buffer {
  if (versions.length > MAX_DELTA_VERSIONS) {
    throw new AetherError('MESSAGE_TOO_LARGE', `delta of ${versions.length} versions exceeds ${MAX_DELTA_VERSIONS}`);
  }
  let rawBytes = 0;
  for (const v of versions) {
    checkVersion(v);
    rawBytes += entryBytes(v);
  }
  if (rawBytes > MAX_DELTA_RAW_BYTES) {
    throw new AetherError('MESSAGE_TOO_LARGE', `delta of ${rawBytes} bytes exceeds ${MAX_DELTA_RAW_BYTES}`);
  }
  const raw = Buffer.allocUnsafe(rawBytes);
  let o = 0;
  for (const v of versions) {
    o = raw.writeUInt16BE(v.key.length, o);
    o += v.key.copy(raw, o);
    const originLen = raw.write(v.origin, o + 1, 'utf8');
    raw.writeUInt8(originLen, o);
    o += 1 + originLen;
    o = raw.writeBigUInt64BE(v.ts.wall, o);
    o = raw.writeUInt32BE(v.ts.logical, o);
    if (v.value === null) {
      o = raw.writeUInt8(0, o);
    } else {
      o = raw.writeUInt8(1, o);
      o = raw.writeUInt32BE(v.value.length, o);
      o += v.value.copy(raw, o);
    }
  }
  const body = compressSync(raw);
  const header = Buffer.alloc(HEADER_BYTES);
  MAGIC.copy(header, 0);
  header.writeUInt8(FORMAT, 4);
  header.writeUInt32BE(versions.length, 8);
  header.writeUInt32BE(rawBytes, 12);
  header.writeUInt32BE(body.length, 16);
  header.writeUInt32BE(crc32(body, crc32(header.subarray(0, 20))), 20);
  return Buffer.concat([header, body]);
}

/** Decodes a delta; fails DELTA_CORRUPT on anything corrupt, truncated, oversize or of another format. */
export function decodeDelta(input: Uint8Array): Version[] {
  try {
    return decode(Buffer.isBuffer(input) ? input : Buffer.from(input.buffer, input.byteOffset, input.byteLength));
  } catch (err) {
    if (err instanceof DeltaCorruptError) throw err;
    throw new DeltaCorruptError('malformed body', err);
  }
}

function corruptUnless(ok: boolean, why: string): asserts ok {
  if (!ok) throw new DeltaCorruptError(why);
}

function decode(buf: Buffer): Version[] {
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

  const versions: Version[] = [];
  let o = 0;
  const need = (n: number, what: string) => corruptUnless(o + n <= raw.length, `truncated ${what} in entry ${versions.length}`);
  for (let i = 0; i < count; i++) {
    need(2, 'key length');
    const keyLen = raw.readUInt16BE(o);
    corruptUnless(keyLen <= MAX_KEY_BYTES, `key of ${keyLen} bytes in entry ${i}`);
    o += 2;
    need(keyLen + 1, 'key');
    const key = raw.subarray(o, o + keyLen);
    o += keyLen;
    const originLen = raw[o++]!;
    corruptUnless(originLen >= 1 && originLen <= MAX_ORIGIN_BYTES, `origin of ${originLen} bytes in entry ${i}`);
    need(originLen + 13, 'origin and timestamp');
    const origin = utf8.decode(raw.subarray(o, o + originLen));
    o += originLen;
    const wall = raw.readBigUInt64BE(o);
    const logical = raw.readUInt32BE(o + 8);
    const kind = raw[o + 12]!;
    o += 13;
    let value: Buffer | null = null;
    if (kind === 1) {
      need(4, 'value length');
      const valueLen = raw.readUInt32BE(o);
      corruptUnless(valueLen <= MAX_VALUE_BYTES, `value of ${valueLen} bytes in entry ${i}`);
      o += 4;
      need(valueLen, 'value');
      value = raw.subarray(o, o + valueLen);
      o += valueLen;
    } else {
      corruptUnless(kind === 0, `unknown entry kind ${kind} in entry ${i}`);
    }
    const v: Version = { key, value, ts: { wall, logical }, origin };
    checkVersion(v);
    versions.push(v);
  }
  corruptUnless(o === raw.length, `${raw.length - o} trailing bytes after ${count} entries`);
  return versions;
}
