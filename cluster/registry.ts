import type { Etcd3, Lease } from 'etcd3';
import { AetherError } from '../common/errors.js';
import { silentLogger, type Logger } from '../common/log.js';
import { etcdCall, etcdError, watchPrefixReads } from './etcd.js';
import type { ClusterPaths } from './paths.js';

export type ServiceRole = 'datanode' | 'leader' | 'coordinator';

/** What a running process publishes about itself at services/<role>/<id>. */
export interface ServiceRecord {
  readonly role: ServiceRole;
  readonly id: string;
  readonly region?: string;
  readonly grpc?: string;
  readonly metrics?: string;
  readonly pid: number;
  readonly startedAt: string;
  /** Small, occasionally refreshed facts for `status` (e.g. a leader's frontier); bounded by the writer. */
  readonly status?: Readonly<Record<string, unknown>>;
}

/**
 * One process's entry in the service registry, on its own lease: when the process dies
 * the lease expires and the entry drops out. A lost lease (etcd unreachable for a TTL)
 * is replaced by a new one as soon as etcd answers again.
 */
export class ServiceRegistration {
  /** Invariant: `lease` is the lease the entry was last written on, undefined only once closed. */
  private lease: Lease | undefined;
  private record: ServiceRecord;
  private closed = false;
  private retryDelayMs = 100;
  private retryTimer: NodeJS.Timeout | undefined;

  private constructor(
    private readonly client: Etcd3,
    private readonly key: string,
    record: ServiceRecord,
    private readonly ttlSec: number,
    private readonly log: Logger,
  ) {
    this.record = record;
  }

  static async register(
    client: Etcd3,
    paths: ClusterPaths,
    record: ServiceRecord,
    options: { ttlSec?: number; log?: Logger } = {},
  ): Promise<ServiceRegistration> {
    const reg = new ServiceRegistration(client, paths.service(record.role, record.id), record, options.ttlSec ?? 2, options.log ?? silentLogger());
    await reg.writeOnNewLease();
    return reg;
  }

  /** Replaces the `status` part of the record (keep it small; callers rate-limit). */
  async update(status: Readonly<Record<string, unknown>>): Promise<void> {
    if (this.closed) return;
    this.record = { ...this.record, status };
    const lease = this.lease;
    if (!lease || lease.revoked()) return; // the re-registration will carry it
    await etcdCall('update registration', () => lease.put(this.key).value(JSON.stringify(this.record)).exec());
  }

  /** Removes the entry now (rather than after the TTL). Never throws. */
  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.retryTimer);
    const lease = this.lease;
    this.lease = undefined;
    await lease?.revoke().catch((err: unknown) => this.log.warn({ err: etcdError('revoke registration', err) }, 'entry stays until its lease expires'));
  }

  private async writeOnNewLease(): Promise<void> {
    const lease = this.client.lease(this.ttlSec);
    lease.on('lost', (err) => {
      if (this.closed || lease !== this.lease) return;
      this.log.warn({ err: etcdError('registration lease', err) }, 'registration lease lost; registering again');
      this.scheduleRetry();
    });
    this.lease = lease;
    try {
      await lease.put(this.key).value(JSON.stringify(this.record)).exec();
      this.retryDelayMs = 100;
    } catch (err) {
      lease.release();
      throw etcdError('register service', err);
    }
  }

  private scheduleRetry(): void {
    const delayMs = this.retryDelayMs;
    this.retryDelayMs = Math.min(delayMs * 2, 2000);
    this.retryTimer = setTimeout(() => {
      if (this.closed) return;
      this.writeOnNewLease().catch(() => this.scheduleRetry());
    }, delayMs);
  }
}

function parseRecord(key: string, value: Buffer): ServiceRecord {
  try {
    const r = JSON.parse(value.toString('utf8')) as ServiceRecord;
    if (typeof r.id === 'string' && typeof r.role === 'string') return r;
  } catch (err) {
    throw new AetherError('ETCD', `malformed service record at ${key}`, { cause: err });
  }
  throw new AetherError('ETCD', `service record at ${key} has no id or role`);
}

/** Every registered service (of one role, if given), sorted by role then id. */
export async function listServices(client: Etcd3, paths: ClusterPaths, role?: ServiceRole): Promise<ServiceRecord[]> {
  const prefix = role ? paths.servicePrefix(role) : paths.servicesPrefix;
  const kvs = await etcdCall('list services', () => client.getAll().prefix(prefix).exec());
  return kvs.kvs
    .map((kv) => parseRecord(kv.key.toString(), kv.value))
    .sort((a, b) => (a.role === b.role ? a.id.localeCompare(b.id) : a.role.localeCompare(b.role)));
}

/**
 * Calls `onChange` with the full list now and after every change (registration,
 * update, expiry). Returns the function that stops watching.
 */
export async function watchServices(
  client: Etcd3,
  paths: ClusterPaths,
  onChange: (services: ServiceRecord[]) => void,
  log: Logger = silentLogger(),
): Promise<() => Promise<void>> {
  return watchPrefixReads(client, paths.servicesPrefix, 'services', () => listServices(client, paths), onChange, log);
}
