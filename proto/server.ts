import * as grpc from '@grpc/grpc-js';
import { AetherError } from '../common/errors.js';
import { PROTOCOL_METADATA_KEY, PROTOCOL_VERSION, protocolRefusal } from './protocol.js';
import { toServiceError } from './status.js';

/** A running gRPC server: where it listens, and how to stop it. */
export interface ServerHandle {
  /** host:port actually bound (the real port when 0 was asked). */
  readonly address: string;
  readonly port: number;
  /** Graceful stop, then forced after `graceMs`. */
  close(graceMs?: number): Promise<void>;
}

/** Bounds what one message may carry: a 1 MiB value plus its key and framing, with room for deltas. */
export const MAX_MESSAGE_BYTES = 64 * 1024 * 1024;

/** The caller's protocol version from its metadata; undefined when absent or not a plain decimal. */
function callerVersion(metadata: grpc.Metadata): number | undefined {
  const v = metadata.get(PROTOCOL_METADATA_KEY)[0];
  return typeof v === 'string' && /^[0-9]{1,9}$/.test(v) ? Number(v) : undefined;
}

/**
 * Refuses, before any handler runs, a call whose metadata carries another protocol
 * version than this build's (DESIGN "Versions on the wire"): FAILED_PRECONDITION, code
 * PROTOCOL_VERSION. Clients built with CHANNEL_OPTIONS send it. With `required`, a call
 * without one is refused too (the services between AetherFlow's own processes); the
 * public API serves clients that are not ours (grpcurl, other languages), which send none.
 */
function protocolCheck(required: boolean): grpc.ServerInterceptor {
  return (_method, call) =>
    new grpc.ServerInterceptingCall(call, {
      start: (next) =>
        next({
          onReceiveMetadata: (metadata, nextMetadata) => {
            const theirs = callerVersion(metadata);
            const refusal = theirs === undefined && !required ? undefined : protocolRefusal(PROTOCOL_VERSION, theirs, `the client at ${call.getPeer()}`);
            if (refusal === undefined) nextMetadata(metadata);
            else call.sendStatus(toServiceError(refusal));
          },
        }),
    });
}

export interface ServerOptions {
  /** Refuse calls that carry no protocol version (internal services). Default true. */
  readonly requireProtocolVersion?: boolean;
  /** Largest message received and sent (default MAX_MESSAGE_BYTES; the public API's are smaller, regional/api-limits.ts). */
  readonly maxReceiveMessageBytes?: number;
  readonly maxSendMessageBytes?: number;
}

/** Binds a gRPC server with the given services on `address` (insecure: intra-deployment traffic on a trusted network). */
export async function startServer(address: string, services: readonly [grpc.ServiceDefinition, grpc.UntypedServiceImplementation][], options: ServerOptions = {}): Promise<ServerHandle> {
  const server = new grpc.Server({
    'grpc.max_receive_message_length': options.maxReceiveMessageBytes ?? MAX_MESSAGE_BYTES,
    'grpc.max_send_message_length': options.maxSendMessageBytes ?? MAX_MESSAGE_BYTES,
    interceptors: [protocolCheck(options.requireProtocolVersion ?? true)],
  });
  for (const [definition, impl] of services) server.addService(definition, impl);
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync(address, grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(new AetherError('UNAVAILABLE', `cannot listen on ${address}: ${err.message}`, { cause: err })) : resolve(p))),
  );
  const host = address.slice(0, address.lastIndexOf(':'));
  return {
    address: `${host}:${port}`,
    port,
    close: (graceMs = 1000) =>
      new Promise<void>((resolve) => {
        const force = setTimeout(() => server.forceShutdown(), graceMs);
        server.tryShutdown(() => {
          clearTimeout(force);
          resolve();
        });
      }),
  };
}
