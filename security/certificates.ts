import { webcrypto, type X509Certificate } from 'node:crypto';
import { isIP } from 'node:net';
// @peculiar/x509 resolves its algorithms through tsyringe, which needs the Reflect metadata API first.
import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import { AetherError } from '../common/errors.js';

/**
 * A certificate and its private key, both PEM: the certificate as `CERTIFICATE`, the key
 * as PKCS#8 `PRIVATE KEY` — the forms grpc-js, OpenSSL and Kubernetes Secrets take as is.
 */
export interface KeyPairPem {
  readonly certPem: string;
  readonly keyPem: string;
}

/** Where a node certificate's subject is reachable: what a client may dial it by. */
export interface CertificateHosts {
  readonly ips: readonly string[];
  readonly dnsNames: readonly string[];
}

/** SAN URIs name who a certificate speaks for; the CN is for humans and logs only. */
const NODE_URI_PREFIX = 'aetherflow://node/';
const CLIENT_URI_PREFIX = 'aetherflow://client/';

/** A CA outlives the certificates it signs so that renewing them never needs a new trust root. */
export const DEFAULT_CA_VALID_DAYS = 3650;
export const DEFAULT_LEAF_VALID_DAYS = 365;
/** Leaves start a little in the past so a peer whose clock lags ours by up to this much still accepts them. */
const BACKDATE_MS = 5 * 60_000;
const DAY_MS = 86_400_000;

const KEY_ALGORITHM: webcrypto.EcKeyGenParams = { name: 'ECDSA', namedCurve: 'P-256' };
const SIGNING_ALGORITHM: webcrypto.EcdsaParams = { name: 'ECDSA', hash: 'SHA-256' };

// @peculiar/x509 signs through WebCrypto; Node's is complete, no polyfill is needed. Its
// type is the DOM's Crypto, which differs from node:crypto's declaration only in overloads.
x509.cryptoProvider.set(webcrypto as unknown as ReturnType<typeof x509.cryptoProvider.get>);

export async function createCa(commonName: string, validDays = DEFAULT_CA_VALID_DAYS): Promise<KeyPairPem> {
  const keys = await generateKeys();
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: randomSerial(),
    name: distinguishedName(commonName),
    ...validity(validDays),
    keys,
    signingAlgorithm: SIGNING_ALGORITHM,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  return { certPem: cert.toString('pem'), keyPem: await exportKey(keys.privateKey) };
}

/** A node's certificate: it serves (serverAuth) and dials its peers (clientAuth) as `aetherflow://node/<nodeId>`. */
export async function issueNodeCertificate(
  ca: KeyPairPem,
  nodeId: string,
  hosts: CertificateHosts,
  validDays = DEFAULT_LEAF_VALID_DAYS,
): Promise<KeyPairPem> {
  const names: x509.JsonGeneralName[] = [
    { type: 'url', value: NODE_URI_PREFIX + nodeId },
    ...hosts.dnsNames.map((value): x509.JsonGeneralName => ({ type: 'dns', value })),
    ...hosts.ips.map((value): x509.JsonGeneralName => ({ type: 'ip', value: bareIp(value) })),
  ];
  return issue(ca, nodeId, names, [x509.ExtendedKeyUsage.serverAuth, x509.ExtendedKeyUsage.clientAuth], validDays);
}

/** A client's certificate (CLI, `connect()`): it only dials, as `aetherflow://client/<name>`. */
export async function issueClientCertificate(ca: KeyPairPem, name: string, validDays = DEFAULT_LEAF_VALID_DAYS): Promise<KeyPairPem> {
  return issue(ca, name, [{ type: 'url', value: CLIENT_URI_PREFIX + name }], [x509.ExtendedKeyUsage.clientAuth], validDays);
}

/** The node id a certificate speaks for, from its `aetherflow://node/<id>` SAN URI; never from the CN, which anyone may set. */
export function nodeIdOf(cert: X509Certificate): string | undefined {
  return sanUris(cert)
    .find((uri) => uri.startsWith(NODE_URI_PREFIX))
    ?.slice(NODE_URI_PREFIX.length);
}

/**
 * The SAN URIs of a certificate, from node:crypto's text of the extension: entries are
 * separated by ", ", and a value holding a separator or a quote is written as a JSON
 * string (Node's escaping since CVE-2021-44532). Parsing the DER with @peculiar/x509 took
 * ~1.3 ms a certificate: too much for a check on every call a data node serves.
 */
function sanUris(cert: X509Certificate): string[] {
  const san = cert.subjectAltName;
  if (san === undefined) return [];
  const uris: string[] = [];
  for (const m of san.matchAll(/(?:^|, )URI:("(?:[^"\\]|\\.)*"|[^,]*)/g)) {
    const value = m[1]!;
    uris.push(value.startsWith('"') ? (JSON.parse(value) as string) : value);
  }
  return uris;
}

async function issue(
  ca: KeyPairPem,
  commonName: string,
  names: x509.JsonGeneralName[],
  usages: x509.ExtendedKeyUsage[],
  validDays: number,
): Promise<KeyPairPem> {
  const caCert = new x509.X509Certificate(ca.certPem);
  const caKey = await importKey(ca.keyPem);
  const keys = await generateKeys();
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: randomSerial(),
    subject: distinguishedName(commonName),
    issuer: caCert.subject,
    ...validity(validDays),
    publicKey: keys.publicKey,
    signingKey: caKey,
    signingAlgorithm: SIGNING_ALGORITHM,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyAgreement, true),
      new x509.ExtendedKeyUsageExtension(usages, false),
      new x509.SubjectAlternativeNameExtension(names, false),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
      await x509.AuthorityKeyIdentifierExtension.create(caCert.publicKey),
    ],
  });
  return { certPem: cert.toString('pem'), keyPem: await exportKey(keys.privateKey) };
}

function generateKeys(): Promise<webcrypto.CryptoKeyPair> {
  return webcrypto.subtle.generateKey(KEY_ALGORITHM, true, ['sign', 'verify']);
}

async function exportKey(key: webcrypto.CryptoKey): Promise<string> {
  const der = await webcrypto.subtle.exportKey('pkcs8', key);
  return x509.PemConverter.encode(der, 'PRIVATE KEY');
}

function importKey(pem: string): Promise<webcrypto.CryptoKey> {
  const der = x509.PemConverter.decodeFirst(pem);
  return webcrypto.subtle.importKey('pkcs8', der, KEY_ALGORITHM, false, ['sign']);
}

/** Positive 16-byte serial (RFC 5280 allows up to 20 octets; the top bit cleared keeps it positive). */
function randomSerial(): string {
  const bytes = webcrypto.getRandomValues(new Uint8Array(16));
  bytes[0] = bytes[0]! & 0x7f;
  return Buffer.from(bytes).toString('hex');
}

function validity(validDays: number): { notBefore: Date; notAfter: Date } {
  const now = Date.now();
  return { notBefore: new Date(now - BACKDATE_MS), notAfter: new Date(now + validDays * DAY_MS) };
}

/** Built as structured attributes, not parsed from a string, so an id holding `,` or `=` cannot forge other attributes. */
function distinguishedName(commonName: string): x509.JsonName {
  return [{ CN: [commonName] }, { O: ['AetherFlow'] }];
}

/** IPv6 addresses come from the topology in brackets (`[::1]:7101`); the SAN wants the bare address. */
function bareIp(ip: string): string {
  const bare = ip.startsWith('[') && ip.endsWith(']') ? ip.slice(1, -1) : ip;
  if (isIP(bare) === 0) throw new AetherError('INVALID_ARGUMENT', `not an IP address: ${ip}`);
  return bare;
}
