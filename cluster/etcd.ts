import { ConsecutiveBreaker, ExponentialBackoff, circuitBreaker, handleWhen, retry } from 'cockatiel';
import { Etcd3, isRecoverableError } from 'etcd3';
import { AetherError } from '../common/errors.js';
import type { Logger } from '../common/log.js';
import { etcdEndpoints } from '../topology/local-etcd.js';
import type { Topology } from '../topology/types.js';
import { NO_ETCD_CREDENTIALS, loadEtcdCredentials, type EtcdCredentials } from '../topology/etcd-credentials.js';

export type { Etcd3 } from 'etcd3';

/** The boundary for etcd failures: anything the etcd3 client throws becomes code ETCD, the original kept as cause. */
export function etcdError(op: string, err: unknown): AetherError {
  if (err instanceof AetherError) return err;
  const msg = err instanceof Error ? err.message : String(err);
  return new AetherError('ETCD', `etcd ${op} failed: ${msg}`, { cause: err });
}

/** Runs one etcd operation, translating its failure (see etcdError). */
export async function etcdCall<T>(op: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    throw etcdError(op, err);
  }
}

/** `127.0.0.1:2379` or `http://127.0.0.1:2379` → the URL the client dials. */
export function endpointUrl(endpoint: string): string {
  return /^https?:\/\//.test(endpoint) ? endpoint : `http://${endpoint}`;
}

export interface EtcdConnectOptions {
  readonly dialTimeoutMs?: number;
  /** TLS material and/or a user (default none: plaintext, no auth). */
  readonly credentials?: EtcdCredentials;
}

/**
 * A client for the given endpoints. The etcd3 defaults (a 5 s circuit breaker per host,
 * watch reconnect backoff up to 30 s) would stretch a leader failover far past the
 * 1 s lease TTL, so both are shortened. Creating the client does not dial; the first
 * call does, and fails with ETCD when no endpoint answers within `dialTimeoutMs`. With
 * TLS credentials every endpoint is dialled over TLS, whatever its scheme says.
 */
export function connectEtcd(endpoints: readonly string[], options: EtcdConnectOptions = {}): Etcd3 {
  if (endpoints.length === 0) throw new AetherError('ETCD', 'no etcd endpoints (is `aetherflow up` running, or does the topology name etcd.endpoints?)');
  const { tls, auth } = options.credentials ?? NO_ETCD_CREDENTIALS;
  return new Etcd3({
    hosts: endpoints.map(endpointUrl),
    ...(tls ? { credentials: { ...tls } } : {}),
    ...(auth ? { auth: { ...auth } } : {}),
    dialTimeout: options.dialTimeoutMs ?? 3000,
    faultHandling: {
      host: () => circuitBreaker(handleWhen(isRecoverableError), { halfOpenAfter: 300, breaker: new ConsecutiveBreaker(5) }),
      global: retry(handleWhen(isRecoverableError), { maxAttempts: 3, backoff: new ExponentialBackoff({ initialDelay: 50, maxDelay: 500 }) }),
      // etcd3 calls next() on this to get its first delay, and again after each reconnect.
      watchBackoff: new ExponentialBackoff({ initialDelay: 25, maxDelay: 1000 }).next(),
    },
  });
}

/**
 * The credentials for the etcd a topology uses: `security.etcd`'s for an external etcd
 * (etcd.endpoints), none for the local etcd of `up` (plaintext on loopback). Reads the
 * files now: TOPOLOGY_INVALID naming the one that cannot be read.
 */
export function topologyEtcdCredentials(topology: Pick<Topology, 'etcd' | 'security'>): EtcdCredentials {
  return topology.etcd.endpoints.length > 0 ? loadEtcdCredentials(topology.security.etcd) : NO_ETCD_CREDENTIALS;
}

/** A client of the etcd a topology uses (its endpoints, or the local etcd `up` published), with its credentials. */
export function connectTopologyEtcd(topology: Pick<Topology, 'name' | 'etcd' | 'security'>, options: Omit<EtcdConnectOptions, 'credentials'> = {}): Etcd3 {
  return connectEtcd(etcdEndpoints(topology), { ...options, credentials: topologyEtcdCredentials(topology) });
}

/**
 * Watches `prefix` and, now and after every change (and every watch reconnect, after
 * which changes may have been missed), calls `read` and hands the result to `onValue`.
 * One read at a time, so an older read never overwrites a newer one; a failed read is
 * logged and waits for the next change. Resolves after the first read; returns the
 * function that stops watching.
 */
export async function watchPrefixReads<T>(
  client: Etcd3,
  prefix: string,
  what: string,
  read: () => Promise<T>,
  onValue: (value: T) => void,
  log: Logger,
): Promise<() => Promise<void>> {
  let closed = false;
  let chain: Promise<void> = Promise.resolve();
  const refresh = async (): Promise<void> => {
    try {
      const value = await read();
      if (!closed) onValue(value);
    } catch (err) {
      log.warn({ err }, `reading the ${what} failed; waiting for the next change`);
    }
  };
  const queue = (): void => {
    chain = chain.then(refresh);
  };
  const watcher = await etcdCall(`watch ${what}`, () => client.watch().prefix(prefix).create());
  watcher.on('put', queue);
  watcher.on('delete', queue);
  watcher.on('connected', queue);
  watcher.on('error', (err) => log.warn({ err: etcdError(`${what} watch`, err) }, `${what} watch failed`));
  queue();
  await chain;
  return async () => {
    closed = true;
    await watcher.cancel().catch(() => {});
  };
}
