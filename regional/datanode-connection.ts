import * as grpc from '@grpc/grpc-js';
import type { KeyRange, ReadResult } from '../datanode/store.js';
import type { Version } from '../datanode/version.js';
import type { Glt } from '../glts/glt.js';
import { DataNodeClient, type DataNodeClientType, type WireVersion__Output } from '../proto/load.js';
import { CHANNEL_OPTIONS } from '../proto/channel-options.js';
import { fromServiceError } from '../proto/status.js';
import { fromTimestamp, toTimestamp } from '../proto/timestamp.js';
import { AetherError } from '../common/errors.js';
import { Batcher } from '../common/batcher.js';

/** Deadline of one call to a data node (LAN): a stuck node fails the request instead of holding it. */
export const DATANODE_CALL_TIMEOUT_MS = 5_000;

export function fromWireVersion(v: WireVersion__Output): Version {
  const ts = fromTimestamp(v.ts);
  if (ts === undefined) throw new AetherError('INTERNAL', 'data node sent a version without a timestamp');
  return { key: v.key, value: v.tombstone ? null : v.value, ts, origin: v.origin };
}

function rangeFields(range: KeyRange) {
  return 'prefix' in range ? { prefix: range.prefix } : { start: range.start, end: range.end ?? Buffer.alloc(0) };
}

/** A local write to a data node: a put, or a delete when `value` is null. */
interface Mutation {
  readonly key: Buffer;
  readonly value: Buffer | null;
}

/** How the leader folds concurrent client writes into Write calls to one data node. */
const WRITE_BATCHING = { maxBatchItems: 512, maxBatchBytes: 4 << 20, maxBatchesInFlight: 4, maxQueuedItems: 16_384 } as const;

/** A leader's connection to one of its data nodes (DataNode service), with typed, coded calls. */
export class DataNodeConnection {
  private readonly client: DataNodeClientType;
  private readonly writes: Batcher<Mutation, Version>;

  constructor(
    readonly id: string,
    readonly address: string,
    private readonly timeoutMs = DATANODE_CALL_TIMEOUT_MS,
  ) {
    this.client = new DataNodeClient(address, grpc.credentials.createInsecure(), CHANNEL_OPTIONS);
    this.writes = new Batcher({
      ...WRITE_BATCHING,
      sizeOf: (m) => m.key.length + (m.value?.length ?? 0),
      send: async (batch) => {
        const res = await this.call<unknown, { versions: WireVersion__Output[] }>('Write', {
          mutations: batch.map((m) => (m.value === null ? { key: m.key, delete: true } : { key: m.key, value: m.value })),
        });
        if (res.versions.length !== batch.length) throw new AetherError('INTERNAL', `data node ${this.id} answered ${res.versions.length} versions to ${batch.length} writes`);
        return res.versions.map((v) => ({ value: fromWireVersion(v) }));
      },
    });
  }

  /** `waitForReady`: a node not up yet is waited for (up to the deadline) instead of failing at once. */
  private call<Req, Res>(method: string, req: Req, waitForReady = false): Promise<Res> {
    const fn = (this.client as unknown as Record<string, (r: Req, o: grpc.CallOptions, cb: (e: grpc.ServiceError | null, r?: Res) => void) => void>)[method]!;
    return new Promise((resolve, reject) => {
      fn.call(this.client, req, { deadline: Date.now() + this.timeoutMs, waitForReady }, (err, res) =>
        err ? reject(fromServiceError(err, `data node ${this.id} (${this.address}) ${method}`)) : resolve(res as Res),
      );
    });
  }

  put(key: Buffer, value: Buffer): Promise<Version> {
    return this.writes.submit({ key, value });
  }

  delete(key: Buffer): Promise<Version> {
    return this.writes.submit({ key, value: null });
  }

  async get(key: Buffer, t: Glt): Promise<ReadResult | undefined> {
    const res = await this.call<unknown, { found: boolean; version: WireVersion__Output | null }>('Get', { key, glt: toTimestamp(t) });
    if (!res.found || res.version === null) return undefined;
    return fromWireVersion(res.version) as ReadResult;
  }

  /** Live versions ≤ t in key order, streamed; cancel by leaving the loop. */
  async *scan(range: KeyRange, t: Glt, limit: number): AsyncGenerator<ReadResult> {
    const stream = this.client.Scan({ ...rangeFields(range), glt: toTimestamp(t), limit }, { deadline: Date.now() + this.timeoutMs });
    try {
      for await (const v of stream as AsyncIterable<WireVersion__Output>) yield fromWireVersion(v) as ReadResult;
    } catch (err) {
      throw fromServiceError(err, `data node ${this.id} (${this.address}) Scan`);
    } finally {
      stream.cancel();
    }
  }

  /** close(to) on the node; with `from`, also its own versions (every origin's with `allOrigins`) in (from, to] as a delta. */
  async close(to: Glt, from?: Glt, options: { readonly allOrigins?: boolean } = {}): Promise<{ delta: Buffer; versions: number }> {
    return this.call('Close', { to: toTimestamp(to), from: from ? toTimestamp(from) : null, want_delta: from !== undefined, all_origins: options.allOrigins ?? false });
  }

  /** Applies `delta` (may be empty), then gc to `gcHorizon`, then raises each `raiseMeta` value (never lowers it): one round trip. */
  async applyDelta(delta: Buffer, o: { readonly gcHorizon?: Glt; readonly raiseMeta?: readonly { readonly name: string; readonly value: Glt }[] } = {}): Promise<number> {
    const req = {
      delta,
      gc_horizon: o.gcHorizon ? toTimestamp(o.gcHorizon) : null,
      raise_meta: (o.raiseMeta ?? []).map((m) => ({ name: m.name, value: toTimestamp(m.value) })),
    };
    return (await this.call<unknown, { versions: number }>('ApplyDelta', req)).versions;
  }

  async gc(horizon: Glt): Promise<number> {
    return Number((await this.call<unknown, { dropped: string }>('Gc', { horizon: toTimestamp(horizon) })).dropped);
  }

  async restamp(after: Glt): Promise<{ delta: Buffer; versions: number }> {
    return this.call('Restamp', { after: toTimestamp(after) });
  }

  /** With `waitForReady`, waits for a node still starting (a leader's first read of its state) rather than failing. */
  async getMeta(name: string, o: { readonly waitForReady?: boolean } = {}): Promise<Glt | undefined> {
    const res = await this.call<unknown, { found: boolean; value: Parameters<typeof fromTimestamp>[0] }>('GetMeta', { name }, o.waitForReady ?? false);
    return res.found ? fromTimestamp(res.value) : undefined;
  }

  async setMeta(name: string, value: Glt): Promise<void> {
    await this.call('SetMeta', { name, value: toTimestamp(value) });
  }

  async info(): Promise<{ origin: string; horizon: Glt | undefined }> {
    const res = await this.call<unknown, { origin: string; horizon: Parameters<typeof fromTimestamp>[0] }>('Info', {});
    return { origin: res.origin, horizon: fromTimestamp(res.horizon) };
  }

  shutdown(): void {
    // Not `this.client.close()`: proto-loader adds a lower-case alias of every method, so
    // on this client `close` is the Close RPC.
    grpc.Client.prototype.close.call(this.client);
  }
}
