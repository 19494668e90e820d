import { AetherError } from '../common/errors.js';
import { EMPTY_BATCH, concatBatches, partitionBatch, splitBatchAt, unframeDelta, type VersionBatch } from '../datanode/delta.js';
import type { ApplyBatch, ApplyRequest, ChangesResult, RestampRule, StreamState } from '../datanode/store.js';
import { GLT_ZERO, compareGlt, maxGlt, minGlt, type Glt } from '../glts/glt.js';

/** One origin region's shipped deltas to apply, in stream order, covering up to `to`. */
export interface RegionApply {
  readonly region: string;
  readonly to: Glt;
  /** Framed deltas (datanode/delta.ts), as they arrived. */
  readonly deltas: readonly Buffer[];
  /** Set when one of them came from a state transfer: the sender's GC horizon. */
  readonly horizon?: Glt;
}

/**
 * What a region's data nodes persisted, combined: positions and membership the minimum
 * over nodes (a leader that died half-way left the older state on some); the frontier the
 * maximum — a leader persists it (on one node suffices) only once every node held it.
 */
export interface RegionState {
  readonly applied: ReadonlyMap<string, Glt>;
  /** Every region is held up to at least this (the minimum of the nodes' floors). */
  readonly appliedFloor: Glt;
  readonly frontier: Glt;
  readonly membershipApplied: number;
  /** The greatest GC horizon over nodes: reads below it fail somewhere. */
  readonly horizon: Glt;
}

/** A read of one origin region's versions across the data nodes: every version in (from, end]. */
export interface RegionRead {
  readonly batch: VersionBatch;
  readonly end: Glt;
  /** The greatest GC horizon over the nodes read: a read from below it is a state transfer. */
  readonly horizon: Glt;
}

/**
 * A region's data nodes as its leader works on them (the jobs of regional/replicator.ts).
 * In-process stores in the simulator and tests (LocalRegionStores), gRPC in a deployment
 * (RemoteRegionStores). Every call applies to every node; a failure on any node fails the
 * call, and every call is idempotent, so the replicator retries it whole.
 */
export interface RegionStores {
  /** Data node ids, sorted. */
  readonly nodes: readonly string[];
  loadState(): Promise<RegionState>;
  /**
   * Routes every version of `batches` to its data node by key and applies there; every
   * node gets every region's `to` (and `frontier`), versions or not, in one atomic write.
   * With no batches, only the frontier: written on one node (the region's frontier is the
   * greatest persisted on any node, and it is persisted only once every node held it).
   */
  apply(epoch: bigint, batches: readonly RegionApply[], frontier?: Glt): Promise<void>;
  /** `originIds`' versions in (from, to] across the nodes, at most about `maxBytes`. */
  read(originIds: readonly string[], from: Glt, to: Glt, maxBytes: number): Promise<RegionRead>;
  /** One chunk of hiding `originIds` above `above` on every node; true once every node is done. */
  hide(epoch: bigint, originIds: readonly string[], above: Glt, limit: number): Promise<boolean>;
  /** One chunk of a re-stamp on every node; true once every node is done. */
  restamp(epoch: bigint, rule: RestampRule, limit: number): Promise<boolean>;
  setMembershipApplied(epoch: bigint, version: number): Promise<void>;
  gc(horizon: Glt): Promise<void>;
}

/** The region's state from each node's: minimum positions, frontier and membership; maximum horizon. */
export function combineStates(states: readonly StreamState[]): RegionState {
  let applied: Map<string, Glt> | undefined;
  // A region listed on one node only is held everywhere else up to that node's floor.
  const regions = new Set(states.flatMap((s) => [...s.applied.keys()]));
  for (const region of regions) {
    applied ??= new Map();
    applied.set(region, states.reduce<Glt | undefined>((a, s) => {
      const held = maxGlt(s.applied.get(region) ?? GLT_ZERO, s.appliedFloor);
      return a === undefined ? held : minGlt(a, held);
    }, undefined)!);
  }
  return {
    applied: applied ?? new Map(),
    appliedFloor: states.reduce<Glt | undefined>((f, s) => (f === undefined ? s.appliedFloor : minGlt(f, s.appliedFloor)), undefined) ?? GLT_ZERO,
    frontier: states.reduce((f, s) => maxGlt(f, s.frontier), GLT_ZERO),
    membershipApplied: states.reduce((v, s) => Math.min(v, s.membershipApplied), states.length > 0 ? Infinity : 0),
    horizon: states.reduce((h, s) => maxGlt(h, s.horizon), GLT_ZERO),
  };
}

/** Each node's share of `batches`: its versions of every region (by `route`), and every region's `to`. */
export function routeBatches(nodes: readonly string[], batches: readonly RegionApply[], route: (key: Buffer) => string): Map<string, ApplyBatch[]> {
  const out = new Map<string, ApplyBatch[]>(nodes.map((n) => [n, []]));
  for (const b of batches) {
    const parts = partitionBatch(concatBatches(b.deltas.map((d) => unframeDelta(d))), route);
    for (const id of parts.keys()) if (!out.has(id)) throw new AetherError('UNKNOWN_ID', `router named unknown data node ${id}`);
    for (const n of nodes) out.get(n)!.push({ region: b.region, to: b.to, versions: parts.get(n) ?? EMPTY_BATCH, ...(b.horizon ? { horizon: b.horizon } : {}) });
  }
  return out;
}

/** The apply request of one node. */
export function nodeRequest(epoch: bigint, batches: readonly ApplyBatch[], frontier: Glt | undefined): ApplyRequest {
  return { epoch, batches, ...(frontier ? { frontier } : {}) };
}

/**
 * Joins reads of several (node, origin) change-index ranges into one region read: every
 * version up to the smallest `end` among them (one that stopped early for its byte limit
 * bounds what is complete), the rest dropped — the next read starts there.
 */
export function joinReads(reads: readonly ChangesResult[], to: Glt): { batch: VersionBatch; end: Glt } {
  let end = to;
  for (const r of reads) if (compareGlt(r.end, end) < 0) end = r.end;
  return { batch: concatBatches(reads.map((r) => (compareGlt(r.end, end) > 0 ? splitBatchAt(r.versions, end)[0] : r.versions))), end };
}
