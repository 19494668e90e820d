import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CertificateSource } from '../../security/certificate-source.js';
import { ensureCertificates } from '../../security/certs-dir.js';
import type { SecuritySpec } from '../../topology/types.js';

/**
 * Certificates for in-process servers and clients on loopback: one CA per test file
 * (ava runs each file in its own process), created at first use in a temp dir removed
 * when the process exits. Node certificates are issued on demand for any id, naming
 * 127.0.0.1, ::1 and localhost.
 */
let dir: Promise<string> | undefined;
const issued = new Set<string>();
let issuing: Promise<unknown> = Promise.resolve();
const sources: CertificateSource[] = [];

function certsDir(): Promise<string> {
  dir ??= (async () => {
    const root = mkdtempSync(join(tmpdir(), 'aetherflow-test-certs-'));
    process.on('exit', () => {
      for (const s of sources) s.close();
      rmSync(root, { recursive: true, force: true });
    });
    const certs = join(root, 'certs');
    await ensureCertificates(certs, { name: 'test', regions: [], coordinators: [], security: { quantumKeyFile: null } });
    return certs;
  })();
  return dir;
}

/** The directory, with node certificates for `nodeIds` (and the CA and client certificate). */
export function testCertsDir(nodeIds: readonly string[] = []): Promise<string> {
  // One issue at a time: tests of a file run concurrently and may ask for the same id.
  const next = issuing.then(async () => {
    const certs = await certsDir();
    const missing = nodeIds.filter((id) => !issued.has(id));
    if (missing.length > 0) {
      const leaders = missing.map((id) => ({ id, grpc: '127.0.0.1:1', quantum: '[::1]:1', metrics: 'localhost:1' }));
      await ensureCertificates(certs, { name: 'test', regions: [{ leaders, datanodes: [] }], coordinators: [], security: { quantumKeyFile: null } });
      for (const id of missing) issued.add(id);
    }
    return certs;
  });
  issuing = next.catch(() => undefined);
  return next;
}

/** A topology's security section using the test certificates (node ids as above). */
export async function testSecuritySpec(nodeIds: readonly string[]): Promise<SecuritySpec> {
  return { insecure: false, certsDir: await testCertsDir(nodeIds), quantumKeyFile: null, etcd: { caFile: null, certFile: null, keyFile: null, username: null, passwordFile: null } };
}

/** The TLS identity of node `id`, for a server or a leader's connections. */
export async function testNodeSecurity(id: string): Promise<CertificateSource> {
  const source = new CertificateSource(await testCertsDir([id]), { node: id });
  sources.push(source);
  return source;
}

/** The client identity (what the CLI and connect() present). */
export async function testClientSecurity(): Promise<CertificateSource> {
  const source = new CertificateSource(await testCertsDir(), { client: true });
  sources.push(source);
  return source;
}
