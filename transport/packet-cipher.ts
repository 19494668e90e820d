import { createCipheriv, createDecipheriv } from 'node:crypto';

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

/** The counter a packet's sequence comes from (connection.ts): both start at 0, so the nonce names it. */
export type SequenceSpace = 'reliable' | 'control';

function nonceOf(space: SequenceSpace, sequence: number): Buffer {
  const n = Buffer.alloc(NONCE_BYTES);
  n[0] = space === 'reliable' ? 0 : 1;
  n.writeUInt32BE(sequence, NONCE_BYTES - 4);
  return n;
}

/** Where a datagram's payload lies, and how much of its start stays clear. */
export interface PayloadSpan {
  readonly start: number;
  readonly end: number;
  readonly clearBytes: number;
}

/**
 * Seals, in place, a datagram encoded with AEAD_TAG_BYTES of room after its payload
 * (`span.end` is where the tag goes).
 */
export function sealDatagram(key: Buffer, datagram: Buffer, span: PayloadSpan, space: SequenceSpace, sequence: number): Buffer {
  const cipher = createCipheriv(ALGORITHM, key, nonceOf(space, sequence), { authTagLength: AEAD_TAG_BYTES });
  const secretStart = span.start + span.clearBytes;
  cipher.setAAD(datagram.subarray(0, secretStart));
  const encrypted = cipher.update(datagram.subarray(secretStart, span.end));
  cipher.final();
  encrypted.copy(datagram, secretStart);
  cipher.getAuthTag().copy(datagram, span.end);
  return datagram;
}

/**
 * The opened payload (clear prefix ‖ plaintext) of a sealed datagram, in a new buffer —
 * the datagram itself stays as received (FEC recovers from the sealed bytes) — or
 * undefined when the tag does not verify: forged, tampered, or sealed with another key.
 */
export function openDatagram(key: Buffer, datagram: Buffer, span: PayloadSpan, space: SequenceSpace, sequence: number): Buffer | undefined {
  const decipher = createDecipheriv(ALGORITHM, key, nonceOf(space, sequence), { authTagLength: AEAD_TAG_BYTES });
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
