import { AetherError } from '../common/errors.js';
import type { RestampRule, Store } from '../datanode/store.js';
import { GLT_ZERO, maxGlt, type Glt } from '../glts/glt.js';
import { combineStates, joinReads, nodeRequest, routeBatches, type RegionApply, type RegionRead, type RegionState, type RegionStores } from './region-stores.js';

/**
 * The calls a region's leader makes on each of its data nodes: a Store's own
 * (datanode/store.ts), which a DataNodeConnection makes over gRPC with the same arguments
 * and results. `horizon` may answer later (a call to the node).
 */
export type RegionNode = Pick<Store, 'changes' | 'apply' | 'streamState' | 'hide' | 'restamp' | 'setMembershipApplied' | 'gc'> & {
  horizon(): Glt | Promise<Glt>;
};

/**
 * RegionStores over in-process Stores (the deterministic simulator, tests): each call
 * goes to the nodes one after another in id order, so a run replays exactly (no timers,
 * no race between nodes). RemoteRegionStores is the same over gRPC connections, with the
 * nodes called at once.
 */
export class LocalRegionStores implements RegionStores {
  readonly nodes: readonly string[];

  constructor(
    private readonly stores: ReadonlyMap<string, RegionNode>,
    /** The data node of a key (regional/router.ts in a deployment). */
    private readonly route: (key: Buffer) => string,
  ) {
    if (stores.size === 0) throw new AetherError('INVALID_ARGUMENT', 'a region needs at least one data node');
    this.nodes = [...stores.keys()].sort();
  }

  /** Runs the calls one after another, in order; their results in that order. A failure fails the whole. */
  protected async all<T>(calls: readonly (() => Promise<T>)[]): Promise<T[]> {
    const out: T[] = [];
    for (const call of calls) out.push(await call());
    return out;
  }

  /** `fn` on every node, in `nodes` order. */
  private each<T>(fn: (node: RegionNode, id: string) => Promise<T>): Promise<T[]> {
    return this.all(this.nodes.map((id) => () => fn(this.stores.get(id)!, id)));
  }

  async loadState(): Promise<RegionState> {
    return combineStates(await this.each((n) => n.streamState()));
  }

  async apply(epoch: bigint, batches: readonly RegionApply[], frontier?: Glt): Promise<void> {
    if (batches.length === 0) {
      if (frontier) await this.stores.get(this.nodes[0]!)!.apply(nodeRequest(epoch, [], frontier));
      return;
    }
    const perNode = routeBatches(this.nodes, batches, this.route);
    await this.each((n, id) => n.apply(nodeRequest(epoch, perNode.get(id)!, frontier)));
  }

  /**
   * Each node's change index, per origin, with an equal share of `maxBytes`, joined up to
   * where the first read stopped. Each node's horizon is read after its changes, so it is
   * at least the one the read saw: a read of collected history always says so.
   */
  async read(originIds: readonly string[], from: Glt, to: Glt, maxBytes: number): Promise<RegionRead> {
    const share = Math.max(1, Math.floor(maxBytes / Math.max(1, this.nodes.length * originIds.length)));
    const reads = await this.all(this.nodes.flatMap((id) => originIds.map((origin) => () => this.stores.get(id)!.changes(origin, from, to, share))));
    const horizons = await this.each(async (n) => n.horizon());
    const { batch, end } = joinReads(reads, to);
    return { batch, end, horizon: horizons.reduce(maxGlt, GLT_ZERO) };
  }

  async hide(epoch: bigint, originIds: readonly string[], above: Glt, limit: number): Promise<boolean> {
    return (await this.each((n) => n.hide(epoch, originIds, above, limit))).every((r) => r.done);
  }

  async restamp(epoch: bigint, rule: RestampRule, limit: number): Promise<boolean> {
    return (await this.each((n) => n.restamp(epoch, rule, limit))).every((r) => r.done);
  }

  async setMembershipApplied(epoch: bigint, version: number): Promise<void> {
    await this.each((n) => n.setMembershipApplied(epoch, version));
  }

  async gc(horizon: Glt): Promise<void> {
    await this.each((n) => n.gc(horizon));
  }
}
