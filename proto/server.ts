import * as grpc from '@grpc/grpc-js';
import { AetherError } from '../common/errors.js';
import { callPeerNodeId, serverCredentials, type TransportSecurity } from '../security/transport-security.js';
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
 * version than this build's (docs/architecture.md "Versions on the wire"): FAILED_PRECONDITION, code
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

/**
 * Refuses a call whose client certificate does not name a node `allowed` accepts
 * (PEER_REFUSED): mutual TLS proves the peer holds a certificate of the CA; this checks
 * it is one of the nodes meant to call — a data node serves its region's leaders, not
 * the CLI's client certificate. The first interceptor, so that `call` is grpc-js's own
 * and the certificate is read once per connection (callPeerNodeId).
 */
function peerCheck(allowed: (nodeId: string) => boolean): grpc.ServerInterceptor {
  return (_method, call) =>
    new grpc.ServerInterceptingCall(call, {
      start: (next) =>
        next({
          onReceiveMetadata: (metadata, nextMetadata) => {
            const id = callPeerNodeId(call);
            if (id !== undefined && allowed(id)) nextMetadata(metadata);
            else call.sendStatus(toServiceError(new AetherError('PEER_REFUSED', `the client at ${call.getPeer()} presents ${id === undefined ? 'no node certificate' : `the certificate of node ${id}`}, which may not call this service`)));
          },
        }),
    });
}

export interface ServerOptions {
  /** TLS with this process's certificate, or plaintext ('insecure'). */
  readonly security: TransportSecurity;
  /** 'required': mutual TLS, the client presents a certificate of the CA. Default 'not-requested'. */
  readonly clientCertificates?: 'required' | 'not-requested';
  /** With client certificates required: which node ids may call (default: any certificate of the CA). */
  readonly allowPeer?: (nodeId: string) => boolean;
  /** Refuse calls that carry no protocol version (internal services). Default true. */
  readonly requireProtocolVersion?: boolean;
  /** Largest message received and sent (default MAX_MESSAGE_BYTES; the public API's are smaller, regional/api-limits.ts). */
  readonly maxReceiveMessageBytes?: number;
  readonly maxSendMessageBytes?: number;
}

/** Binds a gRPC server with the given services on `address`; with TLS unless `security` is 'insecure'. */
export async function startServer(address: string, services: readonly [grpc.ServiceDefinition, grpc.UntypedServiceImplementation][], options: ServerOptions): Promise<ServerHandle> {
  const clientCertificates = options.clientCertificates ?? 'not-requested';
  const checkPeer = options.security !== 'insecure' && clientCertificates === 'required' && options.allowPeer !== undefined;
  const server = new grpc.Server({
    'grpc.max_receive_message_length': options.maxReceiveMessageBytes ?? MAX_MESSAGE_BYTES,
    'grpc.max_send_message_length': options.maxSendMessageBytes ?? MAX_MESSAGE_BYTES,
    interceptors: [...(checkPeer ? [peerCheck(options.allowPeer!)] : []), protocolCheck(options.requireProtocolVersion ?? true)],
  });
  for (const [definition, impl] of services) server.addService(definition, impl);
  const credentials = serverCredentials(options.security, clientCertificates);
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync(address, credentials, (err, p) => (err ? reject(new AetherError('UNAVAILABLE', `cannot listen on ${address}: ${err.message}`, { cause: err })) : resolve(p))),
  );
  const host = address.slice(0, address.lastIndexOf(':'));
  return {
    address: `${host}:${port}`,
    port,
    close: (graceMs = 1000) =>
      new Promise<void>((resolve) => {
        // forceShutdown does not always run tryShutdown's callback (seen after a TLS client
        // reached a plaintext server): resolve here too, so close() always ends.
        const force = setTimeout(() => {
          server.forceShutdown();
          resolve();
        }, graceMs);
        server.tryShutdown(() => {
          clearTimeout(force);
          resolve();
        });
      }),
  };
}
