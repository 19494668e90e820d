import { X509Certificate } from 'node:crypto';
import { chmodSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { AetherError } from '../../common/errors.js';
import { nodeIdOf } from '../../security/certificates.js';
import {
  caFiles,
  clientFiles,
  ensureCertificates,
  loadCaCertificate,
  loadClientIdentity,
  loadNodeIdentity,
  nodeFiles,
  quantumKeyFile,
  renewCertificates,
  type CertificateSubjects,
} from '../../security/certs-dir.js';

const topology: CertificateSubjects = {
  name: 't',
  regions: [
    {
      leaders: [{ id: 'a-l1', grpc: '127.0.0.1:7101', quantum: '127.0.0.1:7201', metrics: '127.0.0.1:9101' }],
      datanodes: [{ id: 'a-d1', grpc: 'a-d1.svc.example:7301', metrics: '127.0.0.1:9301' }],
    },
  ],
  coordinators: [{ id: 'c1', quantum: '[::1]:7401', metrics: '127.0.0.1:9401' }],
  security: { quantumKeyFile: null },
};

function tempDir(t: { teardown: (f: () => void) => void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'aetherflow-certs-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return join(dir, 'certs');
}

function codeOf(err: unknown): string | undefined {
  return err instanceof AetherError ? err.code : undefined;
}

test('ensureCertificates creates the whole layout, keys private', async (t) => {
  const dir = tempDir(t);
  const report = await ensureCertificates(dir, topology);
  const expected = [caFiles(dir), clientFiles(dir), nodeFiles(dir, 'a-l1'), nodeFiles(dir, 'a-d1'), nodeFiles(dir, 'c1')];
  for (const files of expected) {
    t.true(report.created.includes(files.cert), files.cert);
    t.is(statSync(files.key).mode & 0o777, 0o600, files.key);
  }
  t.is(readFileSync(quantumKeyFile(dir)).length, 32);
  t.is(statSync(quantumKeyFile(dir)).mode & 0o777, 0o600);
  t.deepEqual(report.kept, []);
});

test('node certificates name their id and the hosts of their listeners, and chain to ca.crt', async (t) => {
  const dir = tempDir(t);
  await ensureCertificates(dir, topology);
  const ca = new X509Certificate(loadCaCertificate(dir));
  const leader = new X509Certificate(loadNodeIdentity(dir, 'a-l1').certPem);
  t.true(leader.checkIssued(ca) && leader.verify(ca.publicKey));
  t.is(nodeIdOf(leader), 'a-l1');
  t.is(leader.checkIP('127.0.0.1'), '127.0.0.1');
  const datanode = new X509Certificate(loadNodeIdentity(dir, 'a-d1').certPem);
  t.is(datanode.checkHost('a-d1.svc.example'), 'a-d1.svc.example');
  t.is(datanode.checkIP('127.0.0.1'), '127.0.0.1');
  t.is(new X509Certificate(loadNodeIdentity(dir, 'c1').certPem).checkIP('::1'), '::1');
  const client = new X509Certificate(loadClientIdentity(dir).certPem);
  t.true(client.verify(ca.publicKey));
  t.is(nodeIdOf(client), undefined);
});

test('existing files are never overwritten; only what is missing is created', async (t) => {
  const dir = tempDir(t);
  await ensureCertificates(dir, topology);
  const before = new Map([caFiles(dir).cert, caFiles(dir).key, nodeFiles(dir, 'a-l1').cert, quantumKeyFile(dir)].map((f) => [f, readFileSync(f)]));
  rmSync(nodeFiles(dir, 'a-d1').cert);
  rmSync(nodeFiles(dir, 'a-d1').key);

  const report = await ensureCertificates(dir, topology);
  t.deepEqual([...report.created].sort(), [nodeFiles(dir, 'a-d1').cert, nodeFiles(dir, 'a-d1').key].sort());
  for (const [file, bytes] of before) t.deepEqual(readFileSync(file), bytes, file);
  t.true(report.kept.includes(caFiles(dir).cert));
  // The new certificate is signed by the CA that was kept.
  t.notThrows(() => loadNodeIdentity(dir, 'a-d1'));
});

test('ca.key is only needed when something must be signed', async (t) => {
  const dir = tempDir(t);
  await ensureCertificates(dir, topology);
  rmSync(caFiles(dir).key);
  await t.notThrowsAsync(ensureCertificates(dir, topology));
  rmSync(clientFiles(dir).cert);
  rmSync(clientFiles(dir).key);
  const err = await t.throwsAsync(ensureCertificates(dir, topology));
  t.is(codeOf(err), 'CERTIFICATE');
});

test('half a key pair is refused, not completed', async (t) => {
  const dir = tempDir(t);
  await ensureCertificates(dir, topology);
  rmSync(nodeFiles(dir, 'c1').key);
  const before = readFileSync(nodeFiles(dir, 'c1').cert);
  t.is(codeOf(await t.throwsAsync(ensureCertificates(dir, topology))), 'CERTIFICATE');
  t.deepEqual(readFileSync(nodeFiles(dir, 'c1').cert), before);
});

test('quantum.key is not made when the topology names its own key file', async (t) => {
  const dir = tempDir(t);
  const report = await ensureCertificates(dir, { ...topology, security: { quantumKeyFile: '/elsewhere/quantum.key' } });
  t.false(report.created.includes(quantumKeyFile(dir)));
  t.throws(() => readFileSync(quantumKeyFile(dir)));
});

test('loaders fail with CERTIFICATE on missing, invalid, mismatched or foreign files', async (t) => {
  const dir = tempDir(t);
  t.is(codeOf(t.throws(() => loadCaCertificate(dir))), 'CERTIFICATE');
  await ensureCertificates(dir, topology);
  t.is(codeOf(t.throws(() => loadNodeIdentity(dir, 'nobody'))), 'CERTIFICATE');

  // Not a certificate at all.
  writeFileSync(nodeFiles(dir, 'a-l1').cert, 'not a certificate');
  t.is(codeOf(t.throws(() => loadNodeIdentity(dir, 'a-l1'))), 'CERTIFICATE');

  // A certificate with another node's key.
  writeFileSync(nodeFiles(dir, 'a-l1').cert, readFileSync(nodeFiles(dir, 'a-d1').cert));
  t.is(codeOf(t.throws(() => loadNodeIdentity(dir, 'a-l1'))), 'CERTIFICATE');

  // A whole pair from another CA.
  const other = tempDir(t);
  await ensureCertificates(other, topology);
  for (const f of ['cert', 'key'] as const) writeFileSync(clientFiles(dir)[f], readFileSync(clientFiles(other)[f]));
  t.is(codeOf(t.throws(() => loadClientIdentity(dir))), 'CERTIFICATE');

  writeFileSync(nodeFiles(dir, 'c1').key, 'garbage');
  chmodSync(nodeFiles(dir, 'c1').key, 0o600);
  t.is(codeOf(t.throws(() => loadNodeIdentity(dir, 'c1'))), 'CERTIFICATE');
});

test('renew replaces the leaves with new ones of the same CA and keeps the CA', async (t) => {
  const dir = tempDir(t);
  await ensureCertificates(dir, topology);
  const caBefore = readFileSync(caFiles(dir).cert);
  const leafBefore = readFileSync(nodeFiles(dir, 'a-l1').cert, 'utf8');
  const report = await renewCertificates(dir, topology);
  t.true(report.created.includes(nodeFiles(dir, 'a-l1').cert));
  t.deepEqual(readFileSync(caFiles(dir).cert), caBefore);
  const renewed = loadNodeIdentity(dir, 'a-l1');
  t.not(renewed.certPem, leafBefore);
  t.is(statSync(nodeFiles(dir, 'a-l1').key).mode & 0o777, 0o600);
});

test('renew without a CA fails with CERTIFICATE', async (t) => {
  t.is(codeOf(await t.throwsAsync(renewCertificates(tempDir(t), topology))), 'CERTIFICATE');
});
