import { AetherError } from '../common/errors.js';

/**
 * The version of AetherFlow's protocols between its processes (docs/architecture.md "Versions
 * on the wire"): gRPC calls, the Quantum handshake and the stream envelopes carry it, and a
 * process refuses a peer of another version rather than misread it. v1 was the
 * round-based pipeline, v2 the continuous streams. One number for all of them: a
 * deployment runs one build.
 */
export const PROTOCOL_VERSION = 2;

/** gRPC request metadata carrying the caller's PROTOCOL_VERSION (decimal). */
export const PROTOCOL_METADATA_KEY = 'aetherflow-protocol';

/**
 * The refusal of a peer speaking `theirs` (undefined: it sent no version), or undefined
 * when it speaks `ours`. `peer` says who, for the message.
 */
export function protocolRefusal(ours: number, theirs: number | undefined, peer: string): AetherError | undefined {
  if (theirs === ours) return undefined;
  const spoken = theirs === undefined ? 'sent no protocol version' : `speaks protocol version ${theirs}`;
  return new AetherError('PROTOCOL_VERSION', `${peer} ${spoken}, this process speaks protocol version ${ours}: run the same AetherFlow version on both sides`, {
    details: { ours, theirs: theirs ?? null },
  });
}
