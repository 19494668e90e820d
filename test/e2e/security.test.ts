import test from 'ava';
import { execFile } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect as tlsConnect } from 'node:tls';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import * as grpc from '@grpc/grpc-js';
import { connect } from '../../client/client.js';
import { AetherError } from '../../common/errors.js';
import { CHANNEL_OPTIONS } from '../../proto/channel-options.js';
import { DataNodeClient, KvClient, type KVClient } from '../../proto/load.js';
import { fromServiceError } from '../../proto/status.js';
import { DataNodeConnection } from '../../regional/datanode-connection.js';
import { CertificateSource } from '../../security/certificate-source.js';
import { caFiles, nodeFiles, topologyCertsDir } from '../../security/certs-dir.js';
import { loadTopology } from '../../topology/load.js';
import { processAlive } from '../../topology/supervisor.js';
import { eventually } from '../cluster/etcd-fixture.js';
import { copyLocalTopology } from './topology-copy.js';
import { readyPid as readyPidOf, removeDeployment, startUp } from './deployment.js';

// A deployment as `up` runs it by default (from dist/): secure. `up` makes the
// certificates; clients with them are served; a plaintext client and clients without
// the right certificate are refused with coded errors; renewed certificates are picked
// up by the running processes.

const CLI = fileURLToPath(new URL('../../dist/cli/main.js', import.meta.url));
const NAME = 'sec';
const run = promisify(execFile);

async function codeOf(p: Promise<unknown>): Promise<string | undefined> {
  return p.then(
    () => undefined,
    (err: unknown) => (err instanceof AetherError ? err.code : `not coded: ${String(err)}`),
  );
}

/** The serial number of the certificate the TLS server at host:port presents to a new connection. */
function presentedSerial(address: string, ca: Buffer): Promise<string> {
  const i = address.lastIndexOf(':');
  return new Promise((resolve, reject) => {
    const socket = tlsConnect({ host: address.slice(0, i), port: Number(address.slice(i + 1)), ca, ALPNProtocols: ['h2'] }, () => {
      resolve(socket.getPeerCertificate().serialNumber);
      socket.destroy();
    });
    socket.on('error', reject);
  });
}

const serialOf = (file: string): string => new X509Certificate(readFileSync(file)).serialNumber;

test('up runs secure by default: certificates made, plaintext and certificate-less clients refused, renewals picked up', async (t) => {
  t.timeout(240_000);
  const dir = mkdtempSync(join(tmpdir(), 'aetherflow-e2e-sec-'));
  const topologyFile = await copyLocalTopology(dir, NAME, { intervalMs: 200, budgetMs: 200, silenceMs: 10_000, lagLimitMs: 20_000 });
  const topology = loadTopology(topologyFile);
  t.false(topology.security.insecure);
  const { up, events } = startUp(dir, topologyFile);
  const closers: (() => void)[] = [];
  t.teardown(async () => {
    for (const close of closers) close();
    await removeDeployment(up, dir);
  });

  // `up` made the CA, every node's certificate, the client's and the Quantum key.
  const certsDir = topologyCertsDir(topology);
  const made = await eventually(() => events.find((e) => e.event === 'certificates'), 30_000, 'certificates');
  for (const file of [caFiles(certsDir).key, nodeFiles(certsDir, 'us-east-d1').cert, join(certsDir, 'client.crt'), join(certsDir, 'quantum.key')]) t.true(made.created!.includes(file), file);
  const ids = [...topology.regions.flatMap((r) => [...r.leaders, ...r.datanodes]), ...topology.coordinators].map((p) => p.id);
  const readyPid = (id: string) => readyPidOf(events, id);
  await eventually(() => (ids.every((id) => readyPid(id) !== undefined) ? true : undefined), 90_000, 'every process ready');

  // A client with the certificates (the topology's certsDir) is served, through the API and the CLI.
  const client = connect({ topologyFile });
  closers.push(() => client.close());
  const w = await client.put('sec:a', 'alpha', { region: 'us-east' });
  t.is((await client.get('sec:a', { region: 'us-east', minGlt: w.ts, waitMs: 5000 })).value?.toString(), 'alpha');
  const put = await run(process.execPath, [CLI, 'put', 'sec:b', 'beta', '--region', 'eu-west', '--topology', topologyFile, '--json'], { cwd: dir });
  t.regex(put.stdout, /"origin":"eu-west-d/);
  const noCerts = await run(process.execPath, [CLI, 'get', 'sec:b', '--region', 'eu-west', '--topology', topologyFile, '--certs-dir', join(dir, 'none'), '--json'], { cwd: dir }).then(
    () => undefined,
    (err: { code: number; stderr: string }) => err,
  );
  t.is(noCerts?.code, 2);
  t.regex(noCerts?.stderr ?? '', /"code":"CERTIFICATE"/);

  // A plaintext client of the public API: refused, coded.
  const plaintext = connect({ topology: { ...topology, security: { ...topology.security, insecure: true } }, etcd: false, retry: { deadlineMs: 1000 } });
  closers.push(() => plaintext.close());
  t.is(await codeOf(plaintext.get('sec:a', { region: 'us-east' })), 'UNAVAILABLE');
  // A TLS client of the public API that trusts the CA but presents no certificate: refused too.
  const ca = readFileSync(caFiles(certsDir).cert);
  const anonymous = new KvClient(topology.regions[0]!.leaders[0]!.grpc, grpc.credentials.createSsl(ca), { ...CHANNEL_OPTIONS, 'grpc.ssl_target_name_override': 'localhost' }) as KVClient;
  closers.push(() => anonymous.close());
  const anonymousRead = await new Promise<unknown>((resolve) => anonymous.Get({ key: Buffer.from('sec:a') }, { deadline: Date.now() + 5000 }, (err) => resolve(err)));
  t.is(fromServiceError(anonymousRead, 'Get').code, 'TLS');

  // The data node service: a plaintext client, a client without a certificate, and the
  // CLI's certificate (of the CA, but no leader's) are all refused, coded.
  const datanode = topology.regions[0]!.datanodes[0]!;
  const plainLeader = new DataNodeConnection(datanode.id, datanode.grpc, 'insecure', 3000);
  closers.push(() => plainLeader.shutdown());
  t.is(await codeOf(plainLeader.streamState()), 'UNAVAILABLE');
  const caOnly = new DataNodeClient(datanode.grpc, grpc.credentials.createSsl(readFileSync(caFiles(certsDir).cert)), { ...CHANNEL_OPTIONS, 'grpc.ssl_target_name_override': 'localhost' });
  closers.push(() => caOnly.close());
  const refused = await new Promise<unknown>((resolve) => caOnly.StreamState({}, { deadline: Date.now() + 5000 }, (err) => resolve(err)));
  t.is(fromServiceError(refused, 'StreamState').code, 'TLS');
  const clientCert = new CertificateSource(certsDir, { client: true });
  closers.push(() => clientCert.close());
  const cliAsLeader = new DataNodeConnection(datanode.id, datanode.grpc, clientCert, 3000);
  closers.push(() => cliAsLeader.shutdown());
  t.is(await codeOf(cliAsLeader.streamState()), 'PEER_REFUSED');

  // Rotation: `certs renew` replaces every leaf; the running processes reload them.
  const leader = topology.regions[0]!.leaders[0]!;
  const before = serialOf(nodeFiles(certsDir, leader.id).cert);
  t.is(await presentedSerial(leader.grpc, ca), before);
  const renew = await run(process.execPath, [CLI, 'certs', 'renew', '--topology', topologyFile, '--json'], { cwd: dir });
  t.true((JSON.parse(renew.stdout) as { created: string[] }).created.includes(nodeFiles(certsDir, leader.id).cert));
  const renewed = serialOf(nodeFiles(certsDir, leader.id).cert);
  t.not(renewed, before);
  await eventually(async () => ((await presentedSerial(leader.grpc, ca)) === renewed ? true : undefined), 15_000, 'the leader serving its renewed certificate');
  await eventually(async () => ((await presentedSerial(datanode.grpc, ca).catch(() => undefined)) === serialOf(nodeFiles(certsDir, datanode.id).cert) ? true : undefined), 15_000, 'the data node serving its renewed certificate');
  const logs = join(dir, '.aetherflow', NAME, 'logs');
  // Coordinators serve no gRPC: leaders and data nodes hold the certificates.
  const grpcIds = topology.regions.flatMap((r) => [...r.leaders, ...r.datanodes]).map((p) => p.id);
  await eventually(() => (grpcIds.every((id) => readFileSync(join(logs, `${id}.log`), 'utf8').includes('certificates reloaded')) ? true : undefined), 15_000, 'every gRPC process reloading');

  // New connections after the renewal, both hops: a new client, and a restarted data node its leader reconnects to.
  const fresh = connect({ topologyFile });
  closers.push(() => fresh.close());
  const victimPid = readyPid(w.origin)!;
  process.kill(victimPid, 'SIGKILL');
  await eventually(() => (readyPid(w.origin) !== victimPid ? true : undefined), 60_000, `${w.origin} restarted`);
  // The leader's channel to the restarted node may still be in its reconnect backoff: the
  // subject here is that it reconnects with the renewed certificates, not how soon.
  const w2 = await eventually(() => fresh.put('sec:a', 'alpha-2', { region: 'us-east' }).catch(() => undefined), 30_000, `a write through the leader's new connection to ${w.origin}`);
  t.is((await fresh.get('sec:a', { region: 'us-east', minGlt: w2.ts, waitMs: 5000 })).value?.toString(), 'alpha-2');

  // SIGHUP reloads instead of ending the process.
  const hupped = readyPid(leader.id)!;
  process.kill(hupped, 'SIGHUP');
  await new Promise((r) => setTimeout(r, 500));
  t.true(processAlive(hupped));
});
