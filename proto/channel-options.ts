import * as grpc from '@grpc/grpc-js';
import { PROTOCOL_METADATA_KEY, PROTOCOL_VERSION } from './protocol.js';
import { MAX_MESSAGE_BYTES } from './server.js';

/** Adds this build's protocol version to every call's metadata; servers refuse a call without it (proto/server.ts). */
export const protocolInterceptor: grpc.Interceptor = (options, nextCall) =>
  new grpc.InterceptingCall(nextCall(options), {
    start: (metadata, listener, next) => {
      metadata.set(PROTOCOL_METADATA_KEY, String(PROTOCOL_VERSION));
      next(metadata, listener);
    },
  });

/**
 * Options of the deployment's gRPC clients (leader → data node, client → leader), the
 * protocol interceptor included: a client built with them speaks a version servers accept.
 * grpc-js waits 1 s before reconnecting and backs off ×1.6 up to 120 s: in a drill, a
 * data node SIGKILLed and restarted (ready after 6 s) was still refused by its leader's
 * channel 2 s after it was ready, and the region applied nothing meanwhile; with
 * these options 0.7 s. A reconnect attempt to a peer on the same network is cheap: start
 * at 100 ms, never wait more than a second.
 */
export const CHANNEL_OPTIONS: grpc.ClientOptions = {
  'grpc.max_receive_message_length': MAX_MESSAGE_BYTES,
  'grpc.max_send_message_length': MAX_MESSAGE_BYTES,
  'grpc.initial_reconnect_backoff_ms': 100,
  'grpc.max_reconnect_backoff_ms': 1000,
  interceptors: [protocolInterceptor],
};
