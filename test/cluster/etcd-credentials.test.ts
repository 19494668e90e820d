import test from 'ava';
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { AetherError } from '../../common/errors.js';
import { connectTopologyEtcd, etcdCall, topologyEtcdCredentials, type Etcd3 } from '../../cluster/etcd.js';
import { loadEtcdCredentials } from '../../topology/etcd-credentials.js';
import { freePort } from '../../topology/local-etcd.js';
import { checkTopologyText } from '../../topology/load.js';
import type { Topology } from '../../topology/types.js';
import { eventually, startEtcd } from './etcd-fixture.js';

/**
 * Clients built from a topology's `security.etcd` reach an etcd that requires a password
 * or TLS client certificates; without them the same etcd refuses them with code ETCD.
 */

/** A topology naming `endpoints` as its external etcd, with these credentials. */
function topologyWith(endpoints: readonly string[], etcd: Record<string, unknown>): Topology {
  const doc = {
    version: 1,
    name: 'creds',
    etcd: { endpoints },
    regions: [{ name: 'a', leaders: [{ id: 'a-l1', grpc: '127.0.0.1:7101', quantum: '127.0.0.1:7201', metrics: '127.0.0.1:9101' }], datanodes: [{ id: 'a-d1', grpc: '127.0.0.1:7301', dataDir: 'd/a1', metrics: '127.0.0.1:9301' }] }],
    coordinators: [{ id: 'c1', region: 'a', quantum: '127.0.0.1:7401', metrics: '127.0.0.1:9401' }],
    security: { etcd },
  };
  const r = checkTopologyText(stringify(doc), '/x/creds.yaml');
  if (!r.ok) throw new Error(JSON.stringify(r.problems));
  return r.topology;
}

/** Runs `fn` with a client of the topology's etcd, closing it after. */
async function withClient<T>(topology: Topology, fn: (c: Etcd3) => Promise<T>): Promise<T> {
  const c = connectTopologyEtcd(topology, { dialTimeoutMs: 2000 });
  try {
    return await fn(c);
  } finally {
    c.close();
  }
}

const roundTrip = (c: Etcd3) =>
  etcdCall('put', async () => {
    await c.put('creds/probe').value('ok');
    return c.get('creds/probe').string();
  });

async function codeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (err) {
    return err instanceof AetherError ? err.code : `not coded: ${String(err)}`;
  }
  return 'no error';
}

test('an etcd with auth enabled: the topology user and password file work; no password or a wrong one is refused with ETCD', async (t) => {
  const fixture = await startEtcd();
  const dir = mkdtempSync(join(tmpdir(), 'aetherflow-etcd-auth-'));
  t.teardown(async () => {
    await fixture.stop();
    rmSync(dir, { recursive: true, force: true });
  });
  const admin = fixture.client();
  await admin.role('root').create();
  await admin.user('root').create('s3cret-pass');
  await admin.user('root').addRole('root');
  await admin.auth.authEnable({});

  writeFileSync(join(dir, 'password'), 's3cret-pass\n');
  writeFileSync(join(dir, 'wrong'), 'nope\n');
  const endpoints = fixture.etcd.endpoints;
  t.is(await withClient(topologyWith(endpoints, { username: 'root', passwordFile: join(dir, 'password') }), roundTrip), 'ok');
  t.is(await codeOf(withClient(topologyWith(endpoints, {}), roundTrip)), 'ETCD');
  t.is(await codeOf(withClient(topologyWith(endpoints, { username: 'root', passwordFile: join(dir, 'wrong') }), roundTrip)), 'ETCD');
  // Unreadable files are named before anything is dialled.
  const missing = t.throws(() => connectTopologyEtcd(topologyWith(endpoints, { username: 'root', passwordFile: join(dir, 'absent') })), { instanceOf: AetherError });
  t.is(missing.code, 'TOPOLOGY_INVALID');
  t.deepEqual(missing.details, { field: 'passwordFile', file: join(dir, 'absent') });
});

/** A CA, a server certificate for 127.0.0.1 and a client certificate, made with the openssl CLI. */
function makeCertificates(dir: string): void {
  const openssl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'ignore' });
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  openssl('req', '-x509', ...ec, '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '1', '-subj', '/CN=aetherflow-test-ca');
  writeFileSync(join(dir, 'server.ext'), 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n');
  writeFileSync(join(dir, 'client.ext'), 'extendedKeyUsage=clientAuth\n');
  for (const [name, cn] of [
    ['server', '127.0.0.1'],
    ['client', 'root'],
  ] as const) {
    openssl('req', ...ec, '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${cn}`);
    openssl('x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-out', `${name}.crt`, '-days', '1', '-extfile', `${name}.ext`);
  }
}

test('an etcd requiring TLS client certificates: the topology CA, certificate and key work; plaintext or no client certificate is refused with ETCD', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'aetherflow-etcd-tls-'));
  makeCertificates(dir);
  const [client, peer] = [await freePort(), await freePort()];
  const url = `https://127.0.0.1:${client}`;
  const etcd = spawn(
    'etcd',
    [
      '--name=tls',
      `--data-dir=${join(dir, 'data')}`,
      `--listen-client-urls=${url}`,
      `--advertise-client-urls=${url}`,
      `--listen-peer-urls=http://127.0.0.1:${peer}`,
      `--initial-advertise-peer-urls=http://127.0.0.1:${peer}`,
      `--initial-cluster=tls=http://127.0.0.1:${peer}`,
      `--cert-file=${join(dir, 'server.crt')}`,
      `--key-file=${join(dir, 'server.key')}`,
      `--trusted-ca-file=${join(dir, 'ca.crt')}`,
      '--client-cert-auth',
    ],
    { stdio: 'ignore' },
  );
  t.teardown(async () => {
    if (etcd.exitCode === null) {
      const exited = new Promise((resolve) => etcd.once('exit', resolve));
      process.kill(etcd.pid!, 'SIGTERM');
      await exited;
    }
    rmSync(dir, { recursive: true, force: true });
  });
  const tls = { caFile: join(dir, 'ca.crt'), certFile: join(dir, 'client.crt'), keyFile: join(dir, 'client.key') };
  const secured = topologyWith([`127.0.0.1:${client}`], tls);
  t.is(await eventually(() => withClient(secured, roundTrip).catch(() => undefined), 20_000, 'the TLS etcd to answer'), 'ok');
  t.is(await codeOf(withClient(topologyWith([`127.0.0.1:${client}`], {}), roundTrip)), 'ETCD');
  t.is(await codeOf(withClient(topologyWith([`127.0.0.1:${client}`], { caFile: tls.caFile }), roundTrip)), 'ETCD');
  // The credentials read are the files' bytes.
  const loaded = loadEtcdCredentials({ ...tls, username: null, passwordFile: null });
  t.truthy(loaded.tls?.rootCertificate.toString().includes('BEGIN CERTIFICATE'));
  t.is(loaded.auth, undefined);
});

test('the local etcd of up gets no credentials, whatever security.etcd says; an external one gets them read from the files', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'aetherflow-etcd-creds-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, 'password'), 'pw with spaces\n');
  const security = { username: 'app', passwordFile: join(dir, 'password'), caFile: join(dir, 'absent-ca.pem') };
  t.deepEqual(topologyEtcdCredentials(topologyWith([], security)), {}, 'nothing is read for the local etcd');
  const unreadable = t.throws(() => topologyEtcdCredentials(topologyWith(['127.0.0.1:2379'], security)), { instanceOf: AetherError });
  t.is(unreadable.code, 'TOPOLOGY_INVALID');
  t.deepEqual(unreadable.details, { field: 'caFile', file: join(dir, 'absent-ca.pem') });
  t.deepEqual(topologyEtcdCredentials(topologyWith(['127.0.0.1:2379'], { username: 'app', passwordFile: join(dir, 'password') })), {
    auth: { username: 'app', password: 'pw with spaces' },
  });
});
