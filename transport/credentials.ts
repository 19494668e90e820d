import { createPrivateKey, X509Certificate } from 'node:crypto';
import { nodeIdOf } from '../security/certificates.js';
import { loadNodeIdentity, topologyCertsDir, topologyQuantumKeyFile, type TlsIdentity } from '../security/certs-dir.js';
import type { Topology } from '../topology/types.js';
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
 * `ca.crt`) and its pre-shared key (`quantumKeyFile`, else certsDir's `quantum.key`).
 * Undefined when the topology says insecure. Missing or invalid files fail CERTIFICATE
 * (TOPOLOGY_INVALID for the key file).
 */
export async function loadQuantumCredentials(topology: Pick<Topology, 'security'>, nodeId: string): Promise<QuantumCredentials | undefined> {
  if (topology.security.insecure) return undefined;
  const identity = loadNodeIdentity(topologyCertsDir(topology), nodeId);
  return quantumCredentials(nodeId, identity, await loadQuantumKey(topologyQuantumKeyFile(topology)));
}
