import { X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect as tlsConnect, TLSSocket } from 'node:tls';
import test, { type ExecutionContext } from 'ava';
import * as grpc from '@grpc/grpc-js';
import { AetherError } from '../../common/errors.js';
import { MemoryStore } from '../../datanode/memory-store.js';
import { startDatanodeServer } from '../../datanode/service.js';
import { CHANNEL_OPTIONS } from '../../proto/channel-options.js';
import { DataNodeClient, SnapshotsClient, SnapshotsService, type SnapshotsClientType } from '../../proto/load.js';
import { startServer } from '../../proto/server.js';
import { fromServiceError } from '../../proto/status.js';
import { DataNodeConnection } from '../../regional/datanode-connection.js';
import { CertificateSource } from '../../security/certificate-source.js';
import { caFiles, ensureCertificates, nodeFiles, renewCertificates, type CertificateSubjects } from '../../security/certs-dir.js';
import { channelSettings, peerNodeId } from '../../security/transport-security.js';
import { testClientSecurity, testCertsDir, testNodeSecurity } from './fixture.js';

const b = (s: string) => Buffer.from(s, 'utf8');

async function codeOf(p: Promise<unknown>): Promise<string | undefined> {
  return p.then(
    () => undefined,
    (err: unknown) => (err instanceof AetherError ? err.code : `not coded: ${String(err)}`),
  );
}

/** A data node served with mutual TLS to leader `l1`, closed at teardown. */
async function datanode(t: ExecutionContext) {
  const store = new MemoryStore({ origin: 'd1', clock: { maxOffsetMs: 250 } });
  const server = await startDatanodeServer({ address: '127.0.0.1:0', store, security: await testNodeSecurity('d1'), leaders: ['l1'] });
  t.teardown(async () => {
    await server.close(0);
    await store.shutdown();
  });
  return server;
}

/** A DataNodeConnection's first call: the outcome's code, or 'ok'. */
async function firstWrite(t: ExecutionContext, conn: DataNodeConnection): Promise<string> {
  t.teardown(() => conn.shutdown());
  return (await codeOf(conn.put(b('k'), b('v')))) ?? 'ok';
}

test('the leader reaches its data node over mutual TLS', async (t) => {
  const server = await datanode(t);
  t.is(await firstWrite(t, new DataNodeConnection('d1', server.address, await testNodeSecurity('l1'), 5000)), 'ok');
});

test('a plaintext client of a TLS data node is refused with a coded error', async (t) => {
  const server = await datanode(t);
  t.is(await firstWrite(t, new DataNodeConnection('d1', server.address, 'insecure', 2000)), 'UNAVAILABLE');
});

test('a client without a certificate is refused by the data node: TLS', async (t) => {
  const server = await datanode(t);
  const ca = readFileSync(caFiles(await testCertsDir()).cert);
  const raw = new DataNodeClient(server.address, grpc.credentials.createSsl(ca), { ...CHANNEL_OPTIONS, 'grpc.ssl_target_name_override': 'localhost' });
  t.teardown(() => raw.close());
  const err = await new Promise<unknown>((resolve) => raw.StreamState({}, { deadline: Date.now() + 5000 }, (e) => resolve(e)));
  t.is(fromServiceError(err, 'StreamState').code, 'TLS');
});

test('certificates of the CA that name no leader of the region are refused: PEER_REFUSED', async (t) => {
  const server = await datanode(t);
  // The CLI's client certificate, and another node's.
  t.is(await firstWrite(t, new DataNodeConnection('d1', server.address, await testClientSecurity(), 5000)), 'PEER_REFUSED');
  t.is(await firstWrite(t, new DataNodeConnection('d1', server.address, await testNodeSecurity('d2'), 5000)), 'PEER_REFUSED');
});

test('the data node reads a caller\'s certificate once per connection: every call after the first is judged by the same verdict', async (t) => {
  // Counts the server's reads of the callers' certificates (the clients read d1's).
  const reads = new Map<string, number>();
  const getPeerCertificate = TLSSocket.prototype.getPeerCertificate;
  TLSSocket.prototype.getPeerCertificate = function (this: TLSSocket, detailed?: boolean) {
    const cert = getPeerCertificate.call(this, detailed);
    const node = /aetherflow:\/\/node\/([a-z0-9]+)/.exec(cert.subjectaltname ?? '')?.[1];
    if (node !== undefined) reads.set(node, (reads.get(node) ?? 0) + 1);
    return cert;
  } as typeof getPeerCertificate;
  t.teardown(() => {
    TLSSocket.prototype.getPeerCertificate = getPeerCertificate;
  });
  const store = new MemoryStore({ origin: 'd1', clock: { maxOffsetMs: 250 } });
  const server = await startDatanodeServer({ address: '127.0.0.1:0', store, security: await testNodeSecurity('d1'), leaders: ['l7'] });
  t.teardown(async () => {
    await server.close(0);
    await store.shutdown();
  });
  const leader = new DataNodeConnection('d1', server.address, await testNodeSecurity('l7'), 5000);
  const other = new DataNodeConnection('d1', server.address, await testNodeSecurity('d7'), 5000);
  t.teardown(() => {
    leader.shutdown();
    other.shutdown();
  });
  for (let i = 0; i < 3; i++) {
    t.is((await codeOf(leader.put(b(`k${i}`), b('v')))) ?? 'ok', 'ok');
    t.is(await codeOf(other.put(b(`k${i}`), b('v'))), 'PEER_REFUSED');
  }
  t.is(reads.get('l7'), 1);
  t.is(reads.get('d7'), 1);
});

test('a server whose certificate names another node is refused: TLS', async (t) => {
  const server = await datanode(t);
  t.is(await firstWrite(t, new DataNodeConnection('d9', server.address, await testNodeSecurity('l1'), 5000)), 'TLS');
});

test('a TLS client of a plaintext server fails TLS', async (t) => {
  const store = new MemoryStore({ origin: 'd1', clock: { maxOffsetMs: 250 } });
  const server = await startDatanodeServer({ address: '127.0.0.1:0', store, security: 'insecure' });
  t.teardown(async () => {
    await server.close(0);
    await store.shutdown();
  });
  t.is(await firstWrite(t, new DataNodeConnection('d1', server.address, await testNodeSecurity('l1'), 5000)), 'TLS');
});

// Rotation, on a certificates directory of its own (renewal replaces every leaf of it).
const subjects: CertificateSubjects = {
  name: 'rotation',
  regions: [{ leaders: [{ id: 'l1', grpc: '127.0.0.1:1', quantum: '127.0.0.1:2', metrics: '127.0.0.1:3' }], datanodes: [{ id: 'd1', grpc: '127.0.0.1:4', metrics: '127.0.0.1:5' }] }],
  coordinators: [],
  security: { quantumKeyFile: null },
};

async function rotationDir(t: ExecutionContext): Promise<string> {
  const root = mkdtempSync(join(tmpdir(), 'aetherflow-rotation-'));
  t.teardown(() => rmSync(root, { recursive: true, force: true }));
  const dir = join(root, 'certs');
  await ensureCertificates(dir, subjects);
  return dir;
}

/** A source that resolves `reloaded` at its next reload, and records reload errors. */
function watchedSource(t: ExecutionContext, dir: string, owner: ConstructorParameters<typeof CertificateSource>[1]) {
  let reloaded: (serial: string) => void = () => {};
  const errors: string[] = [];
  const source = new CertificateSource(dir, owner, {
    debounceMs: 50,
    onReload: (identity) => reloaded(new X509Certificate(identity.certPem).serialNumber),
    onError: (err) => errors.push(err.code),
  });
  t.teardown(() => source.close());
  return { source, errors, nextReload: () => new Promise<string>((resolve) => (reloaded = resolve)) };
}

/** The serial number of the certificate a TLS server presents to a new connection. */
function presentedSerial(address: string, ca: Buffer): Promise<string> {
  const [host, port] = [address.slice(0, address.lastIndexOf(':')), Number(address.slice(address.lastIndexOf(':') + 1))];
  return new Promise((resolve, reject) => {
    const socket = tlsConnect({ host, port, ca, ALPNProtocols: ['h2'] }, () => {
      resolve(socket.getPeerCertificate().serialNumber);
      socket.destroy();
    });
    socket.on('error', reject);
  });
}

test('renewed certificates are picked up without a restart: the server presents the new one to new connections', async (t) => {
  const dir = await rotationDir(t);
  const { source, nextReload } = watchedSource(t, dir, { node: 'l1' });
  const server = await startServer('127.0.0.1:0', [[SnapshotsService, { Latest: (_c: unknown, cb: grpc.sendUnaryData<unknown>) => cb(null, {}) }]], { security: source });
  t.teardown(() => server.close(0));
  const ca = readFileSync(caFiles(dir).cert);
  const before = await presentedSerial(server.address, ca);
  t.is(before, new X509Certificate(readFileSync(nodeFiles(dir, 'l1').cert)).serialNumber);

  const reloaded = nextReload();
  await renewCertificates(dir, subjects);
  const renewed = new X509Certificate(readFileSync(nodeFiles(dir, 'l1').cert)).serialNumber;
  t.not(renewed, before);
  t.is(await reloaded, renewed);
  t.is(await presentedSerial(server.address, ca), renewed);
});

test('renewed certificates are presented by a client on its next connection', async (t) => {
  const dir = await rotationDir(t);
  const serverSource = new CertificateSource(dir, { node: 'd1' });
  t.teardown(() => serverSource.close());
  const seen: string[] = [];
  const server = await startServer(
    '127.0.0.1:0',
    [
      [
        SnapshotsService,
        {
          Latest: (call: grpc.ServerUnaryCall<unknown, unknown>, cb: grpc.sendUnaryData<unknown>) => {
            seen.push(call.getAuthContext().sslPeerCertificate?.serialNumber ?? 'none');
            t.is(peerNodeId(call.getAuthContext()), 'l1');
            cb(null, {});
          },
        },
      ],
    ],
    { security: serverSource, clientCertificates: 'required', allowPeer: (id) => id === 'l1' },
  );
  t.teardown(() => server.close(0));
  const { source, nextReload } = watchedSource(t, dir, { node: 'l1' });
  const latest = async (): Promise<void> => {
    // A new channel, so a new connection (and handshake).
    const channel = channelSettings(source, server.address, CHANNEL_OPTIONS, 'd1');
    const client = new SnapshotsClient(server.address, channel.credentials, channel.options) as unknown as SnapshotsClientType;
    try {
      await new Promise<void>((resolve, reject) => client.Latest({}, (err) => (err ? reject(fromServiceError(err, 'Latest')) : resolve())));
    } finally {
      client.close();
    }
  };
  await latest();
  const reloaded = nextReload();
  await renewCertificates(dir, subjects);
  const renewed = await reloaded;
  // The server's own source has not been told (no watch wait): it still accepts, as the CA is the same.
  await latest();
  t.is(seen.length, 2);
  t.not(seen[0], seen[1]);
  t.is(seen[1], renewed);
});

test('files that do not load after a change leave the identity in use, and the error is reported', async (t) => {
  const dir = await rotationDir(t);
  const { source, errors } = watchedSource(t, dir, { node: 'l1' });
  const before = source.identity();
  writeFileSync(nodeFiles(dir, 'l1').cert, 'half written');
  t.false(source.reload());
  t.deepEqual(errors.slice(0, 1), ['CERTIFICATE']);
  t.is(source.identity(), before);
});

test('a source of missing certificates fails CERTIFICATE when made', async (t) => {
  const dir = await rotationDir(t);
  const err = t.throws(() => new CertificateSource(dir, { node: 'nobody' }));
  t.is((err as AetherError).code, 'CERTIFICATE');
});
