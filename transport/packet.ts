/**
 * The Quantum wire format, big-endian:
 *
 *   magic 4 | version 1 | flags 1 | GUUID 16 | sequence 4 | ack 4 |
 *   SACK count 1 + count × (start 4, end 4) | payload length 2 | payload | tag (when keyed)
 *
 * SACK ranges are half-open [start, end) and lie above the cumulative ack (the next
 * sequence the receiver expects). Decoding never throws: anything that does not fit is a
 * `DecodeFailure` with a drop reason the caller counts.
 */

export const MAGIC = 0x514e544d; // "QNTM"
export const VERSION = 1;
export const GUUID_BYTES = 16;
/** Bytes before the SACK ranges: magic, version, flags, GUUID, sequence, ack, SACK count. */
export const FIXED_HEADER_BYTES = 4 + 1 + 1 + GUUID_BYTES + 4 + 4 + 1;
export const SACK_BLOCK_BYTES = 8;
export const PAYLOAD_LENGTH_BYTES = 2;
/** The most SACK blocks a packet may carry; more is a malformed packet. */
export const MAX_SACK_BLOCKS = 32;
export const MAX_PAYLOAD_BYTES = 0xffff;
export const MAX_SEQUENCE = 0xffffffff;

export const Flag = {
  SYN: 0x01,
  ACK: 0x02,
  FIN: 0x04,
  FEC: 0x08,
  RST: 0x10,
  PING: 0x20,
  /** The payload carries a message fragment (stream.ts). */
  DATA: 0x40,
} as const;
const KNOWN_FLAGS = 0x7f;

export interface SackBlock {
  /** First sequence received in the range. */
  readonly start: number;
  /** One past the last sequence received in the range. */
  readonly end: number;
}

export interface Packet {
  readonly flags: number;
  readonly guuid: Buffer;
  readonly sequence: number;
  readonly ack: number;
  readonly sack: readonly SackBlock[];
  readonly payload: Buffer;
}

export type DropReason =
  | 'short'
  | 'bad_magic'
  | 'bad_version'
  | 'bad_flags'
  | 'bad_sack'
  | 'bad_length'
  /** A tag (HMAC, or the AEAD's of a secure connection) that does not verify: forged, tampered, or sealed with another connection's keys. */
  | 'bad_mac'
  /** A secure peer's handshake refused: its certificate or transcript signature (quantum_handshake_failures_total says why). */
  | 'handshake'
  /** An RST of a secure connection without the peer's reset token: anyone could have sent it. */
  | 'bad_reset'
  | 'replay'
  | 'duplicate'
  | 'unknown_connection'
  | 'bad_payload'
  | 'flow_control'
  | 'buffer_full'
  /** Not valid in the connection's state: e.g. data before a secure handshake completed. */
  | 'state'
  /** A handshake of another application protocol version (the header's `version` is Quantum's own: bad_version). */
  | 'protocol'
  /** The receive path hit a bug; the connection is aborted rather than the process. */
  | 'internal';

export type DecodeResult =
  | { readonly ok: true; readonly packet: Packet; /** bytes the tag covers */ readonly signedBytes: number }
  | { readonly ok: false; readonly reason: DropReason };

/** A packet with ACK starts its payload with the ack section: the receiver's credit maxData 6 B, FEC recoveries 4 B. */
export const ACK_SECTION_BYTES = 10;

/** Reliable packets take a sequence, are acknowledged and retransmitted. */
export function isReliable(p: { readonly flags: number }): boolean {
  return !hasFlag(p, Flag.FEC | Flag.RST) && hasFlag(p, Flag.SYN | Flag.DATA | Flag.PING | Flag.FIN);
}

export function headerBytes(sackBlocks: number): number {
  return FIXED_HEADER_BYTES + sackBlocks * SACK_BLOCK_BYTES + PAYLOAD_LENGTH_BYTES;
}

export function hasFlag(p: { readonly flags: number }, flag: number): boolean {
  return (p.flags & flag) !== 0;
}

/** Encodes a packet, leaving `tagBytes` zeroed at the end for the authenticator to fill. */
export function encodePacket(p: Packet, tagBytes = 0): Buffer {
  if (p.guuid.length !== GUUID_BYTES) throw new RangeError(`GUUID must be ${GUUID_BYTES} bytes`);
  if (p.sack.length > MAX_SACK_BLOCKS) throw new RangeError(`at most ${MAX_SACK_BLOCKS} SACK blocks`);
  if (p.payload.length > MAX_PAYLOAD_BYTES) throw new RangeError(`payload above ${MAX_PAYLOAD_BYTES} bytes`);
  const head = headerBytes(p.sack.length);
  const buf = Buffer.alloc(head + p.payload.length + tagBytes);
  buf.writeUInt32BE(MAGIC, 0);
  buf.writeUInt8(VERSION, 4);
  buf.writeUInt8(p.flags, 5);
  p.guuid.copy(buf, 6);
  buf.writeUInt32BE(p.sequence, 22);
  buf.writeUInt32BE(p.ack, 26);
  buf.writeUInt8(p.sack.length, 30);
  let o = 31;
  for (const b of p.sack) {
    buf.writeUInt32BE(b.start, o);
    buf.writeUInt32BE(b.end, o + 4);
    o += SACK_BLOCK_BYTES;
  }
  buf.writeUInt16BE(p.payload.length, o);
  p.payload.copy(buf, o + 2);
  return buf;
}

/** The GUUID of a datagram that is at least a header long, without decoding the rest. */
export function peekGuuid(buf: Buffer): Buffer | undefined {
  return buf.length >= FIXED_HEADER_BYTES ? buf.subarray(6, 6 + GUUID_BYTES) : undefined;
}

/**
 * Decodes a datagram. `tagBytes` is the authentication tag length when a key is
 * configured (0 otherwise); the datagram must be exactly header + payload + tag.
 * The returned packet's buffers are views into `buf`.
 */
export function decodePacket(buf: Buffer, tagBytes = 0): DecodeResult {
  if (buf.length < headerBytes(0) + tagBytes) return { ok: false, reason: 'short' };
  if (buf.readUInt32BE(0) !== MAGIC) return { ok: false, reason: 'bad_magic' };
  if (buf.readUInt8(4) !== VERSION) return { ok: false, reason: 'bad_version' };
  const flags = buf.readUInt8(5);
  if ((flags & ~KNOWN_FLAGS) !== 0) return { ok: false, reason: 'bad_flags' };
  const count = buf.readUInt8(30);
  if (count > MAX_SACK_BLOCKS) return { ok: false, reason: 'bad_sack' };
  const head = headerBytes(count);
  if (buf.length < head + tagBytes) return { ok: false, reason: 'bad_length' };
  const ack = buf.readUInt32BE(26);
  const sack: SackBlock[] = [];
  let o = 31;
  for (let i = 0; i < count; i++) {
    const start = buf.readUInt32BE(o);
    const end = buf.readUInt32BE(o + 4);
    if (start >= end || start <= ack) return { ok: false, reason: 'bad_sack' };
    sack.push({ start, end });
    o += SACK_BLOCK_BYTES;
  }
  const payloadLength = buf.readUInt16BE(o);
  if (head + payloadLength + tagBytes !== buf.length) return { ok: false, reason: 'bad_length' };
  return {
    ok: true,
    signedBytes: head + payloadLength,
    packet: {
      flags,
      guuid: buf.subarray(6, 6 + GUUID_BYTES),
      sequence: buf.readUInt32BE(22),
      ack,
      sack,
      payload: buf.subarray(head, head + payloadLength),
    },
  };
}
