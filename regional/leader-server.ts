import { KvService as KvServiceDefinition, SnapshotsService } from '../proto/load.js';
import { startServer, type ServerHandle } from '../proto/server.js';
import type { TransportSecurity } from '../security/transport-security.js';
import type { AdmissionGate } from './admission.js';
import { DataNodeConnection } from './datanode-connection.js';
import { Frontier } from './frontier.js';
import { DEFAULT_API_LIMITS, type ApiLimits } from './api-limits.js';
import { KvService, type KvMetrics } from './kv-service.js';
import type { Leadership } from './leadership.js';
import { Router } from './router.js';
import { MemorySnapshotLog, type SnapshotLog } from './snapshot-log.js';
import { snapshotsHandlers } from './snapshots-service.js';

export interface LeaderServerOptions {
  /** host:port to bind (the leader's `grpc` address; port 0 picks one). */
  readonly address: string;
  readonly region: string;
  /** The region's data nodes (topology order does not matter: the router sorts ids). */
  readonly datanodes: readonly { readonly id: string; readonly grpc: string }[];
  readonly frontier?: Frontier;
  readonly snapshotLog?: SnapshotLog;
  /** Limits of the public API (default DEFAULT_API_LIMITS). */
  readonly limits?: ApiLimits;
  /** Standby until the election says otherwise. */
  readonly leadership?: Leadership;
  /** Where KV counts writes_total and reads_total{result} (the leader process's catalog). */
  readonly metrics?: KvMetrics;
  readonly admission?: AdmissionGate;
  /** The leader's certificate: server TLS for clients, and presented to its data nodes. */
  readonly security: TransportSecurity;
}

export interface LeaderServerHandle extends ServerHandle {
  readonly frontier: Frontier;
  readonly snapshotLog: SnapshotLog;
  readonly datanodes: ReadonlyMap<string, DataNodeConnection>;
  readonly router: Router;
  leadership(): Leadership;
  /** Called by the election: won (elected) or lost/following (standby, with the winner's address when known). */
  setLeadership(l: Leadership): void;
}

/** Serves the public KV and Snapshots services of one leader candidate of a region. */
export async function startLeaderServer(o: LeaderServerOptions): Promise<LeaderServerHandle> {
  const router = new Router(o.datanodes.map((d) => d.id));
  const datanodes = new Map(o.datanodes.map((d) => [d.id, new DataNodeConnection(d.id, d.grpc, o.security)] as const));
  const frontier = o.frontier ?? new Frontier();
  const snapshotLog = o.snapshotLog ?? new MemorySnapshotLog();
  /** standby ⇄ elected, driven by setLeadership only. */
  let leadership: Leadership = o.leadership ?? { state: 'standby', leader: null };
  const limits = o.limits ?? DEFAULT_API_LIMITS;
  const kv = new KvService({ region: o.region, router, datanodes, frontier, leadership: () => leadership, limits, ...(o.metrics ? { metrics: o.metrics } : {}), ...(o.admission ? { admission: o.admission } : {}) });
  let server: ServerHandle;
  try {
    // Mutual TLS: a caller proves it holds a certificate of the deployment's CA (the
    // client certificate `up` and `certs create` make, or a node's), as CockroachDB
    // asks of its clients; a CA certificate alone only authenticates the server.
    server = await startServer(o.address, [
      [KvServiceDefinition, kv.handlers()],
      [SnapshotsService, snapshotsHandlers({ region: o.region, log: snapshotLog, leadership: () => leadership, limits })],
    ], { security: o.security, clientCertificates: 'required', requireProtocolVersion: false, maxReceiveMessageBytes: limits.maxRequestBytes, maxSendMessageBytes: limits.maxResponseBytes });
  } catch (err) {
    for (const d of datanodes.values()) d.shutdown();
    throw err;
  }
  return {
    address: server.address,
    port: server.port,
    frontier,
    snapshotLog,
    datanodes,
    router,
    leadership: () => leadership,
    setLeadership(l) {
      leadership = l;
    },
    async close(graceMs) {
      frontier.close();
      await server.close(graceMs);
      for (const d of datanodes.values()) d.shutdown();
    },
  };
}
