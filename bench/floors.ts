/**
 * Network floors of cross-region visibility (ack in one region → readable at a consistent
 * point in another), from the one-way delays a topology's links emulate. What a benchmark
 * prints beside what it measured: no implementation can beat its floor.
 *
 * AetherFlow: a write of origin O is readable at reader R once a commit T ≥ its ts reaches
 * R, and T is the minimum applied mark over every member M, so the write must have gone
 * O → M (the stream), M's Progress M → coordinator C, then the Commit C → R; the slowest
 * member decides, and the commit waits up to one interval for the coordinator's tick.
 *   floor(O, R) = max over M of d(O,M) + d(M,C) + d(C,R)   (d(X,X) = 0)
 *   topology floor = max over O ≠ R of floor(O, R) + intervalMs
 *
 * etcd (one member per region, leader L): after the ack, a linearizable read at R's
 * member is a ReadIndex: R → L, L confirms its leadership with a majority (the round trip
 * to the nearest followers that make a quorum), L → R.
 *   floor(R) = d(R,L) + quorum round trip of L + d(L,R)   (R = L: the quorum round trip)
 * A watermark over every region waits for the slowest member; a quorum waits only for
 * a majority: the first cannot beat the second when the regions are far apart.
 */
import type { Topology } from '../topology/types.js';

/** The one-way delay from region `from` to region `to` (as Quantum emulates it); 0 inside a region. */
export function linkDelayMs(topology: Topology, from: string, to: string): number {
  if (from === to) return 0;
  return (topology.links.overrides.find((o) => o.from === from && o.to === to) ?? topology.links.default).delayMs;
}

export type Delay = (from: string, to: string) => number;

/** The slowest path of a write of `origin` to a commit readable at `reader`, and the member it goes through. */
export function visibilityPath(regions: readonly string[], d: Delay, coordinator: string, origin: string, reader: string): { readonly ms: number; readonly member: string } {
  let best = { ms: -1, member: origin };
  for (const m of regions) {
    const ms = d(origin, m) + d(m, coordinator) + d(coordinator, reader);
    if (ms > best.ms) best = { ms, member: m };
  }
  return best;
}

export interface VisibilityFloor {
  /** Network floor of the worst (origin, reader) pair plus one interval. */
  readonly floorMs: number;
  /** The worst pair's network path alone. */
  readonly networkMs: number;
  readonly intervalMs: number;
  /** The mean over (origin, reader) pairs of the network path, plus half an interval (the tick's mean wait). */
  readonly meanFloorMs: number;
  readonly coordinatorRegion: string;
  /** The worst pair's path, in words. */
  readonly path: string;
}

/** The topology's visibility floor with the coordinator in `coordinatorRegion` and every region a member. */
export function visibilityFloor(topology: Topology, coordinatorRegion: string): VisibilityFloor {
  const regions = topology.regions.map((r) => r.name);
  const d: Delay = (a, b) => linkDelayMs(topology, a, b);
  const intervalMs = topology.snapshot.intervalMs;
  let worst = { ms: -1, origin: regions[0]!, reader: regions[0]!, member: regions[0]! };
  let sum = 0;
  let pairs = 0;
  for (const origin of regions) {
    for (const reader of regions) {
      if (reader === origin && regions.length > 1) continue;
      const p = visibilityPath(regions, d, coordinatorRegion, origin, reader);
      sum += p.ms;
      pairs++;
      if (p.ms > worst.ms) worst = { ms: p.ms, origin, reader, member: p.member };
    }
  }
  const c = coordinatorRegion;
  const { origin: o, member: m, reader: r } = worst;
  return {
    floorMs: worst.ms + intervalMs,
    networkMs: worst.ms,
    intervalMs,
    meanFloorMs: (pairs > 0 ? sum / pairs : 0) + intervalMs / 2,
    coordinatorRegion: c,
    path: `write in ${o} → ${m} ${d(o, m)} ms → Progress to the coordinator in ${c} ${d(m, c)} ms → Commit to ${r} ${d(c, r)} ms, + one interval ${intervalMs} ms`,
  };
}

/** The round trip from the leader to the nearest followers that make a majority with it. */
export function quorumRoundTripMs(regions: readonly string[], d: Delay, leader: string): number {
  const rtts = regions.filter((r) => r !== leader).map((f) => d(leader, f) + d(f, leader)).sort((a, b) => a - b);
  const needed = Math.floor(regions.length / 2); // followers that, with the leader, are a majority
  return needed === 0 ? 0 : rtts[needed - 1]!;
}

export interface EtcdVisibilityFloor {
  /** The worst reader's ReadIndex floor. */
  readonly floorMs: number;
  /** The mean over readers. */
  readonly meanFloorMs: number;
  readonly leaderRegion: string;
  readonly path: string;
}

/** The floor of a linearizable read after the ack, per reader region, with the etcd leader in `leaderRegion`. */
export function etcdVisibilityFloor(regions: readonly string[], d: Delay, leaderRegion: string): EtcdVisibilityFloor {
  const q = quorumRoundTripMs(regions, d, leaderRegion);
  const floorOf = (r: string) => d(r, leaderRegion) + q + d(leaderRegion, r);
  let worst = regions[0]!;
  for (const r of regions) if (floorOf(r) > floorOf(worst)) worst = r;
  const mean = regions.reduce((s, r) => s + floorOf(r), 0) / Math.max(1, regions.length);
  return {
    floorMs: floorOf(worst),
    meanFloorMs: mean,
    leaderRegion,
    path: `linearizable read at ${worst}: ReadIndex to the leader in ${leaderRegion} ${d(worst, leaderRegion)} ms + quorum round trip ${q} ms + back ${d(leaderRegion, worst)} ms`,
  };
}
