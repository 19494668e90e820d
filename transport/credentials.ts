import { createPrivateKey, X509Certificate } from 'node:crypto';
import { existsSync } from 'node:fs';
import { nodeIdOf } from '../security/certificates.js';
import { loadNodeIdentity, quantumKeyFile, type TlsIdentity } from '../security/certs-dir.js';
import type { SecuritySpec } from '../topology/types.js';
import type { QuantumCredentials } from './handshake.js';
import { loadQuantumKey } from './topology-links.js';

/** A node's Quantum credentials from its PEM identity (certs-dir.ts checked them against each other and the CA). */
export function quantumCredentials(nodeId: string, identity: TlsIdentity, psk: Buffer | null): QuantumCredentials {
  return {
    nodeId,
    certificate: new X509Certificate(identity.certPem),
    privateKey: createPrivateKey(identity.keyPem),
    ca: new X509Certificate(identity.caPem),
    psk,
    nodeIdOf,
  };
}

/**
 * Node `nodeId`'s Quantum credentials from the topology's certsDir (`node.<id>.crt/.key`,
 * `ca.crt`), with the pre-shared key of `quantumKeyFile` — or, when that is null, of
 * certsDir's `quantum.key` if there is one. Undefined when the topology says insecure.
 * Missing or invalid files fail CERTIFICATE (or TOPOLOGY_INVALID for the key file).
 */
export async function loadQuantumCredentials(security: SecuritySpec, nodeId: string): Promise<QuantumCredentials | undefined> {
  if (security.insecure) return undefined;
  const identity = loadNodeIdentity(security.certsDir, nodeId);
  const inCertsDir = quantumKeyFile(security.certsDir);
  const pskFile = security.quantumKeyFile ?? (existsSync(inCertsDir) ? inCertsDir : null);
  return quantumCredentials(nodeId, identity, await loadQuantumKey(pskFile));
}
