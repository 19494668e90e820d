import * as grpc from '@grpc/grpc-js';
import type { FeedBatch, FeedOptions } from '../datanode/feed.js';
import type { ApplyRequest, ChangesResult, ChunkResult, KeyRange, ReadResult, RestampRule, StreamState } from '../datanode/store.js';
import type { Version } from '../datanode/version.js';
import type { Glt } from '../glts/glt.js';
import {
  DataNodeClient,
  type DataNodeClientType,
  type WireApplyResponse__Output,
  type WireChangesResponse__Output,
  type WireChunkResponse__Output,
  type WireFeedBatch__Output,
  type WireStreamStateResponse__Output,
  type WireVersion__Output,
} from '../proto/load.js';
import { CHANNEL_OPTIONS } from '../proto/channel-options.js';
import { fromServiceError } from '../proto/status.js';
import { fromTimestamp, toTimestamp } from '../proto/timestamp.js';
import { AetherError } from '../common/errors.js';
import { Batcher } from '../common/batcher.js';
import { channelSettings, type TransportSecurity } from '../security/transport-security.js';

/** Deadline of one call to a data node (LAN), and a Scan's longest wait for its next version: a stuck node fails the request instead of holding it. */
export const DATANODE_CALL_TIMEOUT_MS = 5_000;

type WireGlt = Parameters<typeof fromTimestamp>[0];

/** A GLT the node must have sent: INTERNAL when it did not (a node of another build). */
function sentGlt(t: WireGlt, what: string): Glt {
  const g = fromTimestamp(t);
  if (g === undefined) throw new AetherError('INTERNAL', `data node sent ${what} without a timestamp`);
  return g;
}

export function fromWireVersion(v: WireVersion__Output): Version {
  return { key: v.key, value: v.tombstone ? null : v.value, ts: sentGlt(v.ts, 'a version'), origin: v.origin };
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

/** A data node's feed as its leader reads it: iterate for the batches; `cancel` ends the iteration quietly. */
export interface FeedSubscription extends AsyncIterable<FeedBatch> {
  /** Ends the call (and a pending iteration, without an error). Idempotent. */
  cancel(): void;
}

/**
 * A leader's connection to one of its data nodes (DataNode service), with typed, coded
 * calls. The calls a region's leader makes on every node (changes, apply, streamState,
 * hide, restamp, setMembershipApplied, gc) take and return what the Store's do, so
 * RegionStores runs the same over a connection as over an in-process store.
 */
export class DataNodeConnection {
  private readonly client: DataNodeClientType;
  private readonly writes: Batcher<Mutation, Version>;
  /** Named in errors: a plaintext leader refused by a TLS node only sees the connection fail. */
  private readonly transport: 'plaintext' | 'TLS';

  /** `security`: the leader's own certificate, presented to the node (mutual TLS), whose certificate must name `id`. */
  constructor(
    readonly id: string,
    readonly address: string,
    security: TransportSecurity,
    private readonly timeoutMs = DATANODE_CALL_TIMEOUT_MS,
  ) {
    const channel = channelSettings(security, address, CHANNEL_OPTIONS, id);
    this.client = new DataNodeClient(address, channel.credentials, channel.options);
    this.transport = security === 'insecure' ? 'plaintext' : 'TLS';
    this.writes = new Batcher({
      ...WRITE_BATCHING,
      sizeOf: (m) => m.key.length + (m.value?.length ?? 0),
      send: async (batch) => {
        const res = await this.call<{ versions: WireVersion__Output[] }>('Write', {
          mutations: batch.map((m) => (m.value === null ? { key: m.key, delete: true } : { key: m.key, value: m.value })),
        });
        if (res.versions.length !== batch.length) throw new AetherError('INTERNAL', `data node ${this.id} answered ${res.versions.length} versions to ${batch.length} writes`);
        return res.versions.map((v) => ({ value: fromWireVersion(v) }));
      },
    });
  }

  private context(method: string): string {
    return `data node ${this.id} (${this.address}, ${this.transport}) ${method}`;
  }

  /** `waitForReady`: a node not up yet is waited for (up to the deadline) instead of failing at once. */
  private call<Res>(method: string, req: object, waitForReady = false): Promise<Res> {
    const fn = (this.client as unknown as Record<string, (r: object, o: grpc.CallOptions, cb: (e: grpc.ServiceError | null, r?: Res) => void) => void>)[method]!;
    return new Promise((resolve, reject) => {
      fn.call(this.client, req, { deadline: Date.now() + this.timeoutMs, waitForReady }, (err, res) => (err ? reject(fromServiceError(err, this.context(method))) : resolve(res as Res)));
    });
  }

  put(key: Buffer, value: Buffer): Promise<Version> {
    return this.writes.submit({ key, value });
  }

  delete(key: Buffer): Promise<Version> {
    return this.writes.submit({ key, value: null });
  }

  async get(key: Buffer, t: Glt): Promise<ReadResult | undefined> {
    const res = await this.call<{ found: boolean; version: WireVersion__Output | null }>('Get', { key, glt: toTimestamp(t) });
    if (!res.found || res.version === null) return undefined;
    return fromWireVersion(res.version) as ReadResult;
  }

  /**
   * Live versions ≤ t in key order, streamed; cancel by leaving the loop. No deadline on
   * the whole call (a large scan keeps delivering for as long as it takes): the node must
   * send each next version within the call timeout of being asked for it, or the scan
   * fails TIMEOUT. Time the reader spends between versions does not count.
   */
  async *scan(range: KeyRange, t: Glt, limit: number): AsyncGenerator<ReadResult> {
    const stream = this.client.Scan({ ...rangeFields(range), glt: toTimestamp(t), limit });
    const versions = (stream as AsyncIterable<WireVersion__Output>)[Symbol.asyncIterator]();
    try {
      for (;;) {
        const next = await this.within(versions.next(), 'Scan');
        if (next.done === true) return;
        yield fromWireVersion(next.value) as ReadResult;
      }
    } catch (err) {
      throw fromServiceError(err, this.context('Scan'));
    } finally {
      stream.cancel();
    }
  }

  /** `p`, or TIMEOUT when it does not settle within the call timeout. */
  private within<T>(p: Promise<T>, method: string): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    const expired = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new AetherError('TIMEOUT', `${this.context(method)}: nothing received for ${this.timeoutMs} ms`)), this.timeoutMs);
    });
    return Promise.race([p, expired]).finally(() => clearTimeout(timer));
  }

  /**
   * The node's own-origin versions from `from` on, batch after batch, for as long as the
   * call lasts (no deadline: a feed is meant to last). gRPC's flow control holds the node
   * back while the batches are not taken. Iterate it or cancel it: the call stays open
   * until one of them ends it. Ends when the node ends the stream; fails with the node's
   * coded error or the transport's.
   */
  feed(from: Glt, options: FeedOptions = {}): FeedSubscription {
    const call = this.client.Feed({
      from: toTimestamp(from),
      max_batch_bytes: options.maxBatchBytes ?? 0,
      batch_delay_ms: options.batchDelayMs ?? 0,
      batch_gap_ms: options.batchGapMs ?? 0,
      idle_mark_ms: options.idleMarkMs ?? 0,
      quiet_mark_ms: options.quietMarkMs ?? 0,
      active_for_ms: options.activeForMs ?? 0,
    });
    let cancelled = false;
    let failure: unknown;
    // Keeps the first error: one that comes while nobody iterates (before the first batch
    // is asked for, after the loop left) is neither lost nor an uncaught 'error' event.
    call.on('error', (err: unknown) => (failure ??= err));
    const context = this.context('Feed');
    return {
      cancel: () => {
        cancelled = true;
        call.cancel();
      },
      async *[Symbol.asyncIterator]() {
        try {
          // A call that already failed never ends: do not wait on it.
          if (failure === undefined) {
            for await (const b of call as AsyncIterable<WireFeedBatch__Output>) {
              yield { from: sentGlt(b.from, 'a feed batch'), to: sentGlt(b.to, 'a feed batch'), batch: { raw: b.raw, count: b.count } };
            }
          }
        } catch (err) {
          failure ??= err;
        } finally {
          call.cancel();
        }
        // Our own cancel surfaces as a CANCELLED status: the end we asked for.
        if (failure !== undefined && !cancelled) throw fromServiceError(failure, context);
      },
    };
  }

  /** `origin`'s versions in (from, end] from the node's change index, at most about `maxBytes` (Store.changes). */
  async changes(origin: string, from: Glt, to: Glt, maxBytes: number): Promise<ChangesResult> {
    const res = await this.call<WireChangesResponse__Output>('Changes', { origin, from: toTimestamp(from), to: toTimestamp(to), max_bytes: maxBytes });
    return { versions: { raw: res.raw, count: res.count }, end: sentGlt(res.end, 'a changes end') };
  }

  /** Store.apply on the node: versions, positions and frontier in one atomic write; how many versions it wrote. */
  async apply(request: ApplyRequest): Promise<number> {
    const req = {
      epoch: request.epoch.toString(),
      batches: request.batches.map((b) => ({
        region: b.region,
        to: toTimestamp(b.to),
        raw: b.versions.raw,
        count: b.versions.count,
        horizon: b.horizon ? toTimestamp(b.horizon) : null,
      })),
      frontier: request.frontier ? toTimestamp(request.frontier) : null,
    };
    return (await this.call<WireApplyResponse__Output>('Apply', req)).written;
  }

  /** With `waitForReady`, waits for a node still starting (a new leader's first read of its state) rather than failing. */
  async streamState(o: { readonly waitForReady?: boolean } = {}): Promise<StreamState> {
    const res = await this.call<WireStreamStateResponse__Output>('StreamState', {}, o.waitForReady ?? false);
    return {
      applied: new Map(res.applied.map((p) => [p.region, sentGlt(p.ts, `position of ${p.region}`)])),
      appliedFloor: sentGlt(res.applied_floor, 'an applied floor'),
      frontier: sentGlt(res.frontier, 'a frontier'),
      membershipApplied: res.membership_applied,
      epoch: BigInt(res.epoch),
      horizon: sentGlt(res.horizon, 'a horizon'),
    };
  }

  hide(epoch: bigint, origins: readonly string[], above: Glt, limit: number): Promise<ChunkResult> {
    return this.call<WireChunkResponse__Output>('Hide', { epoch: epoch.toString(), origins, above: toTimestamp(above), limit });
  }

  restamp(epoch: bigint, rule: RestampRule, limit: number): Promise<ChunkResult> {
    const req = { epoch: epoch.toString(), origins: rule.origins, above: toTimestamp(rule.above), up_to: toTimestamp(rule.upTo), floor: toTimestamp(rule.floor), limit };
    return this.call<WireChunkResponse__Output>('Restamp', req);
  }

  /** Makes the node's feeds active (marks at the idle period, not the quiet one) now. */
  async nudge(): Promise<void> {
    await this.call('Nudge', {});
  }

  async setMembershipApplied(epoch: bigint, version: number): Promise<void> {
    await this.call('SetMembershipApplied', { epoch: epoch.toString(), version });
  }

  async gc(horizon: Glt): Promise<number> {
    return Number((await this.call<{ dropped: string }>('Gc', { horizon: toTimestamp(horizon) })).dropped);
  }

  async info(): Promise<{ origin: string; horizon: Glt }> {
    const res = await this.call<{ origin: string; horizon: WireGlt }>('Info', {});
    return { origin: res.origin, horizon: sentGlt(res.horizon, 'a horizon') };
  }

  /** The node's GC horizon (Store.horizon, one call). */
  async horizon(): Promise<Glt> {
    return (await this.info()).horizon;
  }

  shutdown(): void {
    this.client.close();
  }
}
