import { createHmac, timingSafeEqual } from 'node:crypto';
import { decodePacket, encodePacket, type DecodeResult, type Packet } from './packet.js';

/** Truncated HMAC-SHA256 tag; 128 bits is plenty against forgery within a key's lifetime. */
export const TAG_BYTES = 16;

/**
 * How a connection's datagrams are protected on the wire: the Authenticator below for an
 * insecure endpoint, a SecureSession (secure-session.ts) for an authenticated, encrypted one.
 */
export interface PacketProtection {
  /** Bytes a protected data packet carries beyond its header and payload. */
  readonly tagBytes: number;
  /** The datagram of a packet. */
  protect(p: Packet): Buffer;
  /** Decodes and verifies a datagram; a failure carries the drop reason. Never throws. */
  open(datagram: Buffer): DecodeResult;
}

/**
 * Seals and opens datagrams. With a pre-shared key every datagram ends in a tag over
 * everything before it; without one, datagrams carry no tag and open() only decodes.
 */
export class Authenticator implements PacketProtection {
  readonly tagBytes: number;

  constructor(private readonly key: Buffer | null) {
    this.tagBytes = key === null ? 0 : TAG_BYTES;
  }

  get keyed(): boolean {
    return this.key !== null;
  }

  protect(p: Packet): Buffer {
    return this.seal(encodePacket(p, this.tagBytes));
  }

  /** Fills the trailing tag of a datagram encoded with `tagBytes` of room. */
  seal(datagram: Buffer): Buffer {
    if (this.key !== null) this.mac(datagram.subarray(0, datagram.length - TAG_BYTES)).copy(datagram, datagram.length - TAG_BYTES);
    return datagram;
  }

  /** Decodes and, when keyed, verifies; a bad tag is the drop reason `bad_mac`. Never throws. */
  open(datagram: Buffer): DecodeResult {
    const decoded = decodePacket(datagram, this.tagBytes);
    if (!decoded.ok || this.key === null) return decoded;
    const expected = this.mac(datagram.subarray(0, decoded.signedBytes));
    const tag = datagram.subarray(decoded.signedBytes);
    return timingSafeEqual(expected, tag) ? decoded : { ok: false, reason: 'bad_mac' };
  }

  private mac(bytes: Buffer): Buffer {
    return createHmac('sha256', this.key!).update(bytes).digest().subarray(0, TAG_BYTES);
  }
}

/**
 * Replay protection for datagrams that are never retransmitted (acks, FEC parity, RST):
 * a sliding window over their sequence (RFC 4303 §3.4.3 style). Each sequence is
 * accepted once; anything older than the window is refused.
 */
export class ReplayWindow {
  /** Highest sequence accepted so far; -1 before the first. */
  private highest = -1;
  /** Bit i set: sequence highest - i was accepted. Invariant: covers sizeBits sequences. */
  private bits = 0n;

  constructor(private readonly sizeBits = 1024) {}

  /** True and recorded when `seq` is new and within the window. */
  accept(seq: number): boolean {
    if (seq > this.highest) {
      const shift = seq - this.highest;
      this.bits = shift >= this.sizeBits ? 1n : ((this.bits << BigInt(shift)) | 1n) & ((1n << BigInt(this.sizeBits)) - 1n);
      this.highest = seq;
      return true;
    }
    const age = this.highest - seq;
    if (age >= this.sizeBits) return false;
    const bit = 1n << BigInt(age);
    if ((this.bits & bit) !== 0n) return false;
    this.bits |= bit;
    return true;
  }
}
