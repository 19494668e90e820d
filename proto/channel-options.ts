import type { ChannelOptions } from '@grpc/grpc-js';
import { MAX_MESSAGE_BYTES } from './server.js';

/**
 * Options of the deployment's gRPC client channels (leader → data node, client → leader).
 * grpc-js waits 1 s before reconnecting and backs off ×1.6 up to 120 s: a data node
 * restarted after a SIGKILL answered again within about a second, but its leader's
 * channel stayed in TRANSIENT_FAILURE some 8 s more, and the region could neither rejoin
 * nor finish a round meanwhile. A reconnect attempt to a peer on the same network is
 * cheap: start at 100 ms, never wait more than a second.
 */
export const CHANNEL_OPTIONS: ChannelOptions = {
  'grpc.max_receive_message_length': MAX_MESSAGE_BYTES,
  'grpc.max_send_message_length': MAX_MESSAGE_BYTES,
  'grpc.initial_reconnect_backoff_ms': 100,
  'grpc.max_reconnect_backoff_ms': 1000,
};
