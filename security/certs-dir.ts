import { X509Certificate, createPrivateKey, randomBytes, type KeyObject } from 'node:crypto';
import { linkSync, mkdirSync, readFileSync, renameSync, unlinkSync, writeFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { join, resolve } from 'node:path';
import { AetherError } from '../common/errors.js';
import { parseHostPort } from '../common/host-port.js';
import { createCa, issueClientCertificate, issueNodeCertificate, type CertificateHosts, type KeyPairPem } from './certificates.js';

/**
 * The certificates directory (topology `security.certsDir`), laid out like
 * `cockroach cert`'s:
 *
 *   ca.crt, ca.key             the deployment's CA (the key only where certificates are made)
 *   client.crt, client.key     what the CLI and `connect()` present
 *   node.<id>.crt/.key         one per node id of the topology, naming the id and its listeners
 *   quantum.key                Quantum's pre-shared key, 32 random bytes
 *
 * Files are created when missing and never overwritten, except leaves by `renew`; they
 * are written to a temporary name first so a process watching them never reads half a file.
 */

export interface PemFiles {
  readonly cert: string;
  readonly key: string;
}

export function caFiles(dir: string): PemFiles {
  return { cert: join(dir, 'ca.crt'), key: join(dir, 'ca.key') };
}

export function clientFiles(dir: string): PemFiles {
  return { cert: join(dir, 'client.crt'), key: join(dir, 'client.key') };
}

export function nodeFiles(dir: string, nodeId: string): PemFiles {
  return { cert: join(dir, `node.${nodeId}.crt`), key: join(dir, `node.${nodeId}.key`) };
}

export function quantumKeyFile(dir: string): string {
  return join(dir, 'quantum.key');
}

/**
 * What of a topology (topology/types.ts) the certificate directory reads, named here
 * because security/ sits below topology/: the launcher and the Kubernetes renderer use it.
 */
export interface SecuredTopology {
  readonly security: { readonly insecure: boolean; readonly certsDir: string; readonly quantumKeyFile: string | null };
}

/** Every node a topology lists, with the addresses (host:port) its certificate names. */
export interface TopologyNodes {
  readonly regions: readonly {
    readonly leaders: readonly { readonly id: string; readonly grpc: string; readonly quantum: string; readonly metrics: string }[];
    readonly datanodes: readonly { readonly id: string; readonly grpc: string; readonly metrics: string }[];
  }[];
  readonly coordinators: readonly { readonly id: string; readonly quantum: string; readonly metrics: string }[];
}

/** The topology's `security.certsDir`, absolute: a relative one resolves against the cwd, as dataDirs do. */
export function topologyCertsDir(topology: SecuredTopology): string {
  return resolve(topology.security.certsDir);
}

/** The Quantum key file the processes use: the one the topology names, else — unless insecure — `quantum.key` in certsDir. */
export function topologyQuantumKeyFile(topology: SecuredTopology): string | null {
  const { quantumKeyFile: named, insecure } = topology.security;
  if (named !== null) return resolve(named);
  return insecure ? null : quantumKeyFile(topologyCertsDir(topology));
}

/** The name in the client certificate's SAN URI (`aetherflow://client/cli`). */
export const CLIENT_NAME = 'cli';
const QUANTUM_KEY_BYTES = 32;
/** Only the owner reads keys; certificates are public. */
const KEY_MODE = 0o600;
const CERT_MODE = 0o644;
const DIR_MODE = 0o700;

/** What the topology asks certificates for: every node id and what it listens on. */
export type CertificateSubjects = TopologyNodes & { readonly name: string; readonly security: Pick<SecuredTopology['security'], 'quantumKeyFile'> };

/** What `ensureCertificates` or `renewCertificates` did, by file path. */
export interface CertificatesReport {
  readonly created: readonly string[];
  readonly kept: readonly string[];
}

/**
 * Creates whatever of the layout the topology needs and `dir` lacks: the CA, one
 * certificate per node id, the client certificate, and `quantum.key` unless the topology
 * names its own key file. Existing files are kept as they are, never replaced.
 */
export async function ensureCertificates(dir: string, topology: CertificateSubjects): Promise<CertificatesReport> {
  mkdirSync(dir, { recursive: true, mode: DIR_MODE });
  const created: string[] = [];
  const kept: string[] = [];

  // The CA key is needed only to sign what is missing: a machine given its certificates
  // and ca.crt alone (no ca.key) needs nothing signed.
  const caPaths = caFiles(dir);
  let ca: KeyPairPem | undefined;
  const signer = async (what: string): Promise<KeyPairPem> => {
    if (ca !== undefined) return ca;
    const certPem = readIfExists(caPaths.cert);
    const keyPem = readIfExists(caPaths.key);
    if (certPem === undefined && keyPem === undefined) {
      ca = await createCa(`AetherFlow CA (${topology.name})`);
      writePair(caPaths, ca, 'create');
      created.push(caPaths.cert, caPaths.key);
    } else if (certPem === undefined || keyPem === undefined) {
      const absent = certPem === undefined ? caPaths.cert : caPaths.key;
      throw new AetherError('CERTIFICATE', `${absent} is missing; the CA is needed to sign ${what}`, { details: { file: absent } });
    } else {
      ca = { certPem: certPem.toString('utf8'), keyPem: keyPem.toString('utf8') };
      kept.push(caPaths.cert, caPaths.key);
    }
    return ca;
  };
  const ensurePair = async (files: PemFiles, issue: (ca: KeyPairPem) => Promise<KeyPairPem>) => {
    const exists = readPairIfComplete(files) !== undefined;
    if (!exists) writePair(files, await issue(await signer(files.cert)), 'create');
    (exists ? kept : created).push(files.cert, files.key);
  };

  if (readIfExists(caPaths.cert) === undefined) await signer(caPaths.cert);
  for (const [nodeId, hosts] of nodeHosts(topology)) {
    await ensurePair(nodeFiles(dir, nodeId), (signing) => issueNodeCertificate(signing, nodeId, hosts));
  }
  await ensurePair(clientFiles(dir), (signing) => issueClientCertificate(signing, CLIENT_NAME));
  if (ca === undefined) kept.push(...[caPaths.cert, caPaths.key].filter((f) => readIfExists(f) !== undefined));

  if (topology.security.quantumKeyFile === null) {
    const file = quantumKeyFile(dir);
    const exists = readIfExists(file) !== undefined;
    if (!exists) writeAtomically(file, randomBytes(QUANTUM_KEY_BYTES), KEY_MODE, 'create');
    (exists ? kept : created).push(file);
  }
  return { created, kept };
}

/**
 * Issues every node and client certificate anew with the existing CA, replacing the old
 * ones (running processes reload them). The CA and the Quantum key stay: replacing
 * either would cut running peers off each other.
 */
export async function renewCertificates(dir: string, topology: CertificateSubjects): Promise<CertificatesReport> {
  const caPaths = caFiles(dir);
  const ca = readPairIfComplete(caPaths);
  if (ca === undefined) throw new AetherError('CERTIFICATE', `cannot renew: ${caPaths.cert} and ${caPaths.key} are needed to sign (create them first)`);
  const created: string[] = [];
  for (const [nodeId, hosts] of nodeHosts(topology)) {
    const paths = nodeFiles(dir, nodeId);
    writePair(paths, await issueNodeCertificate(ca, nodeId, hosts), 'replace');
    created.push(paths.cert, paths.key);
  }
  const clientPaths = clientFiles(dir);
  writePair(clientPaths, await issueClientCertificate(ca, CLIENT_NAME), 'replace');
  created.push(clientPaths.cert, clientPaths.key);
  return { created, kept: [caPaths.cert, caPaths.key] };
}

/** Every node id of the topology (leaders, data nodes, coordinators) with the hosts of its listeners. */
export function nodeHosts(topology: TopologyNodes): Map<string, CertificateHosts> {
  const addresses = new Map<string, string[]>();
  for (const r of topology.regions) {
    for (const l of r.leaders) addresses.set(l.id, [l.grpc, l.quantum, l.metrics]);
    for (const d of r.datanodes) addresses.set(d.id, [d.grpc, d.metrics]);
  }
  for (const c of topology.coordinators) addresses.set(c.id, [c.quantum, c.metrics]);
  const hosts = new Map<string, CertificateHosts>();
  for (const [id, list] of addresses) {
    const ips = new Set<string>();
    const dnsNames = new Set<string>();
    for (const address of list) {
      const host = parseHostPort(address)?.host;
      if (host === undefined) throw new AetherError('TOPOLOGY_INVALID', `${id}: ${address} is not host:port`);
      if (isIP(host.replace(/^\[|\]$/g, '')) !== 0) ips.add(host);
      else dnsNames.add(host);
    }
    hosts.set(id, { ips: [...ips], dnsNames: [...dnsNames] });
  }
  return hosts;
}

/** What a TLS endpoint needs: the CA to trust, and its own certificate chain and key. */
export interface TlsIdentity {
  readonly caPem: string;
  readonly certPem: string;
  readonly keyPem: string;
}

/** The CA certificate alone: enough for a client that presents no certificate. */
export function loadCaCertificate(dir: string): string {
  const file = caFiles(dir).cert;
  const pem = readRequired(file);
  const cert = parseCertificate(file, pem);
  if (!cert.ca) throw new AetherError('CERTIFICATE', `${file} is not a CA certificate`, { details: { file } });
  return pem;
}

/** A node's identity: its certificate and key, checked against each other and the CA. */
export function loadNodeIdentity(dir: string, nodeId: string): TlsIdentity {
  return loadIdentity(dir, nodeFiles(dir, nodeId));
}

/** The client identity the CLI and `connect()` present. */
export function loadClientIdentity(dir: string): TlsIdentity {
  return loadIdentity(dir, clientFiles(dir));
}

function loadIdentity(dir: string, files: PemFiles): TlsIdentity {
  const caPem = loadCaCertificate(dir);
  const certPem = readRequired(files.cert);
  const keyPem = readRequired(files.key);
  const cert = parseCertificate(files.cert, certPem);
  const key = parseKey(files.key, keyPem);
  const fail = (why: string) => new AetherError('CERTIFICATE', `${files.cert}: ${why}`, { details: { file: files.cert } });
  if (!cert.checkPrivateKey(key)) throw fail(`does not match the key in ${files.key}`);
  const ca = new X509Certificate(caPem);
  if (cert.checkIssued(ca) === false || !cert.verify(ca.publicKey)) throw fail(`is not signed by ${caFiles(dir).cert}`);
  const now = Date.now();
  if (Date.parse(cert.validFrom) > now) throw fail(`is not valid before ${cert.validFrom}`);
  if (Date.parse(cert.validTo) <= now) throw fail(`expired ${cert.validTo}; run \`aetherflow certs renew\``);
  return { caPem, certPem, keyPem };
}

function readRequired(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'is missing (`aetherflow certs create` or `up` creates it)' : `cannot be read (${code ?? String(err)})`;
    throw new AetherError('CERTIFICATE', `${file} ${why}`, { cause: err, details: { file } });
  }
}

function parseCertificate(file: string, pem: string): X509Certificate {
  try {
    return new X509Certificate(pem);
  } catch (err) {
    throw new AetherError('CERTIFICATE', `${file} is not a PEM certificate`, { cause: err, details: { file } });
  }
}

function parseKey(file: string, pem: string): KeyObject {
  try {
    return createPrivateKey(pem);
  } catch (err) {
    throw new AetherError('CERTIFICATE', `${file} is not a PEM private key`, { cause: err, details: { file } });
  }
}

function readIfExists(file: string): Buffer | undefined {
  try {
    return readFileSync(file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new AetherError('CERTIFICATE', `${file} cannot be read`, { cause: err, details: { file } });
  }
}

/** Both halves, or neither; half a pair cannot be completed without replacing the other half, so it is refused. */
function readPairIfComplete(files: PemFiles): KeyPairPem | undefined {
  const cert = readIfExists(files.cert);
  const key = readIfExists(files.key);
  if (cert === undefined && key === undefined) return undefined;
  if (cert === undefined || key === undefined) {
    const [present, absent] = cert === undefined ? [files.key, files.cert] : [files.cert, files.key];
    throw new AetherError('CERTIFICATE', `${present} exists but ${absent} does not; remove ${present} to have both made anew`, {
      details: { file: absent },
    });
  }
  return { certPem: cert.toString('utf8'), keyPem: key.toString('utf8') };
}

/** The key first: a watcher that sees the new certificate then finds its key already in place. */
function writePair(files: PemFiles, pair: KeyPairPem, mode: 'create' | 'replace'): void {
  writeAtomically(files.key, pair.keyPem, KEY_MODE, mode);
  writeAtomically(files.cert, pair.certPem, CERT_MODE, mode);
}

/**
 * Writes a temporary file, then moves it into place in one step: `rename` to replace,
 * `link` to create (fails if the file appeared meanwhile, so nothing is ever overwritten).
 */
function writeAtomically(file: string, data: string | Buffer, mode: number, how: 'create' | 'replace'): void {
  const tmp = `${file}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  try {
    writeFileSync(tmp, data, { mode, flag: 'wx' });
    if (how === 'replace') renameSync(tmp, file);
    else {
      linkSync(tmp, file);
      unlinkSync(tmp);
    }
  } catch (err) {
    try {
      unlinkSync(tmp);
    } catch {
      // Already moved into place or never written: nothing to clean up.
    }
    const exists = (err as NodeJS.ErrnoException).code === 'EEXIST';
    throw new AetherError('CERTIFICATE', exists ? `${file} appeared while it was being created; not overwritten` : `cannot write ${file}`, {
      cause: err,
      details: { file },
    });
  }
}
