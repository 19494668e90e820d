import * as grpc from '@grpc/grpc-js';
import { AetherError, isErrorCode, toAetherError, type ErrorCode } from '../common/errors.js';

/** Trailing metadata keys that carry an AetherError across gRPC. */
export const CODE_KEY = 'aetherflow-code';
/** Binary (`-bin`) so details with any characters pass. */
export const DETAILS_KEY = 'aetherflow-details-bin';
/** On NOT_LEADER: the elected leader's grpc address, when the standby knows it. */
export const LEADER_KEY = 'aetherflow-leader';

/**
 * The status a server answers for an error: the AetherError's gRPC status, its code at the
 * start of the message (the public API puts a code in the message) and in the metadata, so the
 * client rebuilds the same AetherError.
 */
export function toServiceError(err: unknown): grpc.StatusObject {
  const e = toAetherError(err);
  const metadata = new grpc.Metadata();
  metadata.set(CODE_KEY, e.code);
  if (Object.keys(e.details).length > 0) metadata.set(DETAILS_KEY, Buffer.from(JSON.stringify(e.details, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v)), 'utf8'));
  const leader = e.details['leader'];
  if (typeof leader === 'string') metadata.set(LEADER_KEY, leader);
  return { code: e.grpcStatus, details: `${e.code}: ${e.message}`, metadata };
}

/**
 * The nearest code of a status that carries none (the server sent no AetherError). gRPC
 * itself answers RESOURCE_EXHAUSTED only for a message over a size limit: ours always
 * carry a code (TOO_MANY_REQUESTS, BACKPRESSURE).
 */
const byStatus: Partial<Record<number, ErrorCode>> = {
  [grpc.status.RESOURCE_EXHAUSTED]: 'MESSAGE_TOO_LARGE',
  [grpc.status.UNAVAILABLE]: 'UNAVAILABLE',
  [grpc.status.DEADLINE_EXCEEDED]: 'TIMEOUT',
  [grpc.status.INVALID_ARGUMENT]: 'INVALID_ARGUMENT',
  [grpc.status.CANCELLED]: 'CONNECTION_CLOSED',
};

/**
 * How grpc-js words a call it failed before sending anything: no connection to pick, or the
 * channel closed first. Any other transport failure may come after the server got the call.
 */
const NEVER_SENT = ['No connection established', 'Channel closed before call started'];

/**
 * How a failed TLS handshake reaches a call: OpenSSL's reason ("SSL routines", a TLS
 * alert such as "certificate required", "wrong version number" when the server speaks
 * plaintext) or Node's certificate checks (ERR_TLS_*, "self-signed", the identity check
 * of security/transport-security.ts). A plaintext client of a TLS server cannot tell:
 * it only sees the connection fail (UNAVAILABLE).
 */
const TLS_FAILURE = /SSL routines|ERR_TLS_|alert|certificate|self[- ]signed|wrong version number|unable to (get|verify)/i;

/** Rebuilds the AetherError a server sent; a plain gRPC failure (no server, deadline) gets the nearest code. */
export function fromServiceError(err: unknown, context: string): AetherError {
  if (err instanceof AetherError) return err;
  const se = err as Partial<grpc.ServiceError>;
  if (typeof se.code !== 'number') return toAetherError(err, 'INTERNAL', context);
  const sent = se.metadata?.get(CODE_KEY)[0];
  const details: Record<string, unknown> = {};
  const rawDetails = se.metadata?.get(DETAILS_KEY)[0];
  if (Buffer.isBuffer(rawDetails)) {
    try {
      Object.assign(details, JSON.parse(rawDetails.toString('utf8')) as Record<string, unknown>);
    } catch {
      // Details are informative only; a garbled copy is dropped.
    }
  }
  const leader = se.metadata?.get(LEADER_KEY)[0];
  if (typeof leader === 'string') details['leader'] = leader;
  details['grpcStatus'] = se.code;
  const text = se.details ?? se.message ?? '';
  if (typeof sent === 'string' && isErrorCode(sent)) {
    const prefix = `${sent}: `;
    return new AetherError(sent, text.startsWith(prefix) ? text.slice(prefix.length) : text, { cause: err, details });
  }
  // Only a call that never left this process is known not to have been served.
  if (se.code === grpc.status.UNAVAILABLE && NEVER_SENT.some((p) => text.startsWith(p))) details['neverSent'] = true;
  const code = se.code === grpc.status.UNAVAILABLE && TLS_FAILURE.test(text) ? 'TLS' : (byStatus[se.code] ?? 'INTERNAL');
  return new AetherError(code, `${context}: ${text}`, { cause: err, details });
}
