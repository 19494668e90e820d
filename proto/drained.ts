import type * as grpc from '@grpc/grpc-js';

/** Resolves true once a server stream's buffer drained, false if the call was cancelled first (so a waiter never hangs on a gone client). */
export function drained(call: grpc.ServerWritableStream<unknown, unknown>): Promise<boolean> {
  return new Promise((resolve) => {
    const settle = (ok: boolean) => () => {
      call.off('drain', onDrain);
      call.off('cancelled', onCancel);
      resolve(ok);
    };
    const onDrain = settle(true);
    const onCancel = settle(false);
    call.once('drain', onDrain);
    call.once('cancelled', onCancel);
  });
}
