import { createHash, createHmac, createPrivateKey, createPublicKey, diffieHellman, generateKeyPairSync, hkdfSync, randomBytes, sign, verify, X509Certificate, type KeyObject } from 'node:crypto';
import { AetherError } from '../common/errors.js';
import type { Random } from '../common/random.js';

/**
 * Quantum's authenticated key exchange, sans-IO: a SIGMA-I exchange (the shape of TLS 1.3
 * with client certificates, or Noise XX with signatures instead of static DH keys).
 *
 *   I → R  SYN      base_I, e_I, n_I                                    clear
 *   R → I  SYN|ACK  base_R, e_R, n_R ‖ { cert_R, token_R, sig_R(H2) }   sealed with hs r→i
 *   I → R  AUTH     { cert_I, token_I, sig_I(H3) }                      sealed with hs i→r
 *   I ↔ R  …        everything else                                     sealed with app keys
 *
 *   base   the connection's own handshake fields (instance id, protocol version)
 *   e, n   a fresh X25519 ephemeral public key and a 32-byte random nonce, per connection
 *   ikm    X25519(e_I, e_R) ‖ psk (the optional pre-shared key, as WireGuard mixes it in)
 *   H1     SHA-256(label ‖ GUUID ‖ SYN body ‖ base_R ‖ e_R ‖ n_R)
 *   hs     HKDF(ikm, salt H1): one AEAD key per direction for the handshake's sealed halves
 *   H2     SHA-256(H1 ‖ cert_R ‖ token_R);  H3 = SHA-256(SHA-256(H2 ‖ sig_R) ‖ cert_I ‖ token_I)
 *   app    HKDF(ikm, salt SHA-256(H3 ‖ sig_I)): one AEAD key per direction for the session
 *   token  the sender's stateless-reset token for this GUUID (see resetToken)
 *
 * Each side proves its node id by signing the transcript with its certificate's key; the
 * certificate must chain to the deployment's CA, be within its validity dates and name
 * the node in its SAN URI. A recorded SYN replayed to a responder gets a fresh e_R and
 * n_R back, and only the holder of e_I's private key and of the initiator's certificate
 * key can answer with an AUTH that verifies: a recorded session never re-establishes.
 * The responder holds its connection unauthenticated (nothing delivered) until AUTH.
 */

export const EPHEMERAL_BYTES = 32;
export const NONCE_BYTES = 32;
/** What a secure handshake adds to each side's clear handshake fields. */
export const HELLO_EXTENSION_BYTES = EPHEMERAL_BYTES + NONCE_BYTES;
export const KEY_BYTES = 32;
export const RESET_TOKEN_BYTES = 16;

const LABEL = Buffer.from('aetherflow quantum handshake v1');
const RESPONDER_SIGNATURE = Buffer.from('aetherflow quantum responder signature');
const INITIATOR_SIGNATURE = Buffer.from('aetherflow quantum initiator signature');
const X25519_SPKI_PREFIX = Buffer.from('302a300506032b656e032100', 'hex');
const X25519_PKCS8_PREFIX = Buffer.from('302e020100300506032b656e04220420', 'hex');
/** Bounds a certificate and a signature in the identity message; both fit one packet. */
const MAX_CERTIFICATE_BYTES = 1024;
const MAX_SIGNATURE_BYTES = 512;

/** Who this endpoint is: its certificate and key, the CA it trusts, the optional pre-shared key. */
export interface QuantumCredentials {
  readonly nodeId: string;
  readonly certificate: X509Certificate;
  readonly privateKey: KeyObject;
  readonly ca: X509Certificate;
  readonly psk: Buffer | null;
  /** The node id a certificate speaks for (its `aetherflow://node/<id>` SAN URI). */
  readonly nodeIdOf: (cert: X509Certificate) => string | undefined;
}

/** Why a peer's handshake was refused: the label of `quantum_handshake_failures_total`. */
export type HandshakeFailure =
  /** A message that does not parse, or a key exchange that fails (e.g. a low-order point). */
  | 'malformed'
  | 'bad_certificate'
  /** Not signed by the deployment's CA. */
  | 'untrusted'
  /** Outside its validity dates. */
  | 'expired'
  /** No node id in its SAN URIs, or not the node the initiator dialled. */
  | 'wrong_node'
  /** The transcript signature does not verify: a tampered or replayed exchange. */
  | 'bad_signature';
export const HANDSHAKE_FAILURES: readonly HandshakeFailure[] = ['malformed', 'bad_certificate', 'untrusted', 'expired', 'wrong_node', 'bad_signature'];

/** One direction's AEAD key, and its peer's. */
export interface DirectionKeys {
  readonly send: Buffer;
  readonly receive: Buffer;
}

export interface PeerIdentity {
  readonly nodeId: string;
  readonly resetToken: Buffer;
}

export type HandshakeState = 'START' | 'HELLO_SENT' | 'AWAIT_HELLO' | 'AWAIT_AUTH' | 'DONE' | 'FAILED';

const TRANSITIONS: Record<HandshakeState, readonly HandshakeState[]> = {
  START: ['HELLO_SENT'],
  HELLO_SENT: ['DONE', 'FAILED'],
  AWAIT_HELLO: ['AWAIT_AUTH', 'FAILED'],
  AWAIT_AUTH: ['DONE', 'FAILED'],
  DONE: [],
  FAILED: [],
};

export interface HandshakeOptions {
  readonly role: 'initiator' | 'responder';
  readonly credentials: QuantumCredentials;
  readonly guuid: Buffer;
  /** Our reset token for this GUUID (resetToken below). */
  readonly resetToken: Buffer;
  /** The node the initiator dialled; a certificate naming another is refused. */
  readonly expectedPeer?: string | undefined;
  /** Ephemeral keys and nonces from a seeded source (deterministic tests); node:crypto otherwise. */
  readonly random?: Random | undefined;
  /** Certificates' validity is judged by this clock (Date.now by default), not by a simulated one. */
  readonly wallClockMs?: (() => number) | undefined;
}

export type Verdict<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly reason: HandshakeFailure };

/**
 * One side of one connection's handshake. The caller (the connection) frames and seals:
 * it puts hello() in the SYN, the responder's respond() in the SYN|ACK (clear part, then
 * the identity sealed with `handshakeKeys.send`), and so on; this class keeps the
 * transcript and the keys and decides whether the peer is who it claims.
 */
export class Handshake {
  private stateValue: HandshakeState;
  private readonly ephemeral: KeyObject;
  private readonly ephemeralPublic: Buffer;
  private readonly nonce: Buffer;
  private ikm: Buffer | undefined;
  private transcript: Buffer | undefined;
  /** Set from H1 on (both sides): the keys of the handshake's sealed halves. */
  handshakeKeys: DirectionKeys | undefined;
  /** Set once the handshake is DONE. */
  appKeys: DirectionKeys | undefined;
  peer: PeerIdentity | undefined;
  private helloBody: Buffer | undefined;

  readonly role: 'initiator' | 'responder';
  /** Our reset token for this GUUID (the peer accepts an RST carrying it). */
  readonly resetToken: Buffer;
  private readonly credentials: QuantumCredentials;
  private readonly guuid: Buffer;
  private readonly expectedPeer: string | undefined;
  private readonly wallClockMs: () => number;

  constructor(o: HandshakeOptions) {
    this.role = o.role;
    this.credentials = o.credentials;
    this.guuid = o.guuid;
    this.resetToken = o.resetToken;
    this.expectedPeer = o.expectedPeer;
    this.wallClockMs = o.wallClockMs ?? Date.now;
    const random = o.random;
    this.stateValue = o.role === 'initiator' ? 'START' : 'AWAIT_HELLO';
    this.ephemeral = random === undefined ? generateKeyPairSync('x25519').privateKey : createPrivateKey({ key: Buffer.concat([X25519_PKCS8_PREFIX, random.bytes(EPHEMERAL_BYTES)]), format: 'der', type: 'pkcs8' });
    this.ephemeralPublic = rawPublic(createPublicKey(this.ephemeral));
    this.nonce = random?.bytes(NONCE_BYTES) ?? randomBytes(NONCE_BYTES);
  }

  get state(): HandshakeState {
    return this.stateValue;
  }

  /** Initiator: the SYN body, `base` followed by e_I and n_I. */
  hello(base: Buffer): Buffer {
    this.transition('HELLO_SENT');
    this.helloBody = Buffer.concat([base, this.ephemeralPublic, this.nonce]);
    return this.helloBody;
  }

  /**
   * Responder, on the SYN body: the SYN|ACK's clear part (`base` ‖ e_R ‖ n_R) and its
   * identity (to seal with handshakeKeys.send).
   */
  respond(helloBody: Buffer, base: Buffer): Verdict<{ readonly clear: Buffer; readonly identity: Buffer }> {
    if (this.stateValue !== 'AWAIT_HELLO' || helloBody.length < HELLO_EXTENSION_BYTES) return this.fail('malformed');
    const clear = Buffer.concat([base, this.ephemeralPublic, this.nonce]);
    const peerEphemeral = helloBody.subarray(helloBody.length - HELLO_EXTENSION_BYTES, helloBody.length - NONCE_BYTES);
    if (!this.agree(peerEphemeral, Buffer.concat([helloBody, clear]))) return this.fail('malformed');
    const token = this.resetToken;
    const cert = this.credentials.certificate.raw;
    const h2 = hash(this.transcript!, cert, token);
    const sig = this.sign(RESPONDER_SIGNATURE, h2);
    this.transcript = hash(h2, sig);
    this.transition('AWAIT_AUTH');
    return { ok: true, value: { clear, identity: encodeIdentity(cert, token, sig) } };
  }

  /**
   * Initiator, on the SYN|ACK's clear part: derives the handshake keys, so the caller can
   * open the sealed identity. False for a clear part that cannot be a response.
   */
  onResponseClear(clear: Buffer): boolean {
    if (this.stateValue !== 'HELLO_SENT' || clear.length < HELLO_EXTENSION_BYTES) return false;
    const peerEphemeral = clear.subarray(clear.length - HELLO_EXTENSION_BYTES, clear.length - NONCE_BYTES);
    return this.agree(peerEphemeral, Buffer.concat([this.helloBody!, clear]));
  }

  /** Initiator, on the responder's opened identity: the AUTH identity to seal, once the responder is proven. */
  onResponseIdentity(identity: Buffer): Verdict<Buffer> {
    if (this.stateValue !== 'HELLO_SENT' || this.transcript === undefined) return this.fail('malformed');
    const proven = this.verifyIdentity(identity, RESPONDER_SIGNATURE);
    if (!proven.ok) return proven;
    this.transcript = hash(proven.value.h, proven.value.sig);
    const cert = this.credentials.certificate.raw;
    const h3 = hash(this.transcript, cert, this.resetToken);
    const sig = this.sign(INITIATOR_SIGNATURE, h3);
    this.complete(hash(h3, sig));
    this.peer = proven.value.peer;
    return { ok: true, value: encodeIdentity(cert, this.resetToken, sig) };
  }

  /** Responder, on the initiator's opened AUTH identity. */
  onAuth(identity: Buffer): Verdict<PeerIdentity> {
    if (this.stateValue !== 'AWAIT_AUTH') return this.fail('malformed');
    const proven = this.verifyIdentity(identity, INITIATOR_SIGNATURE);
    if (!proven.ok) return proven;
    this.complete(hash(proven.value.h, proven.value.sig));
    this.peer = proven.value.peer;
    return { ok: true, value: proven.value.peer };
  }

  // ---- internals

  /** X25519 with the peer's ephemeral, H1 over the exchange so far, and the handshake keys. */
  private agree(peerEphemeral: Buffer, exchange: Buffer): boolean {
    try {
      const shared = diffieHellman({ privateKey: this.ephemeral, publicKey: createPublicKey({ key: Buffer.concat([X25519_SPKI_PREFIX, peerEphemeral]), format: 'der', type: 'spki' }) });
      this.ikm = this.credentials.psk === null ? shared : Buffer.concat([shared, this.credentials.psk]);
    } catch {
      return false;
    }
    this.transcript = hash(LABEL, this.guuid, exchange);
    this.handshakeKeys = this.derive(this.transcript, 'hs');
    return true;
  }

  private derive(salt: Buffer, label: string): DirectionKeys {
    const i2r = Buffer.from(hkdfSync('sha256', this.ikm!, salt, `${label} i->r`, KEY_BYTES));
    const r2i = Buffer.from(hkdfSync('sha256', this.ikm!, salt, `${label} r->i`, KEY_BYTES));
    return this.role === 'initiator' ? { send: i2r, receive: r2i } : { send: r2i, receive: i2r };
  }

  private complete(finalHash: Buffer): void {
    this.appKeys = this.derive(finalHash, 'app');
    this.transition('DONE');
  }

  private verifyIdentity(identity: Buffer, label: Buffer): Verdict<{ readonly h: Buffer; readonly sig: Buffer; readonly peer: PeerIdentity }> {
    const decoded = decodeIdentity(identity);
    if (decoded === undefined) return this.fail('malformed');
    let cert: X509Certificate;
    try {
      cert = new X509Certificate(decoded.cert);
    } catch {
      return this.fail('bad_certificate');
    }
    const ca = this.credentials.ca;
    if (!cert.checkIssued(ca) || !cert.verify(ca.publicKey)) return this.fail('untrusted');
    const nowMs = this.wallClockMs();
    if (Date.parse(cert.validFrom) > nowMs || Date.parse(cert.validTo) <= nowMs) return this.fail('expired');
    const nodeId = this.credentials.nodeIdOf(cert);
    if (nodeId === undefined || (this.expectedPeer !== undefined && nodeId !== this.expectedPeer)) return this.fail('wrong_node');
    const h = hash(this.transcript!, decoded.cert, decoded.token);
    let good = false;
    try {
      good = verify(digestFor(cert.publicKey), Buffer.concat([label, h]), { key: cert.publicKey, dsaEncoding: 'ieee-p1363' }, decoded.sig);
    } catch {
      good = false;
    }
    if (!good) return this.fail('bad_signature');
    return { ok: true, value: { h, sig: decoded.sig, peer: { nodeId, resetToken: decoded.token } } };
  }

  private sign(label: Buffer, h: Buffer): Buffer {
    const key = this.credentials.privateKey;
    return sign(digestFor(key), Buffer.concat([label, h]), { key, dsaEncoding: 'ieee-p1363' });
  }

  private fail(reason: HandshakeFailure): { ok: false; reason: HandshakeFailure } {
    if (this.stateValue !== 'DONE' && this.stateValue !== 'FAILED') this.transition('FAILED');
    return { ok: false, reason };
  }

  private transition(to: HandshakeState): void {
    if (!TRANSITIONS[this.stateValue].includes(to)) throw new AetherError('INTERNAL', `handshake transition ${this.stateValue} → ${to}`);
    this.stateValue = to;
  }
}

/**
 * A stateless-reset token (QUIC's idea): an endpoint that lost a connection's state (it
 * restarted) can still prove an RST for that GUUID comes from it, because the token is
 * derived from its certificate's private key, which survives the restart.
 */
export function resetTokenSecret(privateKey: KeyObject): Buffer {
  const der = privateKey.export({ format: 'der', type: 'pkcs8' });
  return Buffer.from(hkdfSync('sha256', der, LABEL, 'stateless reset', KEY_BYTES));
}

export function resetToken(secret: Buffer, guuid: Buffer): Buffer {
  return createHmac('sha256', secret).update(guuid).digest().subarray(0, RESET_TOKEN_BYTES);
}

/** Ed25519/Ed448 sign the message itself; ECDSA and RSA a SHA-256 digest. */
function digestFor(key: KeyObject): string | null {
  return key.asymmetricKeyType === 'ed25519' || key.asymmetricKeyType === 'ed448' ? null : 'sha256';
}

function rawPublic(key: KeyObject): Buffer {
  return key.export({ format: 'der', type: 'spki' }).subarray(X25519_SPKI_PREFIX.length);
}

function hash(...parts: Buffer[]): Buffer {
  const h = createHash('sha256');
  for (const p of parts) h.update(p);
  return h.digest();
}

/** cert length 2 ‖ cert DER ‖ token 16 ‖ signature length 2 ‖ signature */
function encodeIdentity(cert: Buffer, token: Buffer, sig: Buffer): Buffer {
  const b = Buffer.alloc(2 + cert.length + RESET_TOKEN_BYTES + 2 + sig.length);
  b.writeUInt16BE(cert.length, 0);
  cert.copy(b, 2);
  token.copy(b, 2 + cert.length);
  b.writeUInt16BE(sig.length, 2 + cert.length + RESET_TOKEN_BYTES);
  sig.copy(b, 4 + cert.length + RESET_TOKEN_BYTES);
  return b;
}

function decodeIdentity(b: Buffer): { cert: Buffer; token: Buffer; sig: Buffer } | undefined {
  if (b.length < 2) return undefined;
  const certLength = b.readUInt16BE(0);
  if (certLength > MAX_CERTIFICATE_BYTES || b.length < 2 + certLength + RESET_TOKEN_BYTES + 2) return undefined;
  const sigAt = 2 + certLength + RESET_TOKEN_BYTES;
  const sigLength = b.readUInt16BE(sigAt);
  if (sigLength > MAX_SIGNATURE_BYTES || b.length !== sigAt + 2 + sigLength) return undefined;
  return { cert: b.subarray(2, 2 + certLength), token: b.subarray(2 + certLength, sigAt), sig: b.subarray(sigAt + 2) };
}
