import { createCipheriv, createDecipheriv, createSecretKey, type CipherGCMOptions, type KeyObject } from 'node:crypto';
import { assert } from '../common/errors.js';
import { KEY_BYTES } from './handshake.js';

/**
 * AEAD packet protection of a secure Quantum connection (keys from handshake.ts). The
 * header and a clear prefix of the payload stay readable and are authenticated as
 * associated data (QUIC protects payloads the same way); the rest of the payload is
 * encrypted; the 16-byte tag ends the datagram where the HMAC of an insecure one would.
 *
 * Nonce: the packet's sequence space and sequence (space 1 B ‖ 7 zero bytes ‖ sequence
 * 4 B). Each direction has its own key and, within a key, a (space, sequence) pair is
 * sealed once: a retransmission resends the very same bytes, and a connection ends
 * before either counter would wrap. AES-256-GCM: AES-NI makes it the cheaper of node's
 * two AEADs on the machines this runs on.
 */

export const AEAD_TAG_BYTES = 16;
const ALGORITHM = 'aes-256-gcm';
const NONCE_BYTES = 12;
const GCM_OPTIONS: CipherGCMOptions = { authTagLength: AEAD_TAG_BYTES };

/** The counter a packet's sequence comes from (connection.ts): both start at 0, so the nonce names it. */
export type SequenceSpace = 'reliable' | 'control';

/** Where a datagram's payload lies, and how much of its start stays clear. */
export interface PayloadSpan {
  readonly start: number;
  readonly end: number;
  readonly clearBytes: number;
}

/**
 * One direction's key, sealing or opening datagrams, and the state that keeps its nonces
 * unique. The nonce is written into one buffer, which createCipheriv copies before it
 * returns. The key is a KeyObject made once; measured, that is no faster per packet than
 * passing the Buffer (OpenSSL expands the key at every init either way).
 */
export class PacketCipher {
  private readonly key: KeyObject;
  private readonly nonce = Buffer.alloc(NONCE_BYTES);
  /** Highest sequence sealed per space, -1 before the first: each space's counter only grows, so a nonce repeats only if this goes back. */
  private readonly lastSealed: Record<SequenceSpace, number> = { reliable: -1, control: -1 };

  constructor(key: Buffer) {
    assert(key.length === KEY_BYTES, `an ${ALGORITHM} key is ${KEY_BYTES} bytes`);
    this.key = createSecretKey(key);
  }

  /**
   * Seals, in place, a datagram encoded with AEAD_TAG_BYTES of room after its payload
   * (`span.end` is where the tag goes).
   */
  seal(datagram: Buffer, span: PayloadSpan, space: SequenceSpace, sequence: number): Buffer {
    assert(sequence > this.lastSealed[space], () => `nonce reuse: ${space} sequence ${sequence} sealed after ${this.lastSealed[space]} with the same key`);
    this.lastSealed[space] = sequence;
    const cipher = createCipheriv(ALGORITHM, this.key, this.nonceOf(space, sequence), GCM_OPTIONS);
    const secretStart = span.start + span.clearBytes;
    cipher.setAAD(datagram.subarray(0, secretStart));
    cipher.update(datagram.subarray(secretStart, span.end)).copy(datagram, secretStart);
    cipher.final();
    cipher.getAuthTag().copy(datagram, span.end);
    return datagram;
  }

  /**
   * The opened payload (clear prefix ‖ plaintext) of a sealed datagram, in a new buffer —
   * the datagram itself stays as received (FEC recovers from the sealed bytes) — or
   * undefined when the tag does not verify: forged, tampered, or sealed with another key.
   */
  open(datagram: Buffer, span: PayloadSpan, space: SequenceSpace, sequence: number): Buffer | undefined {
    const decipher = createDecipheriv(ALGORITHM, this.key, this.nonceOf(space, sequence), GCM_OPTIONS);
    const secretStart = span.start + span.clearBytes;
    decipher.setAAD(datagram.subarray(0, secretStart));
    decipher.setAuthTag(datagram.subarray(span.end, span.end + AEAD_TAG_BYTES));
    const plain = decipher.update(datagram.subarray(secretStart, span.end));
    try {
      decipher.final();
    } catch {
      return undefined;
    }
    return span.clearBytes === 0 ? plain : Buffer.concat([datagram.subarray(span.start, secretStart), plain]);
  }

  private nonceOf(space: SequenceSpace, sequence: number): Buffer {
    this.nonce[0] = space === 'reliable' ? 0 : 1;
    this.nonce.writeUInt32BE(sequence, NONCE_BYTES - 4);
    return this.nonce;
  }
}
