import type * as grpc from '@grpc/grpc-js';
import { AetherError, isErrorCode } from '../common/errors.js';
import { Batcher, type Outcome } from '../common/batcher.js';
import { parseGlt, type Glt } from '../glts/glt.js';
import type { GetResponse__Output, KeyValue__Output, ListResponse__Output, SnapshotInfo__Output, WriteResponse__Output } from '../proto/load.js';
import { fromTimestamp, toTimestamp } from '../proto/timestamp.js';
import { fromServiceError } from '../proto/status.js';
import { scanGltOf } from '../regional/kv-service.js';
import { closeSecurity, topologySecurity, type TransportSecurity } from '../security/transport-security.js';
import { loadTopology } from '../topology/load.js';
import type { Topology } from '../topology/types.js';
import { etcdEndpoints } from '../topology/local-etcd.js';
import { DEFAULT_BACKPRESSURE, retryBackpressure, type BackpressurePolicy } from './backpressure.js';
import { LeaderDiscovery } from './leader-discovery.js';
import { DEFAULT_RETRY, RegionLeaders, type LeaderStubs, type RetryPolicy } from './region-leaders.js';

export interface ConnectOptions {
  /** A loaded topology, or the file to load it from (default: $AETHERFLOW_TOPOLOGY, else topology/local.yaml). */
  readonly topology?: Topology;
  readonly topologyFile?: string;
  /** The region calls go to when they name none. */
  readonly region?: string;
  readonly retry?: Partial<RetryPolicy>;
  /** How a write the region refused BACKPRESSURE (not applied) is sent again; defaults: DEFAULT_BACKPRESSURE. */
  readonly backpressure?: Partial<BackpressurePolicy>;
  /**
   * Where to look up elected leaders: etcd endpoints, or false for none. Default: the
   * topology's etcd, or the local one `aetherflow up` published; without any, the client
   * finds leaders by trying the topology's candidates.
   */
  readonly etcd?: { readonly endpoints: readonly string[] } | false;
  /** Deadline of one unary call. */
  readonly callTimeoutMs?: number;
  /**
   * Where ca.crt and client.crt/client.key are (default: the topology's
   * `security.certsDir`); unused when the topology says `security.insecure: true`.
   */
  readonly certsDir?: string;
}

/** A GLT, its text form `<wall>.<logical>`, or "latest" (the region's frontier). */
export type GltInput = Glt | string;
export type Bytes = Buffer | string;

export interface WriteResult {
  readonly key: Buffer;
  readonly ts: Glt;
  readonly origin: string;
}

export interface GetResult {
  readonly key: Buffer;
  readonly found: boolean;
  readonly value?: Buffer;
  readonly version?: Glt;
  readonly origin?: string;
  /** The GLT the read was served at. */
  readonly glt: Glt;
}

export interface ScanRow {
  readonly key: Buffer;
  readonly value: Buffer;
  readonly version: Glt;
  readonly origin: string;
}

export interface SnapshotSummary {
  readonly glt: Glt;
  readonly members: readonly string[];
  readonly durationMs: number;
  readonly phases: readonly { readonly name: string; readonly ms: number }[];
  readonly epoch: bigint;
  readonly committedAtMs: number;
}

export interface RegionOption {
  readonly region?: string;
}
export interface ReadOptions extends RegionOption {
  readonly glt?: GltInput;
  readonly minGlt?: GltInput;
  readonly waitMs?: number;
}
export interface ScanOptions extends ReadOptions {
  readonly prefix?: Bytes;
  readonly start?: Bytes;
  readonly end?: Bytes;
  readonly limit?: number;
}

export const DEFAULT_CALL_TIMEOUT_MS = 10_000;

/** A put, or a delete when `value` is null. */
interface Mutation {
  readonly key: Buffer;
  readonly value: Buffer | null;
}

/**
 * How concurrent puts and deletes to one region are folded into KV.Write calls: at most
 * this many writes or bytes per call and calls in flight, and writes waiting to be sent.
 */
const WRITE_BATCHING = { maxBatchItems: 512, maxBatchBytes: 4 << 20, maxBatchesInFlight: 4, maxQueuedItems: 16_384 } as const;

/** The deployment's etcd endpoints when any are known; none is not an error here (discovery is optional). */
function knownEtcdEndpoints(topology: Topology): string[] {
  try {
    return etcdEndpoints(topology);
  } catch {
    return [];
  }
}

function bytes(b: Bytes): Buffer {
  return typeof b === 'string' ? Buffer.from(b, 'utf8') : b;
}

/** undefined for absent or "latest" (both mean the frontier). */
function gltOf(g: GltInput | undefined): Glt | undefined {
  if (g === undefined || g === 'latest') return undefined;
  return typeof g === 'string' ? parseGlt(g) : g;
}

function toSummary(s: SnapshotInfo__Output): SnapshotSummary {
  return {
    glt: fromTimestamp(s.glt)!,
    members: s.members,
    durationMs: s.duration_ms,
    phases: s.phases.map((p) => ({ name: p.name, ms: p.ms })),
    epoch: BigInt(s.epoch),
    committedAtMs: Number(s.committed_at_ms),
  };
}

function toRow(kv: KeyValue__Output): ScanRow {
  return { key: kv.key, value: kv.value, version: fromTimestamp(kv.version)!, origin: kv.origin };
}

/**
 * A client of an AetherFlow deployment: calls go to each region's elected leader, found
 * from the topology's candidates and followed across failovers.
 */
export class AetherClient {
  readonly topology: Topology;
  private readonly regions = new Map<string, RegionLeaders>();
  private readonly writers = new Map<string, Batcher<Mutation, WriteResult>>();
  private readonly defaultRegion: string | undefined;
  private readonly callTimeoutMs: number;
  private readonly discovery: LeaderDiscovery | undefined;
  private security: TransportSecurity | undefined;
  private readonly backpressure: BackpressurePolicy;
  /** Aborted by close(): ends the backoff of writes waiting to be sent again. */
  private readonly closing = new AbortController();

  constructor(options: ConnectOptions = {}) {
    this.topology = options.topology ?? loadTopology(options.topologyFile ?? (process.env['AETHERFLOW_TOPOLOGY'] || 'topology/local.yaml'));
    const retry = { ...DEFAULT_RETRY, ...options.retry };
    // Loaded at the first call, as connections are made: a client may be made before `up`
    // has created the certificates; a call without them fails CERTIFICATE (and loads again next time).
    const security = (): TransportSecurity =>
      (this.security ??= topologySecurity(this.topology, { client: true }, options.certsDir === undefined ? {} : { certsDir: options.certsDir }));
    const endpoints = options.etcd === false ? [] : (options.etcd?.endpoints ?? knownEtcdEndpoints(this.topology));
    this.discovery = endpoints.length > 0 ? new LeaderDiscovery(this.topology.name, endpoints) : undefined;
    const discovery = this.discovery;
    for (const r of this.topology.regions) this.regions.set(r.name, new RegionLeaders(r, retry, security, discovery && (() => discovery.leaderOf(r.name))));
    this.callTimeoutMs = options.callTimeoutMs ?? DEFAULT_CALL_TIMEOUT_MS;
    this.backpressure = { ...DEFAULT_BACKPRESSURE, ...options.backpressure };
    if (options.region !== undefined) this.leaders(options.region);
    this.defaultRegion = options.region ?? (this.topology.regions.length === 1 ? this.topology.regions[0]!.name : undefined);
  }

  private leaders(region: string | undefined): RegionLeaders {
    const name = region ?? this.defaultRegion;
    if (name === undefined) throw new AetherError('USAGE', `name a region (one of ${[...this.regions.keys()].join(', ')})`);
    const r = this.regions.get(name);
    if (!r) throw new AetherError('UNKNOWN_REGION', `region "${name}" is not in topology ${this.topology.name} (regions: ${[...this.regions.keys()].join(', ')})`, { details: { region: name } });
    return r;
  }

  private unary<Res>(stubs: LeaderStubs, service: 'kv' | 'snapshots', method: string, req: unknown): Promise<Res> {
    const client = stubs[service] as unknown as Record<string, (r: unknown, o: grpc.CallOptions, cb: (e: grpc.ServiceError | null, r?: Res) => void) => void>;
    return new Promise((resolve, reject) => {
      client[method]!.call(stubs[service], req, { deadline: Date.now() + this.callTimeoutMs }, (err, res) => (err ? reject(err) : resolve(res as Res)));
    });
  }

  /** The region's write batcher: its writes go out in KV.Write calls to the elected leader. */
  private writer(region: string | undefined): Batcher<Mutation, WriteResult> {
    const leaders = this.leaders(region);
    let w = this.writers.get(leaders.region.name);
    if (!w) {
      w = new Batcher({
        ...WRITE_BATCHING,
        sizeOf: (m) => m.key.length + (m.value?.length ?? 0),
        send: async (batch) => {
          const mutations = batch.map((m) => (m.value === null ? { key: m.key, delete: true } : { key: m.key, value: m.value }));
          const res = await leaders.call('Write', (s) => this.unary<WriteResponse__Output>(s, 'kv', 'Write', { mutations }), { idempotent: false });
          if (res.outcomes.length !== batch.length) throw new AetherError('INTERNAL', `leader of ${leaders.region.name} answered ${res.outcomes.length} outcomes to ${batch.length} writes`);
          return res.outcomes.map((o, i): Outcome<WriteResult> => {
            if (o.code !== '') return { error: new AetherError(isErrorCode(o.code) ? o.code : 'INTERNAL', o.message, { details: { region: leaders.region.name } }) };
            return { value: { key: batch[i]!.key, ts: fromTimestamp(o.result?.ts)!, origin: o.result!.origin } };
          });
        },
      });
      this.writers.set(leaders.region.name, w);
    }
    return w;
  }

  /**
   * One write through the region's batcher. Refused BACKPRESSURE — the whole call, or this
   * write's outcome — it was not applied, so it is sent again after a backoff (alone or in
   * a later batch), within the client's BackpressurePolicy.
   */
  private write(region: string | undefined, m: Mutation): Promise<WriteResult> {
    const writer = this.writer(region);
    return retryBackpressure(() => writer.submit(m), this.backpressure, this.closing.signal);
  }

  /** Concurrent writes to one region share KV.Write calls; each still gets its own version. */
  async put(key: Bytes, value: Bytes, o: RegionOption = {}): Promise<WriteResult> {
    return this.write(o.region, { key: bytes(key), value: bytes(value) });
  }

  async delete(key: Bytes, o: RegionOption = {}): Promise<WriteResult> {
    return this.write(o.region, { key: bytes(key), value: null });
  }

  async get(key: Bytes, o: ReadOptions = {}): Promise<GetResult> {
    const k = bytes(key);
    const glt = gltOf(o.glt);
    const minGlt = gltOf(o.minGlt);
    const req = { key: k, glt: glt ? toTimestamp(glt) : null, min_glt: minGlt ? toTimestamp(minGlt) : null, wait_ms: o.waitMs ?? 0 };
    const res = await this.leaders(o.region).call('Get', (s) =>
      this.unary<GetResponse__Output>(s, 'kv', 'Get', req),
    );
    const at = fromTimestamp(res.glt)!;
    return res.found ? { key: k, found: true, value: res.value, version: fromTimestamp(res.version)!, origin: res.origin, glt: at } : { key: k, found: false, glt: at };
  }

  /**
   * A range read at one GLT. Resolves once the leader has chosen the GLT (failover is
   * retried until then); the rows then stream in key order.
   */
  async scan(o: ScanOptions = {}): Promise<{ readonly glt: Glt; readonly rows: AsyncIterable<ScanRow> }> {
    const glt = gltOf(o.glt);
    const minGlt = gltOf(o.minGlt);
    const req = {
      prefix: o.prefix !== undefined ? bytes(o.prefix) : Buffer.alloc(0),
      start: o.start !== undefined ? bytes(o.start) : Buffer.alloc(0),
      end: o.end !== undefined ? bytes(o.end) : Buffer.alloc(0),
      glt: glt ? toTimestamp(glt) : null,
      min_glt: minGlt ? toTimestamp(minGlt) : null,
      wait_ms: o.waitMs ?? 0,
      limit: o.limit ?? 0,
    };
    const leaders = this.leaders(o.region);
    return leaders.call('Scan', (s) => {
      const call = s.kv.Scan(req);
      return new Promise((resolve, reject) => {
        const fail = (err: unknown) => reject(err);
        call.once('error', fail);
        call.once('metadata', (md: grpc.Metadata) => {
          call.off('error', fail);
          const text = scanGltOf(md);
          if (text === undefined) {
            call.cancel();
            reject(new AetherError('INTERNAL', 'the leader did not say which GLT the scan reads at'));
            return;
          }
          const where = `Scan at ${leaders.region.name} leader ${s.address}`;
          resolve({
            glt: parseGlt(text),
            rows: (async function* () {
              try {
                for await (const kv of call as AsyncIterable<KeyValue__Output>) yield toRow(kv);
              } catch (err) {
                throw fromServiceError(err, where);
              } finally {
                call.cancel();
              }
            })(),
          });
        });
      });
    });
  }

  /** The newest committed snapshot (SNAPSHOT_NOT_READY when none yet). */
  async latestSnapshot(o: RegionOption = {}): Promise<SnapshotSummary> {
    return toSummary(await this.snapshotLeaders(o.region).call('Latest', (s) => this.unary<SnapshotInfo__Output>(s, 'snapshots', 'Latest', {})));
  }

  /** Committed snapshots, newest first. */
  async snapshots(o: RegionOption & { readonly limit?: number } = {}): Promise<SnapshotSummary[]> {
    const res = await this.snapshotLeaders(o.region).call('List', (s) => this.unary<ListResponse__Output>(s, 'snapshots', 'List', { limit: o.limit ?? 0 }));
    return res.snapshots.map(toSummary);
  }

  /** Every snapshot committed from now on; leave the loop to stop watching. Not resumed across a failover: watch again. */
  async *watchSnapshots(o: RegionOption = {}): AsyncGenerator<SnapshotSummary> {
    const leaders = this.snapshotLeaders(o.region);
    const call = await leaders.call('Watch', async (s) => s.snapshots.Watch({}));
    try {
      for await (const info of call as AsyncIterable<SnapshotInfo__Output>) yield toSummary(info);
    } catch (err) {
      throw fromServiceError(err, `Watch at ${leaders.region.name}`);
    } finally {
      call.cancel();
    }
  }

  /** Snapshots are global: any region's leader answers; the default region, else the first. */
  private snapshotLeaders(region: string | undefined): RegionLeaders {
    return this.leaders(region ?? this.defaultRegion ?? this.topology.regions[0]!.name);
  }

  close(): void {
    this.closing.abort();
    for (const r of this.regions.values()) r.close();
    this.discovery?.close();
    if (this.security !== undefined) closeSecurity(this.security);
  }
}

/** `import { connect } from 'aetherflow'`: a client of the deployment the topology describes. */
export function connect(options: ConnectOptions = {}): AetherClient {
  return new AetherClient(options);
}
