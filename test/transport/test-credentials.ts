import { createCa, issueNodeCertificate, type KeyPairPem } from '../../security/certificates.js';
import { quantumCredentials } from '../../transport/credentials.js';
import type { QuantumCredentials } from '../../transport/handshake.js';

/** A throwaway CA for tests. */
export function testCa(name = 'test'): Promise<KeyPairPem> {
  return createCa(name);
}

/** Node `nodeId`'s Quantum credentials, its certificate signed by `ca` (trusting `trust`, `ca` by default). */
export async function nodeCredentials(ca: KeyPairPem, nodeId: string, options: { readonly psk?: Buffer | null; readonly trust?: KeyPairPem } = {}): Promise<QuantumCredentials> {
  const leaf = await issueNodeCertificate(ca, nodeId, { ips: ['127.0.0.1'], dnsNames: [] });
  return quantumCredentials(nodeId, { caPem: (options.trust ?? ca).certPem, certPem: leaf.certPem, keyPem: leaf.keyPem }, options.psk ?? null);
}
