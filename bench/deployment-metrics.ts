/**
 * The figures `bench snapshot` reads from a deployment's processes' /metrics, as the
 * difference between a scrape before and one after a window:
 *  - commit time by phase (snapshot_commit_seconds, the elected coordinator's histogram:
 *    tick → decided → persisted in etcd → Commit sent to every region) and commits;
 *  - what the leaders shipped (replication_shipped_bytes_total / _versions_total, summed
 *    over peers) and what their Quantum endpoints put on the wire (quantum_bytes_total out);
 *  - writes that waited for the own stream (writes_backpressured_total);
 *  - per process, the longest event-loop task (eventloop_longest_task_seconds) and
 *    prom-client's event-loop delay max (nodejs_eventloop_lag_max_seconds). Both cover
 *    the time since the previous scrape, so the scrape that opens a window resets them.
 * A process that does not answer one of the two scrapes is left out of the differences.
 */
import { roleProcesses, type RoleName } from '../topology/launcher.js';
import type { Topology } from '../topology/types.js';
import { bucketsOf, maxOf, scrape, sumOf, type LabelFilter, type Sample } from './prom-text.js';
import { subtractBuckets, type Bucket } from './stats.js';

export const COMMIT_METRIC = 'snapshot_commit_seconds';

/** One scrape of every process of a deployment: by process id, its samples (undefined: it did not answer). */
export interface DeploymentScrape {
  readonly processes: ReadonlyMap<string, { readonly role: RoleName; readonly samples: readonly Sample[] | undefined }>;
}

export async function scrapeDeployment(topology: Topology): Promise<DeploymentScrape> {
  const ps = roleProcesses(topology);
  const samples = await Promise.all(ps.map((p) => scrape(p.metrics)));
  return { processes: new Map(ps.map((p, i) => [p.id, { role: p.role, samples: samples[i] }])) };
}

/** Pairs of (before, after) samples of the processes of `role` that answered both scrapes. */
function pairs(before: DeploymentScrape, after: DeploymentScrape, role: RoleName): [readonly Sample[], readonly Sample[]][] {
  const out: [readonly Sample[], readonly Sample[]][] = [];
  for (const [id, a] of after.processes) {
    const b = before.processes.get(id);
    if (a.role === role && a.samples && b?.samples) out.push([b.samples, a.samples]);
  }
  return out;
}

/** How much a counter grew over the processes of `role`; a process whose counter went back (it restarted) counts its new value. */
export function counterDelta(before: DeploymentScrape, after: DeploymentScrape, role: RoleName, name: string, filter: LabelFilter = {}): number {
  let sum = 0;
  for (const [b, a] of pairs(before, after, role)) {
    const x = sumOf([a], name, filter);
    const y = sumOf([b], name, filter);
    sum += x >= y ? x - y : x;
  }
  return sum;
}

/** The buckets a histogram gained over the processes of `role`, summed. */
export function histogramDelta(before: DeploymentScrape, after: DeploymentScrape, role: RoleName, name: string, filter: LabelFilter = {}): Bucket[] {
  const total = new Map<number, number>();
  for (const [b, a] of pairs(before, after, role)) {
    const x = bucketsOf([a], name, filter);
    const y = bucketsOf([b], name, filter);
    const restarted = (x[x.length - 1]?.count ?? 0) < (y[y.length - 1]?.count ?? 0);
    for (const bucket of restarted ? x : subtractBuckets(x, y)) total.set(bucket.le, (total.get(bucket.le) ?? 0) + bucket.count);
  }
  return [...total].sort((p, q) => p[0] - q[0]).map(([le, count]) => ({ le, count }));
}

/** The greatest value of a gauge in any process (of any role) in one scrape, and which process. */
export function maxGauge(s: DeploymentScrape, name: string): { readonly value: number; readonly process: string } | undefined {
  let best: { value: number; process: string } | undefined;
  for (const [id, p] of s.processes) {
    const v = p.samples && maxOf(p.samples, name);
    if (v !== undefined && (best === undefined || v > best.value)) best = { value: v, process: id };
  }
  return best;
}

/** Processes that did not answer a scrape. */
export function silentProcesses(s: DeploymentScrape): string[] {
  return [...s.processes].filter(([, p]) => p.samples === undefined).map(([id]) => id);
}

export const COMMIT_PHASES = ['decide', 'persist', 'announce', 'total'] as const;
export type Phase = (typeof COMMIT_PHASES)[number];

export interface WindowMetrics {
  readonly commits: number;
  /** Commit-time buckets (seconds) gained per phase. */
  readonly commitBuckets: Readonly<Record<Phase, Bucket[]>>;
  readonly shippedBytes: number;
  readonly shippedVersions: number;
  readonly quantumOutBytes: number;
  /** The leaders' Quantum datagrams sent, FEC parity packets among them, and retransmissions: what the wire bytes are made of. */
  readonly quantumOutPackets: number;
  readonly fecParityPackets: number;
  readonly retransmissions: number;
  readonly backpressured: { readonly admitted: number; readonly refused: number };
  /** Worst process over the window (the after-scrape's gauges; the before-scrape reset them). */
  readonly longestTask?: { readonly value: number; readonly process: string };
  readonly loopDelayMax?: { readonly value: number; readonly process: string };
  readonly silent: readonly string[];
}

export function windowMetrics(before: DeploymentScrape, after: DeploymentScrape): WindowMetrics {
  const commitBuckets = Object.fromEntries(COMMIT_PHASES.map((phase) => [phase, histogramDelta(before, after, 'coordinator', COMMIT_METRIC, { phase })])) as Record<Phase, Bucket[]>;
  const longestTask = maxGauge(after, 'eventloop_longest_task_seconds');
  const loopDelayMax = maxGauge(after, 'nodejs_eventloop_lag_max_seconds');
  return {
    commits: counterDelta(before, after, 'coordinator', 'snapshot_commits_total'),
    commitBuckets,
    shippedBytes: counterDelta(before, after, 'leader', 'replication_shipped_bytes_total'),
    shippedVersions: counterDelta(before, after, 'leader', 'replication_shipped_versions_total'),
    quantumOutBytes: counterDelta(before, after, 'leader', 'quantum_bytes_total', { direction: 'out' }),
    quantumOutPackets: counterDelta(before, after, 'leader', 'quantum_packets_sent_total', { direction: 'out' }),
    fecParityPackets: counterDelta(before, after, 'leader', 'quantum_fec_parity_sent_total'),
    retransmissions: counterDelta(before, after, 'leader', 'quantum_retransmissions_total'),
    backpressured: {
      admitted: counterDelta(before, after, 'leader', 'writes_backpressured_total', { outcome: 'admitted' }),
      refused: counterDelta(before, after, 'leader', 'writes_backpressured_total', { outcome: 'refused' }),
    },
    ...(longestTask ? { longestTask } : {}),
    ...(loopDelayMax ? { loopDelayMax } : {}),
    silent: [...new Set([...silentProcesses(before), ...silentProcesses(after)])],
  };
}
