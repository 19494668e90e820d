import type * as grpc from '@grpc/grpc-js';
import { topologyEtcdCredentials } from '../cluster/etcd.js';
import type { EtcdCredentials } from '../topology/etcd-credentials.js';
import { AetherError, isErrorCode } from '../common/errors.js';
import { Batcher, type Outcome } from '../common/batcher.js';
import { compareGlt, parseGlt, type Glt } from '../glts/glt.js';
import type { GetResponse__Output, KeyValue__Output, ListResponse__Output, ScanRequest, SnapshotInfo__Output, WriteResponse__Output } from '../proto/load.js';
import { fromTimestamp, toTimestamp } from '../proto/timestamp.js';
import { fromServiceError } from '../proto/status.js';
import { prefixSuccessor } from '../datanode/keys.js';
import { DEFAULT_API_LIMITS } from '../regional/api-limits.js';
import { SCAN_RESUME_KEY, scanGltOf } from '../regional/kv-service.js';
import { closeSecurity, topologySecurity, type TransportSecurity } from '../security/transport-security.js';
import { loadTopology } from '../topology/load.js';
import type { Topology } from '../topology/types.js';
import { etcdEndpoints } from '../topology/local-etcd.js';
import { DEFAULT_BACKPRESSURE, retryBackpressure, type BackpressurePolicy } from './backpressure.js';
import { LeaderDiscovery } from './leader-discovery.js';
import { DEFAULT_RETRY, RegionLeaders, type LeaderStubs, type RetryPolicy } from './region-leaders.js';
import { SessionNotReadyError } from './session-not-ready-error.js';
import { SessionTimestamp } from './session-timestamp.js';

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
   * finds leaders by trying the topology's candidates. The topology's etcd is reached
   * with its `security.etcd` credentials; endpoints given here with `credentials`, if any.
   */
  readonly etcd?: { readonly endpoints: readonly string[]; readonly credentials?: EtcdCredentials } | false;
  /** Deadline of one unary call. */
  readonly callTimeoutMs?: number;
  /**
   * Where ca.crt and client.crt/client.key are (default: the topology's
   * `security.certsDir`); unused when the topology says `security.insecure: true`.
   */
  readonly certsDir?: string;
  /**
   * Read-your-writes (default true): every read that names no GLT (the frontier, "latest")
   * is made at or above the session's timestamp (`sessionGlt`: the highest commit timestamp
   * of this client's acknowledged writes, in any region, and of the GLTs it was told to
   * `observe`), so the program always sees its own writes, in every region — the session
   * guarantee of MongoDB's causal sessions. The cost: a read right after a write waits for
   * the first snapshot covering the write to reach the region read from, about one
   * `snapshot.intervalMs` (50 ms in topology/local.yaml) plus the replication to that region;
   * a region that cannot reach it in time fails the read SNAPSHOT_NOT_READY. Reads with
   * an explicit `glt` are served at that GLT, even below the session's timestamp. false:
   * reads at the frontier as it is (the timestamp is still kept); per read:
   * `ReadOptions.readYourWrites`.
   */
  readonly readYourWrites?: boolean;
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
  /** Read at this GLT, as given (the session's timestamp does not apply); "latest" or absent: the frontier. */
  readonly glt?: GltInput;
  /** Read at the frontier once it reaches this (with read-your-writes, the higher of this and the session's timestamp). */
  readonly minGlt?: GltInput;
  /**
   * How long the region may wait for its frontier to reach `glt` or `minGlt`. Default 0,
   * or, when the session's timestamp applies, most of the call's deadline (`callTimeoutMs`
   * less a margin for the answer to arrive).
   */
  readonly waitMs?: number;
  /** Overrides the client's `readYourWrites` for this read. */
  readonly readYourWrites?: boolean;
}
export interface ScanOptions extends ReadOptions {
  readonly prefix?: Bytes;
  readonly start?: Bytes;
  readonly end?: Bytes;
  readonly limit?: number;
}

export const DEFAULT_CALL_TIMEOUT_MS = 10_000;
/** What a read waiting for the session's timestamp leaves of its call's deadline for the answer (at most a quarter of the deadline). */
const SESSION_WAIT_MARGIN_MS = 1_000;
/** How long a scan's next page may wait for its GLT: a leader that took over between pages may trail it for a moment. */
const NEXT_PAGE_WAIT_MS = 1_000;

/** A put, or a delete when `value` is null. */
interface Mutation {
  readonly key: Buffer;
  readonly value: Buffer | null;
}

/** What protobuf framing adds to one mutation's key and value at most: tags, length varints, the delete flag. */
const MUTATION_FRAMING_BYTES = 16;
const MAX_WRITE_BATCH_ITEMS = 512;
/**
 * How concurrent puts and deletes to one region are folded into KV.Write calls: at most
 * this many writes or bytes per call and calls in flight, and writes waiting to be sent.
 * A call with its framing stays within the public API's request size.
 */
const WRITE_BATCHING = {
  maxBatchItems: MAX_WRITE_BATCH_ITEMS,
  maxBatchBytes: DEFAULT_API_LIMITS.maxRequestBytes - MAX_WRITE_BATCH_ITEMS * MUTATION_FRAMING_BYTES,
  maxBatchesInFlight: 4,
  maxQueuedItems: 16_384,
} as const;

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
  private readonly session = new SessionTimestamp();
  private readonly readYourWrites: boolean;
  /** A read's default wait when the session's timestamp applies: the call's deadline less the margin, within the server's limit. */
  private readonly sessionWaitMs: number;

  constructor(options: ConnectOptions = {}) {
    this.topology = options.topology ?? loadTopology(options.topologyFile ?? (process.env['AETHERFLOW_TOPOLOGY'] || 'topology/local.yaml'));
    const retry = { ...DEFAULT_RETRY, ...options.retry };
    // Loaded at the first call, as connections are made: a client may be made before `up`
    // has created the certificates; a call without them fails CERTIFICATE (and loads again next time).
    const security = (): TransportSecurity =>
      (this.security ??= topologySecurity(this.topology, { client: true }, options.certsDir === undefined ? {} : { certsDir: options.certsDir }));
    const endpoints = options.etcd === false ? [] : (options.etcd?.endpoints ?? knownEtcdEndpoints(this.topology));
    const credentials = options.etcd === undefined ? topologyEtcdCredentials(this.topology) : options.etcd === false ? undefined : options.etcd.credentials;
    this.discovery = endpoints.length > 0 ? new LeaderDiscovery(this.topology.name, endpoints, credentials) : undefined;
    const discovery = this.discovery;
    for (const r of this.topology.regions) this.regions.set(r.name, new RegionLeaders(r, retry, security, discovery && (() => discovery.leaderOf(r.name))));
    this.callTimeoutMs = options.callTimeoutMs ?? DEFAULT_CALL_TIMEOUT_MS;
    this.backpressure = { ...DEFAULT_BACKPRESSURE, ...options.backpressure };
    this.readYourWrites = options.readYourWrites ?? true;
    const margin = Math.min(SESSION_WAIT_MARGIN_MS, Math.floor(this.callTimeoutMs / 4));
    this.sessionWaitMs = Math.max(0, Math.min(DEFAULT_API_LIMITS.maxWaitMs, this.callTimeoutMs - margin));
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
  private async write(region: string | undefined, m: Mutation): Promise<WriteResult> {
    const writer = this.writer(region);
    const result = await retryBackpressure(() => writer.submit(m), this.backpressure, this.closing.signal);
    this.session.observe(result.ts);
    return result;
  }

  /**
   * The session's timestamp: the highest commit timestamp of this client's acknowledged
   * writes and of the GLTs given to `observe`; undefined before either. Hand it to another
   * client's `observe` to pass causality on (what one program wrote, the other then reads).
   */
  get sessionGlt(): Glt | undefined {
    return this.session.current;
  }

  /**
   * Raises the session's timestamp to `glt` (never lowers it): later reads at the frontier
   * are made at or above it, as if this client had written at `glt`.
   */
  observe(glt: GltInput): void {
    const g = gltOf(glt);
    if (g === undefined) throw new AetherError('USAGE', 'observe needs a GLT, not "latest": e.g. another client\'s sessionGlt, a write\'s ts or a read\'s glt');
    this.session.observe(g);
  }

  /**
   * What a read asks for. An explicit `glt` is the caller's choice and goes as is. Else, with
   * read-your-writes, min_glt is the higher of `minGlt` and the session's timestamp and the
   * read waits for it (`sessionWaitMs` unless told); `sessionFloor` is set when the session's
   * timestamp is the higher, so a read that runs out of wait says why it waited.
   */
  private readAt(o: ReadOptions): { readonly glt?: Glt; readonly minGlt?: Glt; readonly waitMs: number; readonly sessionFloor?: Glt } {
    const glt = gltOf(o.glt);
    const minGlt = gltOf(o.minGlt);
    const session = glt === undefined && (o.readYourWrites ?? this.readYourWrites) ? this.session.current : undefined;
    if (session === undefined) return { ...(glt && { glt }), ...(minGlt && { minGlt }), waitMs: o.waitMs ?? 0 };
    const waitMs = o.waitMs ?? this.sessionWaitMs;
    return minGlt !== undefined && compareGlt(minGlt, session) >= 0 ? { minGlt, waitMs } : { minGlt: session, waitMs, sessionFloor: session };
  }

  /** `read`, with SNAPSHOT_NOT_READY told as the session's timestamp not reached when that was the floor. */
  private async sessionRead<T>(leaders: RegionLeaders, sessionFloor: Glt | undefined, read: Promise<T>): Promise<T> {
    try {
      return await read;
    } catch (err) {
      if (sessionFloor !== undefined && err instanceof AetherError && err.code === 'SNAPSHOT_NOT_READY') throw new SessionNotReadyError(leaders.region.name, sessionFloor, err);
      throw err;
    }
  }

  /** Concurrent writes to one region share KV.Write calls; each still gets its own version. */
  async put(key: Bytes, value: Bytes, o: RegionOption = {}): Promise<WriteResult> {
    return this.write(o.region, { key: bytes(key), value: bytes(value) });
  }

  async delete(key: Bytes, o: RegionOption = {}): Promise<WriteResult> {
    return this.write(o.region, { key: bytes(key), value: null });
  }

  /** A read of one key; see ConnectOptions.readYourWrites for which GLT it is made at. */
  async get(key: Bytes, o: ReadOptions = {}): Promise<GetResult> {
    const k = bytes(key);
    const at = this.readAt(o);
    const req = { key: k, glt: at.glt ? toTimestamp(at.glt) : null, min_glt: at.minGlt ? toTimestamp(at.minGlt) : null, wait_ms: at.waitMs };
    const leaders = this.leaders(o.region);
    const res = await this.sessionRead(leaders, at.sessionFloor, leaders.call('Get', (s) => this.unary<GetResponse__Output>(s, 'kv', 'Get', req)));
    const served = fromTimestamp(res.glt)!;
    return res.found ? { key: k, found: true, value: res.value, version: fromTimestamp(res.version)!, origin: res.origin, glt: served } : { key: k, found: false, glt: served };
  }

  /**
   * A range read at one GLT. Resolves once the leader has chosen the GLT (failover is
   * retried until then); the rows then stream in key order. The leader answers a scan in
   * pages (regional/api-limits.ts): the next page is asked for, at the same GLT, from
   * where the last one stopped, until the range or `limit` is exhausted. The GLT is chosen
   * as a get's is (ConnectOptions.readYourWrites).
   */
  async scan(o: ScanOptions = {}): Promise<{ readonly glt: Glt; readonly rows: AsyncIterable<ScanRow> }> {
    const at = this.readAt(o);
    const prefix = o.prefix !== undefined ? bytes(o.prefix) : Buffer.alloc(0);
    const end = o.end !== undefined ? bytes(o.end) : Buffer.alloc(0);
    const limit = o.limit ?? 0;
    const leaders = this.leaders(o.region);
    const first = await this.sessionRead(
      leaders,
      at.sessionFloor,
      this.scanPage(leaders, {
        prefix,
        start: o.start !== undefined ? bytes(o.start) : Buffer.alloc(0),
        end,
        glt: at.glt ? toTimestamp(at.glt) : null,
        min_glt: at.minGlt ? toTimestamp(at.minGlt) : null,
        wait_ms: at.waitMs,
        limit,
      }),
    );
    // The rest of a prefix, from a key on: [key, the prefix's successor), or to the end when it has none (all 0xff).
    const restEnd = prefix.length > 0 ? (prefixSuccessor(prefix) ?? Buffer.alloc(0)) : end;
    const next = (start: Buffer, left: number) =>
      this.scanPage(leaders, { prefix: Buffer.alloc(0), start, end: restEnd, glt: toTimestamp(first.glt), min_glt: null, wait_ms: NEXT_PAGE_WAIT_MS, limit: left });
    return {
      glt: first.glt,
      rows: (async function* () {
        let left = limit;
        for (let page = first; ; ) {
          let rows = 0;
          for await (const row of page.rows) {
            rows++;
            yield row;
          }
          const resume = await page.resume;
          left -= rows;
          if (resume === undefined || (limit > 0 && left <= 0)) return;
          page = await next(resume, limit > 0 ? left : 0);
        }
      })(),
    };
  }

  /** One Scan call: the GLT the leader chose, the page's rows, and where the next page starts when the leader stopped at a page's end. */
  private scanPage(leaders: RegionLeaders, req: ScanRequest): Promise<{ readonly glt: Glt; readonly rows: AsyncIterable<ScanRow>; readonly resume: Promise<Buffer | undefined> }> {
    return leaders.call('Scan', (s) => {
      const call = s.kv.Scan(req);
      const resume = new Promise<Buffer | undefined>((resolve) =>
        call.once('status', (st: grpc.StatusObject) => {
          const key = st.metadata.get(SCAN_RESUME_KEY)[0];
          resolve(Buffer.isBuffer(key) ? key : undefined);
        }),
      );
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
            resume,
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
