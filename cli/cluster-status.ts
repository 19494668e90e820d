import { currentLeader } from '../cluster/election.js';
import { etcdCall, type Etcd3 } from '../cluster/etcd.js';
import { clusterPaths } from '../cluster/paths.js';
import { listServices, type ServiceRecord } from '../cluster/registry.js';
import { formatGlt, parseGlt, type Glt } from '../glts/glt.js';
import { decodeCommitRecord, decodeMembership, type CommitRecord } from '../kernel/records.js';
import type { Topology } from '../topology/types.js';
import { percentile } from '../common/latency-histogram.js';
import { formatTable } from '../common/output.js';

/*
 * The shape of `status --json` (one document; `top --json` prints one per frame, with a
 * histogram). Durations are ms, GLTs their text form `<wall>.<logical>`, null where etcd
 * does not know (a region without an elected leader publishes no status):
 *
 * {
 *   name, at (ISO time of the read),
 *   coordinator: { id, epoch, loop?: "leading"|"follower", lastCommitted?: GLT } | null,
 *   coordinators: [{ id, up }],
 *   regions: [{
 *     name, leader: { id, epoch, grpc } | null,
 *     membership: "member"|"excluded"|"unknown", watermark: GLT | null (when excluded),
 *     leaderMember: boolean | null (the leader's own view; it trails etcd's record while it applies it),
 *     frontier: GLT | null, freshnessMs, statusAgeMs,
 *     closedLagMs (its own stream), appliedLagMs: { origin: ms | null } (each other region it holds),
 *     blocked: string | null, leaders: [{ id, up }], datanodes: [{ id, up, pid? }]
 *   }],
 *   membershipVersion: number | null,
 *   excluded: [{ region, watermark, hiddenAbove }],
 *   commits: [{ glt, members, epoch, coordinator, membershipVersion, decideMs, lagMs, sincePreviousMs }] (newest first),
 *   commitStats: { count, intervalMs, budgetMs, perSecond, lastAgeMs, lagP50Ms, lagP99Ms, decideP99Ms }
 * }
 */

export interface Up {
  readonly id: string;
  readonly up: boolean;
}

export interface CoordinatorView {
  readonly id: string;
  readonly epoch: string;
  /** The commit loop's state: "follower" while a new term still reads etcd. */
  readonly loop?: string;
  readonly lastCommitted?: string;
}

export interface RegionView {
  readonly name: string;
  readonly leader: { readonly id: string; readonly epoch: string; readonly grpc: unknown } | null;
  readonly membership: 'member' | 'excluded' | 'unknown';
  /** When excluded: the last GLT committed with it; its frontier stays at or below it until readmitted. */
  readonly watermark: string | null;
  readonly leaderMember: boolean | null;
  readonly frontier: string | null;
  /** How old the frontier's snapshot was when the leader published its status: its clock − the frontier's wall time, never below 0. */
  readonly freshnessMs: number | null;
  /** How long ago the leader published that status (about every second). */
  readonly statusAgeMs: number | null;
  /** How far the region's own stream (its closed mark) trails the leader's clock. */
  readonly closedLagMs: number | null;
  /** How far behind the leader's clock this region holds each other region. */
  readonly appliedLagMs: Readonly<Record<string, number | null>>;
  /** Why the leader cannot apply the membership rules (MEMBERSHIP_GAP), when it cannot. */
  readonly blocked: string | null;
  readonly leaders: readonly Up[];
  readonly datanodes: readonly (Up & { readonly pid?: number })[];
}

/** One commit record from etcd. */
export interface CommitRow {
  readonly glt: string;
  readonly members: readonly string[];
  readonly epoch: string;
  readonly coordinator: string;
  readonly membershipVersion: number;
  /** Interval tick → decision, as the coordinator measured it. */
  readonly decideMs: number;
  /** How far the GLT trailed the coordinator's clock when decided: the slowest member's lag. */
  readonly lagMs: number;
  /** GLT distance to the previous commit read (null for the oldest). */
  readonly sincePreviousMs: number | null;
}

export interface CommitStats {
  readonly count: number;
  readonly intervalMs: number;
  readonly budgetMs: number;
  /** Commits per second over the commits read, from their decision times (T + lag). */
  readonly perSecond: number | null;
  /** Since the newest commit was decided, by this machine's clock (never below 0). */
  readonly lastAgeMs: number | null;
  readonly lagP50Ms: number | null;
  readonly lagP99Ms: number | null;
  readonly decideP99Ms: number | null;
}

export interface ClusterStatus {
  readonly name: string;
  readonly at: string;
  readonly coordinator: CoordinatorView | null;
  readonly coordinators: readonly Up[];
  readonly regions: readonly RegionView[];
  readonly membershipVersion: number | null;
  readonly excluded: readonly { readonly region: string; readonly watermark: string; readonly hiddenAbove: string }[];
  /** Newest first. */
  readonly commits: readonly CommitRow[];
  readonly commitStats: CommitStats;
}

const wallMs = (g: Glt): number => Number(g.wall) / 1e6;
const round1 = (x: number): number => Math.round(x * 10) / 10;

/** Rows of commit records read newest first. */
export function commitRows(records: readonly CommitRecord[]): CommitRow[] {
  return records.map((r, i) => {
    const older = records[i + 1];
    return {
      glt: formatGlt(r.T),
      members: r.members,
      epoch: r.epoch.toString(),
      coordinator: r.coordinator,
      membershipVersion: r.membershipVersion,
      decideMs: r.decideMs,
      lagMs: r.lagMs,
      sincePreviousMs: older ? round1(wallMs(r.T) - wallMs(older.T)) : null,
    };
  });
}

/** The figures of commit rows (newest first) at `nowMs` (Unix ms). */
export function commitStats(rows: readonly CommitRow[], o: { readonly intervalMs: number; readonly budgetMs: number; readonly nowMs: number }): CommitStats {
  // A lag below 0 (the coordinator's clock behind T's, within the offset bound) is no lag: latency samples are ≥ 0.
  const quantile = (f: (r: CommitRow) => number, p: number) => (rows.length === 0 ? null : round1(percentile(rows.map((r) => Math.max(0, f(r))), p)));
  // The coordinator decided T when its clock read T + lag: a rate of decisions, not of GLTs covered.
  const decidedMs = rows.map((r) => wallMs(parseGlt(r.glt)) + r.lagMs);
  const spanMs = rows.length > 1 ? decidedMs[0]! - decidedMs[rows.length - 1]! : 0;
  return {
    count: rows.length,
    intervalMs: o.intervalMs,
    budgetMs: o.budgetMs,
    perSecond: spanMs > 0 ? round1(((rows.length - 1) * 1000) / spanMs) : null,
    lastAgeMs: rows.length > 0 ? Math.max(0, Math.round(o.nowMs - decidedMs[0]!)) : null,
    lagP50Ms: quantile((r) => r.lagMs, 50),
    lagP99Ms: quantile((r) => r.lagMs, 99),
    decideP99Ms: quantile((r) => r.decideMs, 99),
  };
}

const numberOrNull = (x: unknown): number | null => (typeof x === 'number' && Number.isFinite(x) ? x : null);

/** The figures a leader's published status gives (regional/leader.ts `status()`), read at `nowMs`. */
export function leaderFigures(
  status: Readonly<Record<string, unknown>> | undefined,
  nowMs: number,
): Pick<RegionView, 'frontier' | 'freshnessMs' | 'statusAgeMs' | 'closedLagMs' | 'appliedLagMs' | 'blocked' | 'leaderMember'> {
  const frontierText = typeof status?.['frontier'] === 'string' ? status['frontier'] : undefined;
  const frontier = frontierText ? parseGlt(frontierText) : undefined;
  const at = numberOrNull(status?.['at']);
  const applied = status?.['appliedLagMs'];
  // A zero frontier is a region that never served a snapshot: no age to speak of.
  const served = frontier !== undefined && frontier.wall > 0n;
  return {
    frontier: served ? formatGlt(frontier) : null,
    // Against the leader's clock when it read the frontier: a frontier ahead of that clock (skew) is fresh, not negative.
    freshnessMs: served && at !== null ? Math.max(0, Math.round(at - wallMs(frontier))) : null,
    statusAgeMs: at !== null ? Math.max(0, Math.round(nowMs - at)) : null,
    closedLagMs: numberOrNull(status?.['closedLagMs']),
    appliedLagMs: typeof applied === 'object' && applied !== null ? Object.fromEntries(Object.entries(applied).map(([o, v]) => [o, numberOrNull(v)])) : {},
    blocked: typeof status?.['blocked'] === 'string' ? status['blocked'] : null,
    leaderMember: typeof status?.['member'] === 'boolean' ? status['member'] : null,
  };
}

/**
 * What `status` and `top` show, read from etcd alone (so it works with any region or the
 * coordinator down): elections, the service registry (the leaders' and the coordinator's
 * published status, about once a second), the membership record and the newest
 * `commitLimit` commit records.
 */
export async function readClusterStatus(client: Etcd3, topology: Topology, commitLimit: number): Promise<ClusterStatus> {
  const paths = clusterPaths(topology.name);
  const [coordinator, services, membershipKv, commitKvs] = await Promise.all([
    currentLeader(client, paths.electionPrefix(paths.coordinatorElection)),
    listServices(client, paths),
    etcdCall('read membership', () => client.get(paths.membership).exec()),
    etcdCall('read commits', () => client.getAll().prefix(paths.commitsPrefix).sort('Key', 'Descend').limit(commitLimit).exec()),
  ]);
  const nowMs = Date.now();
  const membership = membershipKv.kvs[0] ? decodeMembership(membershipKv.kvs[0].value) : undefined;
  const find = (role: ServiceRecord['role'], id: string): ServiceRecord | undefined => services.find((s) => s.role === role && s.id === id);
  const regions = await Promise.all(
    topology.regions.map(async (r): Promise<RegionView> => {
      const leader = await currentLeader(client, paths.electionPrefix(paths.leaderElection(r.name)));
      const excluded = membership?.ok ? membership.value.excluded.find((e) => e.region === r.name) : undefined;
      return {
        name: r.name,
        leader: leader ? { id: leader.value.id, epoch: leader.epoch.toString(), grpc: leader.value['grpc'] } : null,
        // No record yet: every region is a member (the initial membership).
        membership: membership === undefined ? 'member' : membership.ok ? (excluded ? 'excluded' : 'member') : 'unknown',
        watermark: excluded ? formatGlt(excluded.watermark) : null,
        ...leaderFigures(leader ? find('leader', leader.value.id)?.status : undefined, nowMs),
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
  const commits = commitRows(records);
  const cs = coordinator ? find('coordinator', coordinator.value.id)?.status : undefined;
  return {
    name: topology.name,
    at: new Date(nowMs).toISOString(),
    coordinator: coordinator
      ? {
          id: coordinator.value.id,
          epoch: coordinator.epoch.toString(),
          ...(typeof cs?.['loop'] === 'string' ? { loop: cs['loop'] } : {}),
          ...(typeof cs?.['lastCommitted'] === 'string' ? { lastCommitted: cs['lastCommitted'] } : {}),
        }
      : null,
    coordinators: topology.coordinators.map((c) => ({ id: c.id, up: find('coordinator', c.id) !== undefined })),
    regions,
    membershipVersion: membership?.ok ? membership.value.version : null,
    excluded: membership?.ok ? membership.value.excluded.map((e) => ({ region: e.region, watermark: formatGlt(e.watermark), hiddenAbove: formatGlt(e.hiddenAbove) })) : [],
    commits,
    commitStats: commitStats(commits, { intervalMs: topology.snapshot.intervalMs, budgetMs: topology.snapshot.budgetMs, nowMs }),
  };
}

const upList = (xs: readonly Up[]): string => xs.map((x) => `${x.id}${x.up ? '' : ' (down)'}`).join(', ');
const ms = (x: number | null): string => (x === null ? '-' : x.toFixed(1));
const seconds = (x: number | null): string => (x === null ? '-' : `${(x / 1000).toFixed(1)} s`);

function agesText(ages: readonly number[]): string {
  if (ages.length === 0) return 'no leader publishes one';
  const [lo, hi] = [Math.min(...ages), Math.max(...ages)];
  return lo === hi ? `${seconds(lo)} ago` : `${seconds(lo)} to ${seconds(hi)} ago`;
}

function membershipText(r: RegionView): string {
  const own = r.membership === 'excluded' ? `excluded ≤ ${r.watermark}` : r.membership;
  // The leader applies membership records in order: for a moment it may still act on the previous one.
  const lagging = r.leaderMember !== null && r.membership !== 'unknown' && r.leaderMember !== (r.membership === 'member');
  return lagging ? `${own} (leader: ${r.leaderMember ? 'member' : 'excluded'})` : own;
}

const othersText = (lags: RegionView['appliedLagMs']): string =>
  Object.entries(lags)
    .map(([origin, v]) => `${origin} ${v ?? '-'}`)
    .join(', ');

/** The status as text: a header, the regions table, excluded regions, commit figures and the last `showCommits` commits. */
export function formatClusterStatus(s: ClusterStatus, showCommits: number): string {
  const c = s.coordinator;
  const coordinatorText = c ? `${c.id} (epoch ${c.epoch}${c.loop !== undefined && c.loop !== 'leading' ? `, ${c.loop}` : ''})` : 'none elected';
  const ages = s.regions.flatMap((r) => (r.statusAgeMs === null ? [] : [r.statusAgeMs]));
  const out = [
    `deployment ${s.name}: coordinator ${coordinatorText}; candidates ${upList(s.coordinators)}`,
    '',
    formatTable(
      ['region', 'leader', 'epoch', 'membership', 'frontier', 'fresh ms', 'own lag ms', 'holds others (lag ms)', 'leader candidates', 'data nodes'],
      s.regions.map((r) => [
        r.name,
        r.leader?.id ?? 'none',
        r.leader?.epoch,
        membershipText(r),
        r.frontier,
        r.freshnessMs,
        r.closedLagMs,
        othersText(r.appliedLagMs) || null,
        upList(r.leaders),
        upList(r.datanodes),
      ]),
    ),
    `fresh: how old the region's readable snapshot was as its leader last published it, ${agesText(ages)}; own lag: its own stream (closed mark); holds others: how far behind it holds each other region`,
  ];
  for (const r of s.regions) if (r.blocked !== null) out.push(`${r.name} is blocked: ${r.blocked}`);
  if (s.excluded.length > 0) out.push('', `excluded (membership version ${s.membershipVersion}): ${s.excluded.map((e) => `${e.region} (watermark ${e.watermark}, its versions above ${e.hiddenAbove} hidden)`).join(', ')}`);
  const st = s.commitStats;
  out.push(
    '',
    st.count === 0
      ? 'commits: none yet'
      : `commits (last ${st.count}): ${st.perSecond === null ? '-' : st.perSecond.toFixed(1)}/s (interval ${st.intervalMs} ms), last ${seconds(st.lastAgeMs)} ago; ` +
          `lag p50 ${ms(st.lagP50Ms)} ms, p99 ${ms(st.lagP99Ms)} ms; decide p99 ${ms(st.decideP99Ms)} ms (budget ${st.budgetMs} ms)`,
  );
  const shown = s.commits.slice(0, showCommits);
  if (shown.length > 0) {
    out.push(
      '',
      formatTable(
        ['glt', 'members', 'epoch', 'coordinator', 'decide ms', 'lag ms', 'since previous ms'],
        shown.map((x) => [x.glt, x.members.join(','), x.epoch, x.coordinator, ms(x.decideMs), ms(x.lagMs), ms(x.sincePreviousMs)]),
      ),
    );
  }
  return out.join('\n');
}
