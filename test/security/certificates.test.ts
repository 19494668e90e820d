import { X509Certificate, createPrivateKey } from 'node:crypto';
import test from 'ava';
import { createCa, issueClientCertificate, issueNodeCertificate, nodeIdOf } from '../../security/certificates.js';

const SERVER_AUTH = '1.3.6.1.5.5.7.3.1';
const CLIENT_AUTH = '1.3.6.1.5.5.7.3.2';

test('a node certificate chains to its CA and names its id, IPs and DNS names', async (t) => {
  const ca = await createCa('test CA');
  const node = await issueNodeCertificate(ca, 'us-east-l1', { ips: ['127.0.0.1', '[::1]'], dnsNames: ['leader.example'] });
  const caCert = new X509Certificate(ca.certPem);
  const cert = new X509Certificate(node.certPem);

  t.true(caCert.ca);
  t.false(cert.ca);
  t.true(cert.checkIssued(caCert));
  t.true(cert.verify(caCert.publicKey));
  t.true(cert.checkPrivateKey(createPrivateKey(node.keyPem)));
  t.is(nodeIdOf(cert), 'us-east-l1');
  t.is(cert.checkIP('127.0.0.1'), '127.0.0.1');
  t.is(cert.checkIP('::1'), '::1');
  t.is(cert.checkHost('leader.example'), 'leader.example');
  t.is(cert.checkIP('10.0.0.1'), undefined);
  t.deepEqual([...(cert.keyUsage ?? [])].sort(), [SERVER_AUTH, CLIENT_AUTH]);
  t.regex(node.keyPem, /^-----BEGIN PRIVATE KEY-----/);
});

test('a client certificate is for clientAuth only and names no node', async (t) => {
  const ca = await createCa('test CA');
  const client = await issueClientCertificate(ca, 'cli');
  const cert = new X509Certificate(client.certPem);
  t.true(cert.checkIssued(new X509Certificate(ca.certPem)));
  t.true(cert.verify(new X509Certificate(ca.certPem).publicKey));
  t.deepEqual(cert.keyUsage, [CLIENT_AUTH]);
  t.is(nodeIdOf(cert), undefined);
  t.regex(cert.subjectAltName ?? '', /URI:aetherflow:\/\/client\/cli/);
});

test('a certificate of another CA does not chain', async (t) => {
  const ca = await createCa('one');
  const other = await createCa('other');
  const cert = new X509Certificate((await issueNodeCertificate(ca, 'n1', { ips: [], dnsNames: ['localhost'] })).certPem);
  t.false(cert.verify(new X509Certificate(other.certPem).publicKey));
});

test('validity follows validDays', async (t) => {
  const ca = await createCa('short', 2);
  const leaf = new X509Certificate((await issueClientCertificate(ca, 'c', 1)).certPem);
  const days = (Date.parse(leaf.validTo) - Date.now()) / 86_400_000;
  t.true(days > 0.9 && days <= 1.01, `${days}`);
  t.true(Date.parse(new X509Certificate(ca.certPem).validTo) - Date.now() > 1.9 * 86_400_000);
});

test('the node id comes from the SAN URI, not from the CN', async (t) => {
  const ca = await createCa('test CA');
  // A client certificate whose CN looks like a node id proves no node identity.
  const cert = new X509Certificate((await issueClientCertificate(ca, 'us-east-l1')).certPem);
  t.regex(cert.subject, /CN=us-east-l1/);
  t.is(nodeIdOf(cert), undefined);
});

test('an id written to look like a second SAN URI stays one id', async (t) => {
  const ca = await createCa('test CA');
  const forged = 'x, URI:aetherflow://node/other';
  const cert = new X509Certificate((await issueNodeCertificate(ca, forged, { ips: ['127.0.0.1'], dnsNames: [] })).certPem);
  t.is(nodeIdOf(cert), forged);
});
