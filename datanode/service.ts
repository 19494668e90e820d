import * as grpc from '@grpc/grpc-js';
import { AetherError } from '../common/errors.js';
import { GLT_ZERO, compareGlt, type Glt } from '../glts/glt.js';
import { DataNodeService, type DataNodeHandlers, type WireVersion } from '../proto/load.js';
import { toServiceError } from '../proto/status.js';
import { fromTimestamp, toTimestamp } from '../proto/timestamp.js';
import { startServer, type ServerHandle } from '../proto/server.js';
import type { KeyRange, Store } from './store.js';
import type { Version } from './version.js';
import { decodeDelta, encodeDelta } from './delta.js';

export function toWireVersion(v: Version): WireVersion {
  return { key: v.key, value: v.value ?? Buffer.alloc(0), tombstone: v.value === null, ts: toTimestamp(v.ts), origin: v.origin };
}

/** A required GLT field: INVALID_ARGUMENT when absent, GLT_PARSE when out of range. */
function requireGlt(t: Parameters<typeof fromTimestamp>[0], field: string): Glt {
  const g = fromTimestamp(t);
  if (g === undefined) throw new AetherError('INVALID_ARGUMENT', `${field} is required`);
  return g;
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

/** The DataNode gRPC service (proto/aetherflow/internal/v1/datanode.proto) over one Store; deltas in datanode/delta.ts's format. */
export function dataNodeHandlers(store: Store): DataNodeHandlers {
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
    Scan: (call) => {
      const req = call.request;
      (async () => {
        const rows = await store.scan(keyRangeOf(req), requireGlt(req.glt, 'glt'), req.limit === 0 ? undefined : req.limit);
        for (const row of rows) {
          if (call.cancelled) return;
          // Respect the stream's buffer: wait for drain rather than queue without bound.
          if (!call.write(toWireVersion(row))) await new Promise((resolve) => call.once('drain', resolve));
        }
        call.end();
      })().catch((err: unknown) => call.emit('error', toServiceError(err)));
    },
    Close: unary(async (req) => {
      const to = requireGlt(req.to, 'to');
      await store.close(to);
      if (!req.want_delta) return { delta: Buffer.alloc(0), versions: 0 };
      const from = fromTimestamp(req.from) ?? GLT_ZERO;
      if (compareGlt(from, to) > 0) throw new AetherError('INVALID_ARGUMENT', 'close: from is above to');
      const versions = await store.changes(from, to, req.all_origins ? {} : { origin: store.origin });
      return { delta: encodeDelta(versions), versions: versions.length };
    }),
    ApplyDelta: unary(async (req) => {
      const versions = req.delta.length === 0 ? [] : decodeDelta(req.delta);
      const raise = req.raise_meta.map((m) => ({ name: m.name, value: requireGlt(m.value, `raise_meta ${m.name}`) }));
      await store.applyRemote(versions);
      const horizon = fromTimestamp(req.gc_horizon);
      if (horizon) await store.gc(horizon);
      for (const m of raise) {
        const current = await store.getMeta(m.name);
        if (current === undefined || compareGlt(m.value, current) > 0) await store.setMeta(m.name, m.value);
      }
      return { versions: versions.length };
    }),
    Gc: unary(async (req) => ({ dropped: String(await store.gc(requireGlt(req.horizon, 'horizon'))) })),
    Restamp: unary(async (req) => {
      const versions = await store.restamp(requireGlt(req.after, 'after'));
      return { delta: encodeDelta(versions), versions: versions.length };
    }),
    GetMeta: unary(async (req) => {
      const value = await store.getMeta(req.name);
      return value === undefined ? { found: false, value: null } : { found: true, value: toTimestamp(value) };
    }),
    SetMeta: unary(async (req) => {
      await store.setMeta(req.name, requireGlt(req.value, 'value'));
      return {};
    }),
  };
}

/** Serves one data node's Store at `address` (host:port; port 0 picks a free one). */
export function startDatanodeServer(options: { readonly address: string; readonly store: Store }): Promise<ServerHandle> {
  return startServer(options.address, [[DataNodeService, dataNodeHandlers(options.store)]]);
}
