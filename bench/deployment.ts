/**
 * A topology running on this machine for `bench snapshot` and `aetherflow demo`: started
 * as `aetherflow up` starts it (in this process, which is then the supervisor and the load
 * generator), observed through the public client API, and measured through its processes'
 * /metrics and /proc.
 *
 *  - SnapshotObserver: per region, the snapshots the region's leader announces through
 *    Snapshots.Watch — a leader announces a commit once its frontier has reached it, so
 *    the stream is the region's frontier over time; the first announcement of each commit
 *    is the commit as the deployment saw it.
 *  - runWindow: a write load (history/write-load.ts) for a duration, with the
 *    frontiers' freshness sampled every 10 ms (now − the wall time the frontier covers).
 */
import { join } from 'node:path';
import { connect, type AetherClient, type SnapshotSummary } from '../client/client.js';
import { currentLeader } from '../cluster/election.js';
import { connectTopologyEtcd, type Etcd3 } from '../cluster/etcd.js';
import { clusterPaths } from '../cluster/paths.js';
import { AetherError, assert } from '../common/errors.js';
import { systemPhysicalNs } from '../glts/clock.js';
import { compareGlt, type Glt } from '../glts/glt.js';
import { Launch, type LaunchEvent } from '../topology/launcher.js';
import { runtimeDir } from '../topology/local-etcd.js';
import type { Topology } from '../topology/types.js';
import { percentile } from '../common/latency-histogram.js';
import { WriteLoad, type AcknowledgedWrite, type WriteLoadStats } from '../history/write-load.js';

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** A topology running on this machine, started as `aetherflow up` starts it, and a client of it. */
export interface Deployment {
  readonly topology: Topology;
  readonly launch: Launch;
  readonly client: AetherClient;
  /** The pids of every role process now running, and of the local etcd's members. */
  pids(): number[];
  /** What each of those pids runs: its role (or "etcd") by pid. */
  roles(): ReadonlyMap<number, string>;
  /** Each of those pids' process id in the topology (or "etcd-<pid>"). */
  ids(): ReadonlyMap<number, string>;
  /** Role processes that exited while the deployment ran (crashes; not the final stop). */
  exits(): readonly string[];
}

/** Longest call of the bench's client: above the longest read wait it asks for. */
const CLIENT_CALL_TIMEOUT_MS = 20_000;

/** Starts every process of the topology (and a local etcd when it names none) and waits until all are ready. */
export async function startDeployment(topology: Topology, onEvent: (e: LaunchEvent) => void): Promise<Deployment> {
  let etcdPids: readonly number[] = [];
  const exits: string[] = [];
  let stopping = false;
  const launch = await Launch.start(topology, {
    onEvent: (e) => {
      if (e.type === 'etcd-ready') etcdPids = e.pids;
      if (e.type === 'stopping') stopping = true;
      if (e.type === 'process' && e.state === 'exited' && !stopping) exits.push(`${e.process.id} (${e.signal ?? `code ${e.exitCode}`})`);
      onEvent(e);
    },
  });
  try {
    await launch.ready();
    return {
      topology,
      launch,
      // Without read-your-writes: visibility and local-read figures measure the deployment, not this client's session.
      client: connect({ topology, callTimeoutMs: CLIENT_CALL_TIMEOUT_MS, readYourWrites: false }),
      pids: () => [...launch.supervisor.pids().values(), ...etcdPids],
      roles: () => {
        const role = new Map(launch.processes.map((p) => [p.id, p.role as string]));
        const out = new Map<number, string>();
        for (const [id, pid] of launch.supervisor.pids()) out.set(pid, role.get(id) ?? id);
        for (const pid of etcdPids) out.set(pid, 'etcd');
        return out;
      },
      ids: () => {
        const out = new Map<number, string>();
        for (const [id, pid] of launch.supervisor.pids()) out.set(pid, id);
        for (const pid of etcdPids) out.set(pid, `etcd-${pid}`);
        return out;
      },
      exits: () => exits,
    };
  } catch (err) {
    await launch.stop();
    throw err;
  }
}

export async function stopDeployment(d: Deployment): Promise<void> {
  d.client.close();
  await d.launch.stop();
}

/** Human progress while a deployment starts: one line per process as it becomes ready. */
export function startProgress(topology: Topology, out: (line: string) => void): (e: LaunchEvent) => void {
  const logDir = join(runtimeDir(topology), 'logs');
  let total = 0;
  let ready = 0;
  let stopping = false;
  return (e) => {
    if (e.type === 'stopping') stopping = true;
    if (e.type === 'etcd-starting') out(`starting a local etcd…`);
    else if (e.type === 'etcd-ready') out(`etcd ready at ${e.endpoints.join(', ')}`);
    else if (e.type === 'starting') {
      total = e.processes.length;
      out(`starting ${total} processes (data nodes, leaders, coordinators)…`);
    } else if (e.type === 'process' && e.state === 'ready' && e.restarts === 0) out(`  [${++ready}/${total}] ${e.process.id} ready`);
    else if (e.type === 'process' && e.state === 'exited' && !stopping) out(`  ${e.process.id} exited (${e.signal ?? `code ${e.exitCode}`}); it is restarted — see ${join(logDir, `${e.process.id}.log`)}`);
    else if (e.type === 'stopping') out('stopping every process it started…');
    else if (e.type === 'stopped') out('stopped');
  };
}

/** Waits for SIGINT/SIGTERM while `fn` runs; `fn` sees whether one arrived. */
export async function withStopSignal<T>(fn: (stopRequested: () => boolean) => Promise<T>): Promise<T> {
  let stop = false;
  const onSignal = (): void => void (stop = true);
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    return await fn(() => stop);
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

/** The region of the elected coordinator, from etcd; the first candidate's when etcd cannot say. */
export async function coordinatorRegion(topology: Topology): Promise<string> {
  const fallback = topology.coordinators[0]!.region;
  let etcd: Etcd3;
  try {
    etcd = connectTopologyEtcd(topology);
  } catch {
    return fallback;
  }
  try {
    const paths = clusterPaths(topology.name);
    const leader = await currentLeader<{ id: string }>(etcd, paths.electionPrefix(paths.coordinatorElection));
    return topology.coordinators.find((c) => c.id === leader?.value.id)?.region ?? fallback;
  } catch {
    return fallback;
  } finally {
    etcd.close();
  }
}

/** A region's frontier moved to `glt` at `atMs` (performance.now()). */
export interface FrontierPoint {
  readonly atMs: number;
  readonly glt: Glt;
}

/** A commit as first announced to the observer (by any region). */
export interface ObservedCommit {
  readonly snapshot: SnapshotSummary;
  readonly seenAtMs: number;
}

/** Commits and frontier points kept: 30 minutes at 20 commits/s. */
const MAX_KEPT = 36_000;
/** Pause before watching a region again after its watch ended (leader failover, restart). */
const REWATCH_MS = 200;

/**
 * Per region, the snapshots its leader announces (Snapshots.Watch), which are its
 * frontier over time; watches that end are resumed. idle → watching (start) → stopped (stop).
 */
export class SnapshotObserver {
  private state: 'idle' | 'watching' | 'stopped' = 'idle';
  /** Distinct commits, GLTs strictly increasing (M); bounded to MAX_KEPT. */
  private readonly commits: ObservedCommit[] = [];
  /** Per region, its frontier over time, GLTs strictly increasing; bounded to MAX_KEPT. */
  private readonly frontiers = new Map<string, FrontierPoint[]>();
  private readonly watches = new Set<AsyncGenerator<SnapshotSummary>>();
  private readonly loops: Promise<void>[] = [];

  constructor(
    private readonly client: AetherClient,
    readonly regions: readonly string[],
  ) {
    for (const r of regions) this.frontiers.set(r, []);
  }

  async start(): Promise<void> {
    assert(this.state === 'idle', () => `start in state ${this.state}`);
    this.state = 'watching';
    for (const region of this.regions) this.loops.push(this.watchLoop(region));
  }

  /** Stops watching; resolves when every watch has ended. */
  async stop(): Promise<void> {
    if (this.state !== 'watching') return;
    this.state = 'stopped';
    for (const w of this.watches) void w.return(undefined);
    await Promise.race([Promise.all(this.loops), sleep(2 * REWATCH_MS)]);
  }

  private async watchLoop(region: string): Promise<void> {
    while (this.state === 'watching') {
      const watch = this.client.watchSnapshots({ region });
      this.watches.add(watch);
      try {
        for await (const s of watch) {
          if (this.state !== 'watching') break;
          const now = performance.now();
          this.recordFrontier(region, s.glt, now);
          this.recordCommit(s, now);
        }
      } catch {
        // the leader went away; watch again
      } finally {
        this.watches.delete(watch);
      }
      if (this.state === 'watching') await sleep(REWATCH_MS);
    }
  }

  private recordFrontier(region: string, glt: Glt, atMs: number): void {
    if (glt.wall === 0n) return;
    const points = this.frontiers.get(region)!;
    const last = points[points.length - 1];
    if (last !== undefined && compareGlt(glt, last.glt) <= 0) return;
    points.push({ atMs, glt });
    if (points.length > MAX_KEPT) points.shift();
  }

  private recordCommit(s: SnapshotSummary, atMs: number): void {
    const newest = this.commits[this.commits.length - 1];
    if (newest !== undefined && compareGlt(s.glt, newest.snapshot.glt) <= 0) return;
    this.commits.push({ snapshot: s, seenAtMs: atMs });
    if (this.commits.length > MAX_KEPT) this.commits.shift();
  }

  /** The region's frontier as last announced, if any. */
  frontier(region: string): Glt | undefined {
    const points = this.frontiers.get(region);
    return points?.[points.length - 1]?.glt;
  }

  frontierPoints(region: string): readonly FrontierPoint[] {
    return this.frontiers.get(region) ?? [];
  }

  /** The commits first seen at or after `sinceMs` (performance.now()), oldest first. */
  commitsSince(sinceMs = 0): ObservedCommit[] {
    return this.commits.filter((r) => r.seenAtMs >= sinceMs);
  }

  /** The newest GLT every region's frontier has reached. */
  commonFrontier(): Glt | undefined {
    let common: Glt | undefined;
    for (const r of this.regions) {
      const f = this.frontier(r);
      if (f === undefined) return undefined;
      common = common === undefined || compareGlt(f, common) < 0 ? f : common;
    }
    return common;
  }

  /**
   * Resolves once a commit with every region as a member has been announced — the
   * deployment is whole, so a load starts from steady state; SNAPSHOT_NOT_READY after `timeoutMs`.
   */
  async firstCommit(timeoutMs: number, stopRequested: () => boolean = () => false): Promise<void> {
    const deadline = performance.now() + timeoutMs;
    while (!this.commits.some((r) => this.regions.every((x) => r.snapshot.members.includes(x)))) {
      if (stopRequested()) return;
      if (performance.now() > deadline) throw new AetherError('SNAPSHOT_NOT_READY', `no snapshot with every region committed within ${Math.round(timeoutMs / 1000)} s of the deployment being ready; see the coordinator's and leaders' logs`);
      await sleep(50);
    }
  }

  /** Resolves once every region has announced a frontier, or false after `timeoutMs`. */
  async waitFrontiers(timeoutMs: number): Promise<boolean> {
    return this.allReached({ wall: 0n, logical: 0 }, timeoutMs);
  }

  /** Resolves once every region's frontier is at or above `t`, or false after `timeoutMs`. */
  async allReached(t: Glt, timeoutMs: number): Promise<boolean> {
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      const c = this.commonFrontier();
      if (c !== undefined && compareGlt(c, t) >= 0) return true;
      if (performance.now() > deadline) return false;
      await sleep(20);
    }
  }
}

/** How far behind real time a frontier is, in ms: now − the wall time it covers (negative: ahead of real time). */
export function frontierAgeMs(frontier: Glt, nowNs: bigint = systemPhysicalNs()): number {
  return Number(nowNs - frontier.wall) / 1e6;
}

/** Wait this long for a committed snapshot with every region once every process is ready. */
export const FIRST_COMMIT_TIMEOUT_MS = 60_000;

const FRESHNESS_SAMPLE_MS = 10;

export interface WindowOptions {
  /** Writes per second over every region; 0: no writes, only observation. */
  readonly ratePerS: number;
  readonly durationS: number;
  readonly seed: number;
  readonly keys: number;
  readonly keyPrefix: string;
  readonly valueBytes?: number;
  readonly onAcknowledged?: (w: AcknowledgedWrite) => void;
  /** Called about once a second while the window runs. */
  readonly onSecond?: (tick: SecondTick) => void;
  /** Called right before the load starts and right after it has stopped (every write settled). */
  readonly onLoadStart?: () => void;
  readonly onLoadEnd?: () => void;
  readonly stopRequested?: () => boolean;
}

/** What one second of a run looked like. */
export interface SecondTick {
  readonly elapsedS: number;
  /** Commits announced since the window started, and in the last second. */
  readonly commitsTotal: number;
  readonly commitsLastS: number;
  /** Commit time as the leaders announce it (decide + persist), p50/p99 over the last second. */
  readonly commitP50Ms: number;
  readonly commitP99Ms: number;
  /** Per region, ms its frontier is behind real time (undefined before its first snapshot). */
  readonly lagMs: Readonly<Record<string, number | undefined>>;
  readonly writesLastS: number;
  readonly failuresTotal: number;
}

export interface WindowResult {
  readonly commits: readonly ObservedCommit[];
  /** Per region, freshness samples (ms behind real time, clamped at 0), every FRESHNESS_SAMPLE_MS. */
  readonly freshnessMs: ReadonlyMap<string, number[]>;
  /** Freshness samples whose frontier was more than 1 ms ahead of real time (it never should be), and the most ahead (ms). */
  readonly frontierAhead: { readonly samples: number; readonly maxMs: number };
  readonly load: WriteLoadStats | undefined;
  readonly writeLoad: WriteLoad | undefined;
  readonly durationS: number;
}

/**
 * The writes the load keeps in flight at `ratePerS`: a second's worth, at least 256. A
 * write due while that many wait is shed (counted, never sent): a deployment whose writes
 * take over a second at the offered rate does not sustain it.
 */
export function loadInFlight(ratePerS: number): number {
  return Math.max(256, Math.ceil(ratePerS));
}

/**
 * One window of `durationS` on a started observer: the write load at `ratePerS` (none at 0),
 * freshness sampled per region meanwhile.
 */
export async function runWindow(d: Deployment, observer: SnapshotObserver, o: WindowOptions): Promise<WindowResult> {
  const regions = d.topology.regions.map((r) => r.name);
  const stopRequested = o.stopRequested ?? (() => false);
  const load =
    o.ratePerS > 0
      ? new WriteLoad(d.client, {
          regions,
          ratePerS: o.ratePerS,
          keys: o.keys,
          keyPrefix: o.keyPrefix,
          seed: o.seed,
          ...(o.valueBytes !== undefined ? { valueBytes: o.valueBytes } : {}),
          maxWrites: Math.ceil(o.ratePerS * o.durationS) + 1,
          maxDurationMs: o.durationS * 1000,
          maxInFlight: loadInFlight(o.ratePerS),
          ...(o.onAcknowledged ? { onAcknowledged: o.onAcknowledged } : {}),
        })
      : undefined;
  const freshnessMs = new Map(regions.map((r) => [r, [] as number[]]));
  const ahead = { samples: 0, maxMs: 0 };
  const maxSamples = Math.ceil((o.durationS * 1000) / FRESHNESS_SAMPLE_MS) + 10;
  const sampler = setInterval(() => {
    const now = systemPhysicalNs();
    for (const r of regions) {
      const f = observer.frontier(r);
      const samples = freshnessMs.get(r)!;
      if (f === undefined || samples.length >= maxSamples) continue;
      const age = frontierAgeMs(f, now);
      if (age < -1) {
        ahead.samples++;
        ahead.maxMs = Math.max(ahead.maxMs, -age);
      }
      samples.push(Math.max(0, age));
    }
  }, FRESHNESS_SAMPLE_MS);
  const startedAt = performance.now();
  const endAt = startedAt + o.durationS * 1000;
  o.onLoadStart?.();
  load?.start();
  let lastTick = startedAt;
  let lastAcked = 0;
  try {
    while ((load ? load.running : performance.now() < endAt) && !stopRequested()) {
      await sleep(Math.max(0, Math.min(lastTick + 1000, load ? Infinity : endAt) - performance.now()));
      if ((load && !load.running) || stopRequested()) break;
      const now = performance.now();
      if (now - lastTick < 900) continue;
      const recent = observer.commitsSince(lastTick);
      const all = observer.commitsSince(startedAt);
      const durations = recent.map((r) => r.snapshot.durationMs);
      const s = load?.stats();
      o.onSecond?.({
        elapsedS: Math.round((now - startedAt) / 1000),
        commitsTotal: all.length,
        commitsLastS: recent.length,
        commitP50Ms: percentile(durations, 50),
        commitP99Ms: percentile(durations, 99),
        lagMs: Object.fromEntries(regions.map((r) => {
          const f = observer.frontier(r);
          return [r, f && Math.max(0, frontierAgeMs(f))];
        })),
        writesLastS: s ? ((s.acknowledged - lastAcked) * 1000) / (now - lastTick) : 0,
        failuresTotal: s ? Object.values(s.failures).reduce((a, b) => a + b, 0) : 0,
      });
      lastAcked = s?.acknowledged ?? 0;
      lastTick = now;
    }
  } finally {
    await load?.stop();
    o.onLoadEnd?.();
    clearInterval(sampler);
  }
  return {
    commits: observer.commitsSince(startedAt),
    freshnessMs,
    frontierAhead: ahead,
    load: load?.stats(),
    writeLoad: load,
    durationS: (performance.now() - startedAt) / 1000,
  };
}
