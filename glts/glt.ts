import { GltParseError } from '../common/errors.js';

/**
 * A Global Logical Timestamp: an HLC reading. `wall` is nanoseconds since the Unix
 * epoch, `logical` a counter that orders events within one wall tick.
 * Invariant: 0 ≤ wall < 2^64, 0 ≤ logical < 2^32 (so the binary form is fixed-width).
 */
export interface Glt {
  readonly wall: bigint;
  readonly logical: number;
}

export const WALL_MAX = (1n << 64n) - 1n;
export const LOGICAL_MAX = 0xffff_ffff;
/** The width of `encodeGlt`'s output. */
export const GLT_BYTES = 12;

export const GLT_ZERO: Glt = Object.freeze({ wall: 0n, logical: 0 });
export const GLT_MAX: Glt = Object.freeze({ wall: WALL_MAX, logical: LOGICAL_MAX });

export function glt(wall: bigint, logical = 0): Glt {
  return { wall, logical };
}

/** Order of GLTs: by wall, then logical. */
export function compareGlt(a: Glt, b: Glt): number {
  if (a.wall !== b.wall) return a.wall < b.wall ? -1 : 1;
  if (a.logical !== b.logical) return a.logical < b.logical ? -1 : 1;
  return 0;
}

export function gltEquals(a: Glt, b: Glt): boolean {
  return a.wall === b.wall && a.logical === b.logical;
}

export function maxGlt(a: Glt, b: Glt): Glt {
  return compareGlt(a, b) >= 0 ? a : b;
}

export function minGlt(a: Glt, b: Glt): Glt {
  return compareGlt(a, b) <= 0 ? a : b;
}

/** The smallest GLT strictly greater than `g`. */
export function nextGlt(g: Glt): Glt {
  if (g.logical < LOGICAL_MAX) return { wall: g.wall, logical: g.logical + 1 };
  return { wall: g.wall + 1n, logical: 0 };
}

/**
 * The total order of versions: (wall, logical, origin), origin compared byte-wise
 * (UTF-8), so two data nodes that stamp the same (wall, logical) still order.
 */
export function compareVersionOrder(a: Glt, aOrigin: string, b: Glt, bOrigin: string): number {
  const c = compareGlt(a, b);
  if (c !== 0) return c;
  if (aOrigin === bOrigin) return 0;
  return Buffer.compare(Buffer.from(aOrigin, 'utf8'), Buffer.from(bOrigin, 'utf8'));
}

/** The text form `<wall>.<logical>`, both decimal. */
export function formatGlt(g: Glt): string {
  return `${g.wall}.${g.logical}`;
}

/** The `glt` trace field every process logs a committed snapshot under (common/log.ts). */
export function gltField(t: Glt): { readonly glt: string } {
  return { glt: formatGlt(t) };
}

const TEXT = /^(0|[1-9][0-9]{0,19})\.(0|[1-9][0-9]{0,9})$/;

/** Parses the text form; rejects anything else (including `latest`, which callers resolve) with GLT_PARSE. */
export function parseGlt(text: string): Glt {
  const m = TEXT.exec(text);
  if (!m) throw new GltParseError(text, 'not of the form <wall>.<logical> with decimal digits and no leading zeros');
  const wall = BigInt(m[1]!);
  const logical = Number(m[2]!);
  if (wall > WALL_MAX) throw new GltParseError(text, 'wall is above 2^64-1');
  if (logical > LOGICAL_MAX) throw new GltParseError(text, 'logical is above 2^32-1');
  return { wall, logical };
}

/** Checks a GLT built from untrusted numbers (gRPC fields, JSON) and returns it. */
export function checkGlt(wall: bigint, logical: number): Glt {
  const text = `${wall}.${logical}`;
  if (wall < 0n || wall > WALL_MAX) throw new GltParseError(text, 'wall out of range');
  if (!Number.isInteger(logical) || logical < 0 || logical > LOGICAL_MAX) throw new GltParseError(text, 'logical out of range');
  return { wall, logical };
}

/** 12 bytes, big-endian wall then logical: byte-wise order equals time order. */
export function encodeGlt(g: Glt, out: Buffer = Buffer.allocUnsafe(GLT_BYTES), offset = 0): Buffer {
  out.writeBigUInt64BE(g.wall, offset);
  out.writeUInt32BE(g.logical, offset + 8);
  return out;
}

/**
 * 12 bytes, each bit inverted: byte-wise order is reverse time order, so a forward
 * LevelDB iterator meets the newest version of a key first.
 */
export function encodeGltDescending(g: Glt, out: Buffer = Buffer.allocUnsafe(GLT_BYTES), offset = 0): Buffer {
  out.writeBigUInt64BE(WALL_MAX - g.wall, offset);
  out.writeUInt32BE(LOGICAL_MAX - g.logical, offset + 8);
  return out;
}

export function decodeGlt(buf: Uint8Array, offset = 0): Glt {
  const b = Buffer.isBuffer(buf) ? buf : Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
  return { wall: b.readBigUInt64BE(offset), logical: b.readUInt32BE(offset + 8) };
}

export function decodeGltDescending(buf: Uint8Array, offset = 0): Glt {
  const g = decodeGlt(buf, offset);
  return { wall: WALL_MAX - g.wall, logical: LOGICAL_MAX - g.logical };
}

/** Milliseconds of wall time between two GLTs (a − b), for lag figures. */
export function gltDiffMs(a: Glt, b: Glt): number {
  return Number(a.wall - b.wall) / 1e6;
}
