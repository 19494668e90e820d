import type { DataNodeConnection } from './datanode-connection.js';
import { LocalRegionStores } from './local-region-stores.js';

/**
 * RegionStores over a region's data nodes in a deployment: the calls of LocalRegionStores
 * over gRPC connections, each call made on every node at once (a round trip per call,
 * not per node). Every call is idempotent, so one that failed on a node is retried whole.
 */
export class RemoteRegionStores extends LocalRegionStores {
  constructor(connections: ReadonlyMap<string, DataNodeConnection>, route: (key: Buffer) => string) {
    super(connections, route);
  }

  /** All at once; fails only after every call settled, so a retry never overlaps the attempt before it. */
  protected override async all<T>(calls: readonly (() => Promise<T>)[]): Promise<T[]> {
    const settled = await Promise.allSettled(calls.map((call) => call()));
    const failed = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected');
    if (failed) throw failed.reason;
    return settled.map((s) => (s as PromiseFulfilledResult<T>).value);
  }
}
