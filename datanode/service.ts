import * as grpc from '@grpc/grpc-js';
import { AetherError } from '../common/errors.js';
import type { Glt } from '../glts/glt.js';
import { DataNodeService, type DataNodeHandlers, type WireFeedBatch, type WireVersion } from '../proto/load.js';
import { drained } from '../proto/drained.js';
import { toServiceError } from '../proto/status.js';
import { fromTimestamp, toTimestamp } from '../proto/timestamp.js';
import { startServer, type ServerHandle } from '../proto/server.js';
import type { TransportSecurity } from '../security/transport-security.js';
import { entryBounds, type VersionBatch } from './delta.js';
import { DEFAULT_BATCH_BYTES, Feed, MAX_BATCH_BYTES, type FeedBatch } from './feed.js';
import type { ApplyBatch, KeyRange, Store } from './store.js';
import type { Version } from './version.js';

export function toWireVersion(v: Version): WireVersion {
  return { key: v.key, value: v.value ?? Buffer.alloc(0), tombstone: v.value === null, ts: toTimestamp(v.ts), origin: v.origin };
}

function toWireFeedBatch(b: FeedBatch): WireFeedBatch {
  return { from: toTimestamp(b.from), to: toTimestamp(b.to), raw: b.batch.raw, count: b.batch.count };
}

/** A required GLT field: INVALID_ARGUMENT when absent, GLT_PARSE when out of range. */
function requireGlt(t: Parameters<typeof fromTimestamp>[0], field: string): Glt {
  const g = fromTimestamp(t);
  if (g === undefined) throw new AetherError('INVALID_ARGUMENT', `${field} is required`);
  return g;
}

/** A uint64 field (a decimal string under the loader's `longs: String`) as a bigint. */
function uint64(s: string, field: string): bigint {
  if (!/^[0-9]{1,20}$/.test(s)) throw new AetherError('INVALID_ARGUMENT', `${field} is not a uint64: ${JSON.stringify(s)}`);
  return BigInt(s);
}

/** A chunk limit of a membership job: at least one version per call, or it would never finish. */
function chunkLimit(limit: number): number {
  if (limit < 1) throw new AetherError('INVALID_ARGUMENT', 'limit must be at least 1');
  return limit;
}

/** A byte limit from the wire: 0 is the default; more than MAX_BATCH_BYTES is cut to it (the reply says where the read stopped). */
function byteLimit(n: number): number {
  return n === 0 ? DEFAULT_BATCH_BYTES : Math.min(n, MAX_BATCH_BYTES);
}

/**
 * A raw batch from the wire whose `count` entries fill `raw` exactly (DELTA_CORRUPT
 * otherwise: a truncated or padded batch must not be half applied). The store checks the
 * entries themselves.
 */
function rawBatch(raw: Buffer, count: number): VersionBatch {
  const b = { raw, count };
  for (const _ of entryBounds(b));
  return b;
}

export function keyRangeOf(req: { prefix: Buffer; start: Buffer; end: Buffer }): KeyRange {
  if (req.prefix.length > 0) {
    if (req.start.length > 0 || req.end.length > 0) throw new AetherError('INVALID_ARGUMENT', 'a scan takes a prefix or start/end, not both');
    return { prefix: req.prefix };
  }
  if (req.end.length > 0 && Buffer.compare(req.start, req.end) > 0) throw new AetherError('INVALID_ARGUMENT', 'scan start is after end');
  return req.end.length > 0 ? { start: req.start, end: req.end } : { start: req.start };
}

/** Adapts an async handler to a unary gRPC handler, errors as coded statuses. */
function unary<Req, Res>(fn: (req: Req) => Promise<Res>): grpc.handleUnaryCall<Req, Res> {
  return (call, callback) => {
    fn(call.request).then(
      (res) => callback(null, res),
      (err: unknown) => callback(toServiceError(err)),
    );
  };
}

/**
 * Sends what `open()` yields on a server stream as the client takes it: when the
 * stream's buffer is full, waits for it to drain before pulling the next item, so a slow
 * client holds the source back instead of growing a queue. Stops pulling once the call is
 * cancelled; ends the call after the last item, or fails it with the coded status.
 */
function serveStream<T, W>(call: grpc.ServerWritableStream<unknown, W>, open: () => AsyncIterable<T>, wire: (item: T) => W): void {
  (async () => {
    for await (const item of open()) {
      if (call.cancelled || (!call.write(wire(item)) && !(await drained(call)))) return;
    }
    if (!call.cancelled) call.end();
  })().catch((err: unknown) => {
    if (!call.cancelled) call.emit('error', toServiceError(err));
  });
}

/** The DataNode gRPC service (proto/aetherflow/internal/v1/datanode.proto) over one Store. */
export function dataNodeHandlers(store: Store): DataNodeHandlers {
  /** The open feeds (one per leader term, so a handful): Nudge wakes them all. */
  const feeds = new Set<Feed>();
  return {
    Info: unary(async () => ({ origin: store.origin, horizon: toTimestamp(store.horizon()) })),
    // All at once, so the store's group commit writes them in as few batches as it can.
    Write: unary(async (req) => ({
      versions: (await Promise.all(req.mutations.map((m) => (m.delete ? store.delete(m.key) : store.put(m.key, m.value))))).map(toWireVersion),
    })),
    Get: unary(async (req) => {
      const found = await store.get(req.key, requireGlt(req.glt, 'glt'));
      return found ? { found: true, version: toWireVersion(found) } : { found: false, version: null };
    }),
    Scan: (call) =>
      serveStream(call, () => store.scan(keyRangeOf(call.request), requireGlt(call.request.glt, 'glt'), call.request.limit === 0 ? undefined : call.request.limit), toWireVersion),
    Feed: (call) =>
      serveStream(
        call,
        () => {
          const req = call.request;
          const feed = new Feed(store, requireGlt(req.from, 'from'), {
            maxBatchBytes: byteLimit(req.max_batch_bytes),
            ...(req.batch_delay_ms > 0 ? { batchDelayMs: req.batch_delay_ms } : {}),
            ...(req.batch_gap_ms > 0 ? { batchGapMs: req.batch_gap_ms } : {}),
            ...(req.idle_mark_ms > 0 ? { idleMarkMs: req.idle_mark_ms } : {}),
            ...(req.quiet_mark_ms > 0 ? { quietMarkMs: req.quiet_mark_ms } : {}),
            ...(req.active_for_ms > 0 ? { activeForMs: req.active_for_ms } : {}),
          });
          feeds.add(feed);
          const forget = () => feeds.delete(feed);
          // A feed waiting for writes or its next mark wakes up to end.
          call.once('cancelled', () => {
            forget();
            feed.stop();
          });
          call.once('finish', forget);
          call.once('close', forget);
          return feed;
        },
        toWireFeedBatch,
      ),
    Nudge: unary(async () => {
      for (const f of feeds) f.nudge();
      return {};
    }),
    Changes: unary(async (req) => {
      const r = await store.changes(req.origin, requireGlt(req.from, 'from'), requireGlt(req.to, 'to'), byteLimit(req.max_bytes));
      return { raw: r.versions.raw, count: r.versions.count, end: toTimestamp(r.end) };
    }),
    Apply: unary(async (req) => {
      const batches = req.batches.map((b): ApplyBatch => {
        const horizon = fromTimestamp(b.horizon);
        return { region: b.region, to: requireGlt(b.to, 'to'), versions: rawBatch(b.raw, b.count), ...(horizon ? { horizon } : {}) };
      });
      const frontier = fromTimestamp(req.frontier);
      return { written: await store.apply({ epoch: uint64(req.epoch, 'epoch'), batches, ...(frontier ? { frontier } : {}) }) };
    }),
    StreamState: unary(async () => {
      const s = await store.streamState();
      return {
        applied: [...s.applied].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([region, ts]) => ({ region, ts: toTimestamp(ts) })),
        applied_floor: toTimestamp(s.appliedFloor),
        frontier: toTimestamp(s.frontier),
        membership_applied: s.membershipApplied,
        epoch: s.epoch.toString(),
        horizon: toTimestamp(s.horizon),
      };
    }),
    Hide: unary(async (req) => store.hide(uint64(req.epoch, 'epoch'), req.origins, requireGlt(req.above, 'above'), chunkLimit(req.limit))),
    Restamp: unary(async (req) => {
      const rule = { origins: req.origins, above: requireGlt(req.above, 'above'), upTo: requireGlt(req.up_to, 'up_to'), floor: requireGlt(req.floor, 'floor') };
      return store.restamp(uint64(req.epoch, 'epoch'), rule, chunkLimit(req.limit));
    }),
    SetMembershipApplied: unary(async (req) => {
      await store.setMembershipApplied(uint64(req.epoch, 'epoch'), req.version);
      return {};
    }),
    Gc: unary(async (req) => ({ dropped: String(await store.gc(requireGlt(req.horizon, 'horizon'))) })),
  };
}

export interface DatanodeServerOptions {
  /** host:port; port 0 picks a free one. */
  readonly address: string;
  readonly store: Store;
  /** Mutual TLS with this node's certificate (the leader presents its own), or plaintext. */
  readonly security: TransportSecurity;
  /** The node ids that may call: its region's leader candidates. Default: any node certificate of the CA. */
  readonly leaders?: readonly string[];
}

/** Serves one data node's Store; with TLS, only to clients presenting a node certificate of the CA (its region's leaders). */
export function startDatanodeServer(options: DatanodeServerOptions): Promise<ServerHandle> {
  const leaders = options.leaders === undefined ? undefined : new Set(options.leaders);
  return startServer(options.address, [[DataNodeService, dataNodeHandlers(options.store)]], {
    security: options.security,
    clientCertificates: 'required',
    allowPeer: (nodeId) => leaders?.has(nodeId) ?? true,
  });
}
