import { currentLeader } from '../cluster/election.js';
import { etcdCall, type Etcd3 } from '../cluster/etcd.js';
import { clusterPaths } from '../cluster/paths.js';
import { listServices, type ServiceRecord } from '../cluster/registry.js';
import { formatGlt, parseGlt } from '../glts/glt.js';
import { decodeCommitRecord, decodeMembership } from '../kernel/records.js';
import type { Topology } from '../topology/types.js';
import { formatTable } from './output.js';

/** One committed round, as its commit record in etcd says. */
export interface RoundRow {
  readonly glt: string;
  readonly members: readonly string[];
  readonly epoch: string;
  readonly coordinator: string;
  /** Begin → every member Ready, as the coordinator measured it (what the record knows). */
  readonly beginToReadyMs: number;
  /** Wall time since the previous committed round (null for the oldest one read). */
  readonly sincePreviousMs: number | null;
}

export interface RoundStats {
  readonly count: number;
  readonly budgetMs: number;
  readonly p50Ms: number | null;
  readonly p99Ms: number | null;
  readonly maxMs: number | null;
  readonly overBudget: number;
  /** Committed rounds per second over the rounds read. */
  readonly perSecond: number | null;
}

export interface ClusterStatus {
  readonly name: string;
  readonly at: string;
  readonly coordinator: { readonly id: string; readonly epoch: string; readonly state?: unknown } | null;
  readonly coordinators: readonly { readonly id: string; readonly up: boolean }[];
  readonly regions: readonly {
    readonly name: string;
    readonly leader: { readonly id: string; readonly epoch: string; readonly grpc: unknown } | null;
    readonly membership: 'member' | 'excluded' | 'unknown';
    readonly frontier: string | null;
    readonly lagMs: number | null;
    readonly leaders: readonly { readonly id: string; readonly up: boolean }[];
    readonly datanodes: readonly { readonly id: string; readonly up: boolean; readonly pid?: number }[];
  }[];
  /** Regions the membership record excludes, with the watermark they rejoin from. */
  readonly excluded: readonly { readonly region: string; readonly watermark: string }[];
  /** Newest first. */
  readonly rounds: readonly RoundRow[];
  readonly roundStats: RoundStats;
}

/** A quantile of sorted values (nearest rank). */
function quantile(sorted: readonly number[], q: number): number | null {
  if (sorted.length === 0) return null;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!;
}

export function roundStats(rounds: readonly RoundRow[], budgetMs: number): RoundStats {
  const ms = rounds.map((r) => r.beginToReadyMs).sort((a, b) => a - b);
  const spanMs = rounds.length > 1 ? Number((parseGlt(rounds[0]!.glt).wall - parseGlt(rounds[rounds.length - 1]!.glt).wall) / 1_000_000n) : 0;
  return {
    count: rounds.length,
    budgetMs,
    p50Ms: quantile(ms, 0.5),
    p99Ms: quantile(ms, 0.99),
    maxMs: ms.length ? ms[ms.length - 1]! : null,
    overBudget: ms.filter((x) => x > budgetMs).length,
    perSecond: spanMs > 0 ? ((rounds.length - 1) * 1000) / spanMs : null,
  };
}

/**
 * What `status` and `top` show, read from etcd alone (so it works with any region down):
 * elections, the service registry (the leaders' published frontier and lag, about once a
 * second), the membership record and the newest `roundLimit` commit records.
 */
export async function readClusterStatus(client: Etcd3, topology: Topology, roundLimit: number): Promise<ClusterStatus> {
  const paths = clusterPaths(topology.name);
  const [coordinator, services, membershipKv, commitKvs] = await Promise.all([
    currentLeader(client, paths.electionPrefix(paths.coordinatorElection)),
    listServices(client, paths),
    etcdCall('read membership', () => client.get(paths.membership).exec()),
    etcdCall('read commits', () => client.getAll().prefix(paths.commitsPrefix).sort('Key', 'Descend').limit(roundLimit).exec()),
  ]);
  const membership = membershipKv.kvs[0] ? decodeMembership(membershipKv.kvs[0].value) : undefined;
  const find = (role: ServiceRecord['role'], id: string): ServiceRecord | undefined => services.find((s) => s.role === role && s.id === id);
  const regions = await Promise.all(
    topology.regions.map(async (r) => {
      const leader = await currentLeader(client, paths.electionPrefix(paths.leaderElection(r.name)));
      const status = leader ? find('leader', leader.value.id)?.status : undefined;
      const frontierText = typeof status?.['frontier'] === 'string' ? status['frontier'] : undefined;
      const excluded = membership?.ok ? membership.value.excluded.some((e) => e.region === r.name) : false;
      return {
        name: r.name,
        leader: leader ? { id: leader.value.id, epoch: leader.epoch.toString(), grpc: leader.value['grpc'] } : null,
        // No record yet: every region is a member (the initial membership).
        membership: membership === undefined ? ('member' as const) : membership.ok ? (excluded ? ('excluded' as const) : ('member' as const)) : ('unknown' as const),
        frontier: frontierText ? formatGlt(parseGlt(frontierText)) : null,
        lagMs: typeof status?.['lagMs'] === 'number' ? status['lagMs'] : null,
        leaders: r.leaders.map((l) => ({ id: l.id, up: find('leader', l.id) !== undefined })),
        datanodes: r.datanodes.map((d) => {
          const s = find('datanode', d.id);
          return { id: d.id, up: s !== undefined, ...(s ? { pid: s.pid } : {}) };
        }),
      };
    }),
  );
  const records = commitKvs.kvs.flatMap((kv) => {
    const d = decodeCommitRecord(kv.value);
    return d.ok ? [d.value] : [];
  });
  const rounds: RoundRow[] = records.map((r, i) => {
    const older = records[i + 1];
    return {
      glt: formatGlt(r.T),
      members: r.members,
      epoch: r.epoch.toString(),
      coordinator: r.coordinator,
      beginToReadyMs: r.decideMs,
      sincePreviousMs: older ? Number((r.T.wall - older.T.wall) / 1000n) / 1000 : null,
    };
  });
  const coordinatorStatus = coordinator ? find('coordinator', coordinator.value.id)?.status : undefined;
  return {
    name: topology.name,
    at: new Date().toISOString(),
    coordinator: coordinator ? { id: coordinator.value.id, epoch: coordinator.epoch.toString(), ...(coordinatorStatus?.['round'] !== undefined ? { state: coordinatorStatus['round'] } : {}) } : null,
    coordinators: topology.coordinators.map((c) => ({ id: c.id, up: find('coordinator', c.id) !== undefined })),
    regions,
    excluded: membership?.ok ? membership.value.excluded.map((e) => ({ region: e.region, watermark: formatGlt(e.watermark) })) : [],
    rounds,
    roundStats: roundStats(rounds, topology.snapshot.budgetMs),
  };
}

const upList = (xs: readonly { id: string; up: boolean }[]): string => xs.map((x) => `${x.id}${x.up ? '' : ' (down)'}`).join(', ');
const ms = (x: number | null): string => (x === null ? '-' : x.toFixed(1));

/** The status as text: a header, the regions table, excluded regions, round figures and the last `showRounds` rounds. */
export function formatClusterStatus(s: ClusterStatus, showRounds: number): string {
  const c = s.coordinator;
  const out = [
    `deployment ${s.name}: coordinator ${c ? `${c.id} (epoch ${c.epoch}${c.state !== undefined ? `, round ${String(c.state)}` : ''})` : 'none elected'}; candidates ${upList(s.coordinators)}`,
    '',
    formatTable(
      ['region', 'leader', 'epoch', 'membership', 'frontier', 'lag ms', 'candidates', 'data nodes'],
      s.regions.map((r) => [r.name, r.leader?.id ?? 'none', r.leader?.epoch, r.membership, r.frontier, r.lagMs, upList(r.leaders), upList(r.datanodes)]),
    ),
  ];
  if (s.excluded.length > 0) out.push('', `excluded: ${s.excluded.map((e) => `${e.region} (since ${e.watermark})`).join(', ')}`);
  const st = s.roundStats;
  out.push(
    '',
    st.count === 0
      ? 'rounds: none committed yet'
      : `rounds (last ${st.count}): begin→ready p50 ${ms(st.p50Ms)} ms, p99 ${ms(st.p99Ms)} ms, max ${ms(st.maxMs)} ms; budget ${st.budgetMs} ms, ${st.overBudget} over; ${st.perSecond === null ? '-' : st.perSecond.toFixed(1)} rounds/s`,
  );
  const shown = s.rounds.slice(0, showRounds);
  if (shown.length > 0) {
    out.push(
      '',
      formatTable(
        ['glt', 'members', 'epoch', 'coordinator', 'begin→ready ms', 'since previous ms'],
        shown.map((x) => [x.glt, x.members.join(','), x.epoch, x.coordinator, ms(x.beginToReadyMs), ms(x.sincePreviousMs)]),
      ),
    );
  }
  return out.join('\n');
}
