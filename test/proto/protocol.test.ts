import test from 'ava';
import * as grpc from '@grpc/grpc-js';
import { CHANNEL_OPTIONS } from '../../proto/channel-options.js';
import { SnapshotsClient, SnapshotsService, type SnapshotsClientType } from '../../proto/load.js';
import { PROTOCOL_METADATA_KEY, protocolRefusal } from '../../proto/protocol.js';
import { startServer } from '../../proto/server.js';
import { fromServiceError } from '../../proto/status.js';

// Every gRPC call carries the protocol version (docs/architecture.md "Versions on the wire"): clients
// built with CHANNEL_OPTIONS send it, servers refuse a call without it or with another.
// The check is a call interceptor, the same over TLS or plaintext: these tests use plaintext.

/** A client whose calls carry `version` as their protocol (undefined: no metadata at all). */
function clientWith(address: string, version: string | undefined): SnapshotsClientType {
  const interceptors: grpc.Interceptor[] =
    version === undefined
      ? []
      : [
          (options, nextCall) =>
            new grpc.InterceptingCall(nextCall(options), {
              start: (metadata, listener, next) => {
                metadata.set(PROTOCOL_METADATA_KEY, version);
                next(metadata, listener);
              },
            }),
        ];
  return new SnapshotsClient(address, grpc.credentials.createInsecure(), { interceptors }) as unknown as SnapshotsClientType;
}

async function snapshotsServer(options: { requireProtocolVersion?: boolean } = {}) {
  const calls = { unary: 0, stream: 0 };
  const server = await startServer('127.0.0.1:0', [
    [
      SnapshotsService,
      {
        Latest: (_call: unknown, cb: grpc.sendUnaryData<unknown>) => {
          calls.unary++;
          cb(null, { members: ['r1'] });
        },
        List: (_call: unknown, cb: grpc.sendUnaryData<unknown>) => cb(null, { snapshots: [] }),
        Watch: (call: grpc.ServerWritableStream<unknown, unknown>) => {
          calls.stream++;
          call.write({ members: ['r1'] });
          call.end();
        },
      },
    ],
  ], { security: 'insecure', ...options });
  return { server, calls };
}

function latest(c: SnapshotsClientType): Promise<{ ok: true } | { ok: false; err: grpc.ServiceError }> {
  return new Promise((resolve) => c.Latest({}, (err) => resolve(err ? { ok: false, err } : { ok: true })));
}

function watch(c: SnapshotsClientType): Promise<{ ok: true; n: number } | { ok: false; err: grpc.ServiceError }> {
  return new Promise((resolve) => {
    let n = 0;
    const s = c.Watch({});
    s.on('data', () => n++);
    s.on('error', (err: grpc.ServiceError) => resolve({ ok: false, err }));
    s.on('end', () => resolve({ ok: true, n }));
  });
}

test('a call without the protocol metadata, or with another version, is refused PROTOCOL_VERSION before any handler runs', async (t) => {
  const { server, calls } = await snapshotsServer();
  t.teardown(() => server.close(0));
  for (const version of [undefined, '1', '3', 'two', '']) {
    const c = clientWith(server.address, version);
    const r = await latest(c);
    t.false(r.ok, `version ${version}`);
    if (!r.ok) {
      t.is(r.err.code, grpc.status.FAILED_PRECONDITION);
      t.is(fromServiceError(r.err, 'Latest').code, 'PROTOCOL_VERSION');
    }
    const w = await watch(c);
    t.false(w.ok, `version ${version}, streaming`);
    if (!w.ok) t.is(fromServiceError(w.err, 'Watch').code, 'PROTOCOL_VERSION');
    c.close();
  }
  t.deepEqual(calls, { unary: 0, stream: 0 });
});

test('a client built with CHANNEL_OPTIONS speaks the protocol: unary and streaming calls are served', async (t) => {
  const { server, calls } = await snapshotsServer();
  t.teardown(() => server.close(0));
  const c = new SnapshotsClient(server.address, grpc.credentials.createInsecure(), CHANNEL_OPTIONS) as unknown as SnapshotsClientType;
  t.teardown(() => c.close());
  t.deepEqual(await latest(c), { ok: true });
  t.deepEqual(await watch(c), { ok: true, n: 1 });
  t.deepEqual(calls, { unary: 1, stream: 1 });
});

test('the refusal names both versions in its details', (t) => {
  t.is(protocolRefusal(2, 2, 'peer'), undefined);
  const e = protocolRefusal(2, 1, 'peer');
  t.is(e?.code, 'PROTOCOL_VERSION');
  t.deepEqual(e?.details, { ours: 2, theirs: 1 });
  t.deepEqual(protocolRefusal(2, undefined, 'peer')?.details, { ours: 2, theirs: null });
});

test('the public API serves a client that sends no protocol version (grpcurl, other languages) and still refuses another version', async (t) => {
  const { server, calls } = await snapshotsServer({ requireProtocolVersion: false });
  t.teardown(() => server.close(0));
  const plain = clientWith(server.address, undefined);
  t.true((await latest(plain)).ok);
  plain.close();
  const old = clientWith(server.address, '1');
  const r = await latest(old);
  t.false(r.ok);
  if (!r.ok) t.is(fromServiceError(r.err, 'Latest').code, 'PROTOCOL_VERSION');
  old.close();
  t.is(calls.unary, 1);
});
