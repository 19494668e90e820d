import { X509Certificate } from 'node:crypto';
import { isIP } from 'node:net';
import { checkServerIdentity, type PeerCertificate } from 'node:tls';
import * as grpc from '@grpc/grpc-js';
import { nodeIdOf } from './certificates.js';
import { parseHostPort } from '../common/host-port.js';
import { CertificateSource, type CertificateOwner, type CertificateSourceOptions } from './certificate-source.js';
import { topologyCertsDir, type SecuredTopology } from './certs-dir.js';

/**
 * How one process's gRPC endpoints protect their traffic: TLS with the identity a
 * CertificateSource keeps current, or plaintext — only where the topology says
 * `security.insecure: true` (or in a test that is about something else).
 */
export type TransportSecurity = CertificateSource | 'insecure';

/**
 * The transport security the topology asks of one owner: plaintext when it says
 * `insecure: true`, else the owner's certificate from `certsDir` (default: the
 * topology's), loaded now — CERTIFICATE when missing or invalid — and kept current.
 */
export function topologySecurity(topology: SecuredTopology, owner: CertificateOwner, options: CertificateSourceOptions & { readonly certsDir?: string } = {}): TransportSecurity {
  if (topology.security.insecure) return 'insecure';
  return new CertificateSource(options.certsDir ?? topologyCertsDir(topology), owner, options);
}

/** Stops watching the certificate files (nothing to do for plaintext). */
export function closeSecurity(security: TransportSecurity): void {
  if (security !== 'insecure') security.close();
}

/**
 * A server's credentials. `clientCertificates: 'required'` is mutual TLS: a client must
 * present a certificate signed by the CA (the data node service); otherwise only the
 * server proves who it is (the public KV and Snapshots services).
 */
export function serverCredentials(security: TransportSecurity, clientCertificates: 'required' | 'not-requested'): grpc.ServerCredentials {
  if (security === 'insecure') return grpc.ServerCredentials.createInsecure();
  const required = clientCertificates === 'required';
  // grpc-js takes the identity's provider first, then the CA's (null: no client certificate is asked for).
  return grpc.experimental.createCertificateProviderServerCredentials(security, required ? security : null, required);
}

/** What a gRPC client constructor takes besides the address: `new Client(address, credentials, options)`. */
export interface ChannelSettings {
  readonly credentials: grpc.ChannelCredentials;
  readonly options: grpc.ClientOptions;
}

/** TLS SNI for servers dialled by IP; no server of ours looks at it, it only has to be a name. */
const SNI_FOR_IP_TARGETS = 'aetherflow.invalid';

/**
 * A channel to `address` (host:port): the server must present a certificate of the CA
 * naming the host dialled (node certificates carry their listeners' IPs and DNS names)
 * and, when `serverNodeId` is given, that node in its SAN URI — a certificate of another
 * node of the same CA is refused. The client presents its own certificate. `options`
 * extends the deployment's channel options.
 *
 * grpc-js sends the dialled host as TLS SNI, and Node warns (DEP0123) on every
 * process's first connection by IP: for an IP target `grpc.ssl_target_name_override`
 * sends a placeholder name instead. The override also changes the name grpc-js hands to
 * the identity check, so the check here uses the host actually dialled.
 */
export function channelSettings(security: TransportSecurity, address: string, options: grpc.ClientOptions, serverNodeId?: string): ChannelSettings {
  if (security === 'insecure') return { credentials: grpc.credentials.createInsecure(), options };
  const host = (parseHostPort(address)?.host ?? address).replace(/^\[(.*)\]$/, '$1');
  const credentials = grpc.experimental.createCertificateProviderChannelCredentials(security, security, {
    checkServerIdentity: (_sni: string, cert: PeerCertificate) => {
      const hostError = checkServerIdentity(host, cert);
      if (hostError !== undefined || serverNodeId === undefined) return hostError;
      const named = nodeIdOf(new X509Certificate(cert.raw));
      return named === serverNodeId ? undefined : new Error(`the server's certificate names node ${named ?? '(none)'}, not ${serverNodeId}`);
    },
  });
  return { credentials, options: isIP(host) === 0 ? options : { ...options, 'grpc.ssl_target_name_override': SNI_FOR_IP_TARGETS } };
}

/** Node ids of the peer certificates seen last, by SHA-256 fingerprint: a data node checks every call, and parsing costs ~0.1 ms. */
const peerIds = new Map<string, string | undefined>();
const PEER_IDS_MAX = 256;

/** The node id the peer's verified client certificate names; undefined for a plaintext call or a certificate naming no node. */
export function peerNodeId(auth: { readonly sslPeerCertificate?: PeerCertificate }): string | undefined {
  const cert = auth.sslPeerCertificate;
  if (cert?.raw === undefined) return undefined;
  if (peerIds.has(cert.fingerprint256)) return peerIds.get(cert.fingerprint256);
  const id = nodeIdOf(new X509Certificate(cert.raw));
  if (peerIds.size >= PEER_IDS_MAX) peerIds.clear();
  peerIds.set(cert.fingerprint256, id);
  return id;
}

/**
 * Node ids by the HTTP/2 session a call came on, i.e. by TLS connection: its client
 * certificate was verified in the handshake and stays for the connection's life, while
 * reading it again (getAuthContext → getPeerCertificate) costs ~18 µs a call. Weak: an
 * entry goes with its connection.
 */
const connectionPeerIds = new WeakMap<object, string | undefined>();

/**
 * peerNodeId of a server call, read once per connection. The connection is grpc-js's
 * base call's `stream.session` — not public API, so where a call does not expose it
 * (another grpc-js, or a call wrapped by an earlier interceptor) the certificate is
 * read on every call instead: slower, never wrong.
 */
export function callPeerNodeId(call: { getAuthContext(): { readonly sslPeerCertificate?: PeerCertificate } }): string | undefined {
  const session = (call as { readonly stream?: { readonly session?: unknown } }).stream?.session;
  if (typeof session !== 'object' || session === null) return peerNodeId(call.getAuthContext());
  if (connectionPeerIds.has(session)) return connectionPeerIds.get(session);
  const id = peerNodeId(call.getAuthContext());
  connectionPeerIds.set(session, id);
  return id;
}
