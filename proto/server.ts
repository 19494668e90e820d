import * as grpc from '@grpc/grpc-js';
import { AetherError } from '../common/errors.js';

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

/** Binds a gRPC server with the given services on `address` (insecure: intra-deployment traffic on a trusted network). */
export async function startServer(address: string, services: readonly [grpc.ServiceDefinition, grpc.UntypedServiceImplementation][]): Promise<ServerHandle> {
  const server = new grpc.Server({ 'grpc.max_receive_message_length': MAX_MESSAGE_BYTES, 'grpc.max_send_message_length': MAX_MESSAGE_BYTES });
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
