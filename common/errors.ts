/**
 * Every error AetherFlow raises on purpose is an `AetherError` with a stable `code`.
 * Tests and callers branch on `code`, never on `message`. Foreign errors (LevelDB,
 * gRPC, etcd) are wrapped at the boundary with the original kept as `cause`.
 *
 * Each code carries two facts the boundaries need: the gRPC status it maps to on the
 * wire, and whether it is the caller's fault (CLI exit 2) or a runtime failure (exit 1).
 */

/** gRPC status codes (numeric values from the gRPC spec; kept here so common/ has no grpc dependency). */
export const GrpcStatus = {
  CANCELLED: 1,
  UNKNOWN: 2,
  INVALID_ARGUMENT: 3,
  DEADLINE_EXCEEDED: 4,
  NOT_FOUND: 5,
  ALREADY_EXISTS: 6,
  PERMISSION_DENIED: 7,
  FAILED_PRECONDITION: 9,
  RESOURCE_EXHAUSTED: 8,
  ABORTED: 10,
  OUT_OF_RANGE: 11,
  UNIMPLEMENTED: 12,
  INTERNAL: 13,
  UNAVAILABLE: 14,
  DATA_LOSS: 15,
} as const;
export type GrpcStatusCode = (typeof GrpcStatus)[keyof typeof GrpcStatus];

interface CodeInfo {
  readonly grpc: GrpcStatusCode;
  /** true when the caller sent something wrong: CLI exit 2, never retried. */
  readonly input: boolean;
}

const codes = {
  // input
  USAGE: { grpc: GrpcStatus.INVALID_ARGUMENT, input: true },
  GLT_PARSE: { grpc: GrpcStatus.INVALID_ARGUMENT, input: true },
  INVALID_ARGUMENT: { grpc: GrpcStatus.INVALID_ARGUMENT, input: true },
  KEY_TOO_LARGE: { grpc: GrpcStatus.INVALID_ARGUMENT, input: true },
  VALUE_TOO_LARGE: { grpc: GrpcStatus.INVALID_ARGUMENT, input: true },
  UNKNOWN_REGION: { grpc: GrpcStatus.INVALID_ARGUMENT, input: true },
  UNKNOWN_ID: { grpc: GrpcStatus.INVALID_ARGUMENT, input: true },
  TOPOLOGY_INVALID: { grpc: GrpcStatus.INVALID_ARGUMENT, input: true },
  /** A fault the running deployment cannot take (e.g. killing the etcd leader of a 1-member etcd). */
  CHAOS_REFUSED: { grpc: GrpcStatus.FAILED_PRECONDITION, input: true },
  // clock and snapshots
  CLOCK_OFFSET: { grpc: GrpcStatus.FAILED_PRECONDITION, input: false },
  SNAPSHOT_COLLECTED: { grpc: GrpcStatus.OUT_OF_RANGE, input: false },
  SNAPSHOT_NOT_READY: { grpc: GrpcStatus.FAILED_PRECONDITION, input: false },
  STALE_EPOCH: { grpc: GrpcStatus.FAILED_PRECONDITION, input: false },
  FENCED: { grpc: GrpcStatus.ABORTED, input: false },
  /** A leader's membership rules are older than the rules the record still keeps: it cannot catch up on them alone. */
  MEMBERSHIP_GAP: { grpc: GrpcStatus.FAILED_PRECONDITION, input: false },
  /** A write waited for the region's own stream to catch up and gave up (docs/architecture.md "The snapshot pipeline"); retry later. */
  BACKPRESSURE: { grpc: GrpcStatus.RESOURCE_EXHAUSTED, input: false },
  /** A client connection (or all of them together) has as many waiting reads, scans or watches open as the public API allows; retry when one ends. */
  TOO_MANY_REQUESTS: { grpc: GrpcStatus.RESOURCE_EXHAUSTED, input: false },
  // store and codecs
  DELTA_CORRUPT: { grpc: GrpcStatus.DATA_LOSS, input: false },
  STORE_CLOSED: { grpc: GrpcStatus.UNAVAILABLE, input: false },
  STORE_IO: { grpc: GrpcStatus.INTERNAL, input: false },
  /** A data dir of a layout this build neither reads nor migrates. */
  STORE_FORMAT: { grpc: GrpcStatus.FAILED_PRECONDITION, input: false },
  // transport and control plane
  NOT_LEADER: { grpc: GrpcStatus.UNAVAILABLE, input: false },
  UNAVAILABLE: { grpc: GrpcStatus.UNAVAILABLE, input: false },
  TIMEOUT: { grpc: GrpcStatus.DEADLINE_EXCEEDED, input: false },
  CONNECTION_CLOSED: { grpc: GrpcStatus.UNAVAILABLE, input: false },
  CONNECTION_RESET: { grpc: GrpcStatus.UNAVAILABLE, input: false },
  /** A Quantum peer failed the handshake: a certificate not from the CA, expired or naming another node, or a bad transcript signature. */
  PEER_AUTHENTICATION: { grpc: GrpcStatus.UNAVAILABLE, input: false },
  /** A write's call failed after it may have reached the leader: it may or may not have been applied. */
  OUTCOME_UNKNOWN: { grpc: GrpcStatus.UNAVAILABLE, input: false },
  MESSAGE_TOO_LARGE: { grpc: GrpcStatus.INVALID_ARGUMENT, input: true },
  BUFFER_FULL: { grpc: GrpcStatus.UNAVAILABLE, input: false },
  ETCD: { grpc: GrpcStatus.UNAVAILABLE, input: false },
  /** The peer speaks another protocol version (gRPC metadata, Quantum handshake). */
  PROTOCOL_VERSION: { grpc: GrpcStatus.FAILED_PRECONDITION, input: false },
  /** A certificate, key or pre-shared key file is missing, unreadable, invalid, expired or not signed by the CA. */
  CERTIFICATE: { grpc: GrpcStatus.FAILED_PRECONDITION, input: true },
  /** A TLS handshake failed: a plaintext peer, a certificate the other side does not trust, or none where one is required. */
  TLS: { grpc: GrpcStatus.UNAVAILABLE, input: false },
  /** The peer proved an identity (mutual TLS) that may not call this service. */
  PEER_REFUSED: { grpc: GrpcStatus.PERMISSION_DENIED, input: false },
  PROCESS: { grpc: GrpcStatus.INTERNAL, input: false },
  /** The plotting packages (devDependencies vega, vega-lite, @resvg/resvg-js) are not installed: `bench all` draws no plot. */
  PLOT_UNAVAILABLE: { grpc: GrpcStatus.FAILED_PRECONDITION, input: false },
  INTERNAL: { grpc: GrpcStatus.INTERNAL, input: false },
} as const satisfies Record<string, CodeInfo>;

export type ErrorCode = keyof typeof codes;

export function isErrorCode(s: string): s is ErrorCode {
  return Object.hasOwn(codes, s);
}

export class AetherError extends Error {
  readonly code: ErrorCode;
  /** Structured facts for logs and JSON output; never parsed from `message`. */
  readonly details: Readonly<Record<string, unknown>>;

  constructor(code: ErrorCode, message: string, options: { cause?: unknown; details?: Record<string, unknown> } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    this.details = options.details ?? {};
  }

  get grpcStatus(): GrpcStatusCode {
    return codes[this.code].grpc;
  }

  /** True when the caller sent something wrong (CLI exit 2); false for runtime failures (exit 1). */
  get isInputError(): boolean {
    return codes[this.code].input;
  }
}

export class GltParseError extends AetherError {
  constructor(input: string, why: string) {
    super('GLT_PARSE', `invalid GLT ${JSON.stringify(input)}: ${why} (expected <wall ns>.<logical>, e.g. 1763751000123456789.3, or "latest")`, {
      details: { input },
    });
  }
}

export class ClockOffsetError extends AetherError {
  constructor(aheadNs: bigint, maxOffsetNs: bigint) {
    super(
      'CLOCK_OFFSET',
      `remote timestamp is ${Number(aheadNs) / 1e6} ms ahead of the physical clock, more than maxOffset ${Number(maxOffsetNs) / 1e6} ms`,
      { details: { aheadNs: aheadNs.toString(), maxOffsetNs: maxOffsetNs.toString() } },
    );
  }
}

export class SnapshotCollectedError extends AetherError {
  constructor(glt: string, horizon: string) {
    super('SNAPSHOT_COLLECTED', `snapshot ${glt} is below the GC horizon ${horizon}; its versions were collected`, {
      details: { glt, horizon },
    });
  }
}

export class SnapshotNotReadyError extends AetherError {
  constructor(glt: string, frontier: string, waitedMs: number) {
    super('SNAPSHOT_NOT_READY', `snapshot ${glt} is above the region's frontier ${frontier} (waited ${waitedMs} ms)`, {
      details: { glt, frontier, waitedMs },
    });
  }
}

export class DeltaCorruptError extends AetherError {
  constructor(why: string, cause?: unknown) {
    super('DELTA_CORRUPT', `delta rejected: ${why}`, { cause });
  }
}

export class StoreIoError extends AetherError {
  constructor(op: string, cause: unknown) {
    super('STORE_IO', `store ${op} failed: ${cause instanceof Error ? cause.message : String(cause)}`, { cause });
  }
}

/**
 * An invariant the code relies on does not hold. This is a bug, never an operating
 * error: it is not an AetherError, is never mapped to a status, and must not be caught
 * to carry on.
 */
export class AssertionFailure extends Error {
  constructor(message: string) {
    super(`assertion failed: ${message}`);
    this.name = 'AssertionFailure';
  }
}

export function assert(condition: unknown, message: string | (() => string)): asserts condition {
  if (!condition) throw new AssertionFailure(typeof message === 'string' ? message : message());
}

/** Wraps anything thrown into an AetherError, keeping AetherErrors as they are. */
export function toAetherError(err: unknown, code: ErrorCode = 'INTERNAL', context?: string): AetherError {
  if (err instanceof AetherError) return err;
  const msg = err instanceof Error ? err.message : String(err);
  return new AetherError(code, context ? `${context}: ${msg}` : msg, { cause: err });
}
