import { timingSafeEqual } from 'node:crypto';
import { assert } from '../common/errors.js';
import type { PacketProtection } from './auth.js';
import { HELLO_EXTENSION_BYTES, type DirectionKeys, type Handshake } from './handshake.js';
import { AEAD_TAG_BYTES, PacketCipher, type SequenceSpace } from './packet-cipher.js';
import { ACK_SECTION_BYTES, decodePacket, encodePacket, Flag, hasFlag, isReliable, type DecodeResult, type Packet } from './packet.js';

/**
 * Sent in the clear: the initiator's SYN (no key exists yet) and RSTs (a secure RST is
 * believed only when it carries the peer's reset token, see acceptsReset).
 */
export function isClearPacket(flags: number): boolean {
  return flags === Flag.SYN || (flags & Flag.RST) !== 0;
}

interface Sealing {
  readonly cipher: PacketCipher;
  /** Payload bytes left readable (authenticated only). */
  readonly clearBytes: number;
}

/**
 * The packet protection of one secure connection, over its Handshake: which key seals
 * and opens which packet. The two SYN|ACKs (the responder's identity, sequence 0, and
 * the initiator's, sequence 1 — the handshake's third message) use the handshake keys;
 * the responder's leaves its ack section and clear handshake fields readable, since the
 * initiator derives the keys from them. Everything else uses the session keys, which the
 * responder has only once the initiator proved itself: until then its packets are
 * dropped (`state`), unacknowledged, and sent again.
 */
export class SecureSession implements PacketProtection {
  readonly tagBytes = AEAD_TAG_BYTES;
  /** The responder's SYN|ACK payload before its sealed identity: ack section, its handshake fields, e_R, n_R. */
  private readonly responseClearBytes: number;
  /**
   * The ciphers of each set of keys, made at its first packet. By the keys object, not
   * by kind: the initiator derives new handshake keys from every response it tries.
   */
  private readonly ciphers = new WeakMap<DirectionKeys, DirectionCiphers>();

  constructor(
    readonly handshake: Handshake,
    /** The connection's own handshake fields (instance id, protocol version). */
    baseHandshakeBytes: number,
  ) {
    this.responseClearBytes = ACK_SECTION_BYTES + baseHandshakeBytes + HELLO_EXTENSION_BYTES;
  }

  /** Session keys exist: pure acks, parity and data can be sealed. */
  get established(): boolean {
    return this.handshake.appKeys !== undefined;
  }

  protect(p: Packet): Buffer {
    if (isClearPacket(p.flags)) return encodePacket(p);
    const sealing = this.sealing(p, 'send');
    assert(sealing !== undefined, 'a secure packet is sealed only once its keys exist');
    const datagram = encodePacket(p, AEAD_TAG_BYTES);
    const end = datagram.length - AEAD_TAG_BYTES;
    return sealing.cipher.seal(datagram, { start: end - p.payload.length, end, clearBytes: sealing.clearBytes }, spaceOf(p), p.sequence);
  }

  open(datagram: Buffer): DecodeResult {
    const clear = datagram.length > 5 && isClearPacket(datagram[5]!);
    const decoded = decodePacket(datagram, clear ? 0 : AEAD_TAG_BYTES);
    if (!decoded.ok) return decoded;
    const p = decoded.packet;
    // A clear SYN is only ever the initiator's first packet: at any other sequence it would take the place of real data in the receive ranges.
    if (clear) return hasFlag(p, Flag.SYN) && (p.sequence !== 0 || this.handshake.role === 'initiator') ? { ok: false, reason: 'state' } : decoded;
    if (this.isResponse(p) && this.handshake.state === 'HELLO_SENT') {
      if (p.payload.length < this.responseClearBytes) return { ok: false, reason: 'bad_payload' };
      if (!this.handshake.onResponseClear(p.payload.subarray(ACK_SECTION_BYTES, this.responseClearBytes))) return { ok: false, reason: 'handshake' };
    }
    const sealing = this.sealing(p, 'receive');
    if (sealing === undefined) return { ok: false, reason: 'state' };
    if (p.payload.length < sealing.clearBytes) return { ok: false, reason: 'bad_payload' };
    const end = decoded.signedBytes;
    const payload = sealing.cipher.open(datagram, { start: end - p.payload.length, end, clearBytes: sealing.clearBytes }, spaceOf(p), p.sequence);
    if (payload === undefined) return { ok: false, reason: 'bad_mac' };
    return { ok: true, signedBytes: decoded.signedBytes, packet: { ...p, payload } };
  }

  /** An RST of this connection is the peer's only when it carries the peer's reset token. */
  acceptsReset(payload: Buffer): boolean {
    const token = this.handshake.peer?.resetToken;
    return token !== undefined && payload.length === token.length && timingSafeEqual(payload, token);
  }

  /** The responder's SYN|ACK (as opposed to the initiator's, which answers it). */
  private isResponse(p: Packet): boolean {
    return hasFlag(p, Flag.SYN) && hasFlag(p, Flag.ACK) && p.sequence === 0;
  }

  private sealing(p: Packet, direction: keyof DirectionKeys): Sealing | undefined {
    const handshakePacket = hasFlag(p, Flag.SYN) && hasFlag(p, Flag.ACK);
    const keys = handshakePacket ? this.handshake.handshakeKeys : this.handshake.appKeys;
    if (keys === undefined) return undefined;
    let ciphers = this.ciphers.get(keys);
    if (ciphers === undefined) {
      ciphers = { send: new PacketCipher(keys.send), receive: new PacketCipher(keys.receive) };
      this.ciphers.set(keys, ciphers);
    }
    // The responder sends the response; the initiator receives it.
    const responseHere = handshakePacket && this.isResponse(p) && (direction === 'send') === (this.handshake.role === 'responder');
    return { cipher: ciphers[direction], clearBytes: responseHere ? this.responseClearBytes : 0 };
  }
}

type DirectionCiphers = Record<keyof DirectionKeys, PacketCipher>;

function spaceOf(p: Packet): SequenceSpace {
  return isReliable(p) ? 'reliable' : 'control';
}
