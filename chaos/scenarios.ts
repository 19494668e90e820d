import { AetherError } from '../common/errors.js';
import { currentLeader } from '../cluster/election.js';
import { Random } from '../common/random.js';
import type { Deployment } from './deployment.js';
import { CrashHold, healPartitions, killEtcdLeader, killProcess, partitionRegion } from './faults.js';

/** Drills of faults under the keyed load. */
export const FAULT_DRILLS = ['region-partition', 'region-crash', 'coordinator-kill', 'leader-kill', 'datanode-kill', 'etcd-leader-kill', 'storm'] as const;
export type FaultDrillName = (typeof FAULT_DRILLS)[number];
/** Every drill: the fault drills, and catch-up (a region cut off while the others write in bulk, chaos/catch-up.ts). */
export const DRILL_NAMES = [...FAULT_DRILLS, 'catch-up'] as const;
export type DrillName = (typeof DRILL_NAMES)[number];

/** One line per drill, for `chaos drill --list`. */
export const DRILL_DESCRIPTIONS: Readonly<Record<DrillName, string>> = {
  'region-partition': 'cut a region off from the others and the coordinator, then heal it',
  'region-crash': "SIGKILL a region's leaders and data nodes, and each restart, until the window ends",
  'coordinator-kill': 'SIGKILL the elected coordinator',
  'leader-kill': "SIGKILL a region's elected leader",
  'datanode-kill': 'SIGKILL one data node',
  'etcd-leader-kill': "SIGKILL the raft leader of a 3-member local etcd",
  storm: 'three faults drawn from the others, one after another',
  'catch-up': 'cut a region off while the others write in bulk, heal it: it catches up and is readmitted while the others keep committing',
};

/** What a fault hits: a region (partition, crash), one process, or etcd's raft leader. */
export type FaultKind = 'region-partition' | 'region-crash' | 'coordinator-kill' | 'leader-kill' | 'datanode-kill' | 'etcd-leader-kill';

/** One fault of a drill: injected at `atMs` after the fault window opens, healed `durationMs` later (kills heal by restart). */
export interface PlannedFault {
  readonly kind: FaultKind;
  readonly atMs: number;
  readonly durationMs: number;
}

/** What an injected fault did, for the report; `heal` undoes it (a no-op for a kill, which `up` restarts). */
export interface InjectedFault {
  readonly kind: FaultKind;
  /** The region, process id or etcd member hit. */
  readonly target: string;
  readonly region?: string;
  /** The coordinator epoch before a coordinator kill, so the report can find the next one's first commit. */
  readonly epochBefore?: bigint;
  readonly pids: number[];
  heal(): Promise<{ readonly pids: number[] }>;
}

/** The fault drills: each a list of faults over a window of `durationMs`. storm draws 3 faults from the others, seeded. */
export function planDrill(name: FaultDrillName, durationMs: number, rng: Random, etcdMembers: number): PlannedFault[] {
  if (name !== 'storm') return [{ kind: name, atMs: 0, durationMs }];
  const kinds: FaultKind[] = ['region-partition', 'region-crash', 'coordinator-kill', 'leader-kill', 'datanode-kill', ...(etcdMembers >= 3 ? (['etcd-leader-kill'] as const) : [])];
  const count = 3;
  const slotMs = Math.floor(durationMs / count);
  const faults: PlannedFault[] = [];
  for (let i = 0; i < count; i++) {
    const kind = kinds[rng.int(kinds.length)]!;
    // A quorum of 3 etcd members survives one kill: never two in one storm.
    if (kind === 'etcd-leader-kill') kinds.splice(kinds.indexOf(kind), 1);
    faults.push({ kind, atMs: i * slotMs, durationMs: Math.max(1, Math.floor(slotMs * 0.6)) });
  }
  return faults;
}

async function electedCoordinator(d: Deployment): Promise<{ id: string; epoch: bigint } | undefined> {
  const c = await currentLeader<{ id: string }>(d.etcd, d.paths.electionPrefix(d.paths.coordinatorElection));
  return c ? { id: c.value.id, epoch: c.epoch } : undefined;
}

/** A region to fail (seeded). */
export function victimRegion(d: Deployment, rng: Random): string {
  return d.regionNames[rng.int(d.regionNames.length)]!;
}

const noHeal = async (): Promise<{ pids: number[] }> => ({ pids: [] });

/** Injects one fault now. */
export async function injectFault(d: Deployment, kind: FaultKind, rng: Random): Promise<InjectedFault> {
  switch (kind) {
    case 'region-partition': {
      const region = victimRegion(d, rng);
      await partitionRegion(d, region);
      return { kind, target: region, region, pids: [], heal: async () => (await healPartitions(d, region), { pids: [] }) };
    }
    case 'region-crash': {
      const region = victimRegion(d, rng);
      const hold = await CrashHold.start(d, region);
      const first = hold.killed.map((k) => k.pid);
      return { kind, target: region, region, pids: first, heal: async () => ({ pids: (await hold.stop()).map((k) => k.pid).filter((p) => !first.includes(p)) }) };
    }
    case 'coordinator-kill': {
      const c = await electedCoordinator(d);
      if (!c) throw new AetherError('CHAOS_REFUSED', 'no coordinator is elected');
      const k = await killProcess(d, c.id);
      return { kind, target: c.id, epochBefore: c.epoch, pids: [k.pid], heal: noHeal };
    }
    case 'leader-kill': {
      const region = d.regionNames[rng.int(d.regionNames.length)]!;
      const l = await currentLeader<{ id: string }>(d.etcd, d.paths.electionPrefix(d.paths.leaderElection(region)));
      if (!l) throw new AetherError('CHAOS_REFUSED', `region ${region} has no elected leader`);
      const k = await killProcess(d, l.value.id);
      return { kind, target: l.value.id, region, pids: [k.pid], heal: noHeal };
    }
    case 'datanode-kill': {
      const nodes = d.topology.regions.flatMap((r) => r.datanodes.map((n) => ({ id: n.id, region: r.name })));
      const n = nodes[rng.int(nodes.length)]!;
      const k = await killProcess(d, n.id);
      return { kind, target: n.id, region: n.region, pids: [k.pid], heal: noHeal };
    }
    case 'etcd-leader-kill': {
      const k = await killEtcdLeader(d);
      return { kind, target: k.member, pids: [k.pid], heal: noHeal };
    }
  }
}
