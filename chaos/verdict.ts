import type { AetherClient } from '../client/client.js';
import { GLT_ZERO, compareGlt, maxGlt, type Glt } from '../glts/glt.js';
import { WriteLoad, type AcknowledgedWrite } from '../history/write-load.js';
import type { CommitHistory } from '../history/commit-history.js';
import type { CommitObserver, ObservedCommit } from './commit-observer.js';
import type { CommitRecord } from '../kernel/records.js';
import type { DrillOptions, DrillReport, FaultReport } from './drill-report.js';
import type { FaultKind, InjectedFault } from './scenarios.js';
import type { FrontierSampler } from './frontier-sampler.js';
import { readBack, type ReadBackResult } from './read-back.js';

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** The keyed load's keyspace: small, so regions overwrite each other's keys and LWW decides. */
export const KEYS = 500;
/** Snapshots right after readmissions checked besides the four below: where re-stamped writes show before later writes hide them. */
const MAX_READMISSION_GLTS = 6;

/** The keyed load every drill runs over every region (puts only: a failed write's outcome is unknown, and a failed delete that landed could not be told from a lost put). */
export function keyedLoad(client: AetherClient, regions: readonly string[], prefix: string, o: DrillOptions, windowS: number): WriteLoad {
  const maxS = windowS + 2 * o.settleS + o.recoverTimeoutS + 30;
  return new WriteLoad(client, { regions, keyPrefix: prefix, keys: KEYS, ratePerS: o.ratePerS, seed: o.seed, deleteFraction: 0, maxDurationMs: maxS * 1000, maxWrites: Math.ceil(o.ratePerS * maxS) });
}

/** Waits until a commit observed after `afterMs` has every region a member, or until `deadlineMs`. */
export async function waitForEveryRegion(observer: CommitObserver, regions: readonly string[], afterMs: number, deadlineMs: number): Promise<ObservedCommit | undefined> {
  for (;;) {
    const c = observer.firstCommitAfter(afterMs, (r) => regions.every((x) => r.members.includes(x)));
    if (c || Date.now() >= deadlineMs) return c;
    await sleep(100);
  }
}

/** The goals of the chaos issue, per fault: ms from the fault to the next commit among the others. */
const GOAL_MS: Readonly<Record<FaultKind, number | null>> = {
  'region-partition': 500,
  'region-crash': 500,
  'coordinator-kill': 2000,
  'leader-kill': null,
  'datanode-kill': null,
  'etcd-leader-kill': null,
};

/** An injected fault, when it hit and when it was healed (0: not healed). */
export interface FaultDone {
  readonly fault: Pick<InjectedFault, 'kind' | 'target' | 'region' | 'epochBefore' | 'pids'>;
  readonly atMs: number;
  readonly healedAtMs: number;
  /** Restarted processes a crash hold killed again. */
  readonly restarts: readonly number[];
}

/**
 * The first commit that shows the deployment past the fault: its T is at or after the
 * fault (stamps follow real time, so it was decided after it) and, for a region fault, it
 * is a commit of the others without the region; for a coordinator kill, one of a newer
 * epoch.
 */
function nextCommitAfter(f: FaultDone['fault'], atMs: number): (r: CommitRecord) => boolean {
  const after = (r: CommitRecord): boolean => r.T.wall >= BigInt(atMs) * 1_000_000n;
  if ((f.kind === 'region-partition' || f.kind === 'region-crash') && f.region) return (r) => after(r) && !r.members.includes(f.region!);
  if (f.kind === 'coordinator-kill' && f.epochBefore !== undefined) return (r) => after(r) && r.epoch > f.epochBefore!;
  return after;
}

/** What the observed commits and membership records show of one fault; times relative to `t0`. */
export function faultReport(observer: CommitObserver, e: FaultDone, t0: number): FaultReport {
  const next = observer.firstCommitAfter(e.atMs, nextCommitAfter(e.fault, e.atMs));
  const region = e.fault.region;
  const regionFault = e.fault.kind === 'region-partition' || e.fault.kind === 'region-crash';
  const excluded = regionFault ? observer.firstMembershipAfter(e.atMs, (m) => !m.members.includes(region!)) : undefined;
  const readmitted = regionFault && e.healedAtMs ? observer.firstMembershipAfter(e.healedAtMs, (m) => m.members.includes(region!)) : undefined;
  return {
    kind: e.fault.kind,
    target: e.fault.target,
    atMs: e.atMs - t0,
    healedAtMs: e.healedAtMs ? e.healedAtMs - t0 : 0,
    pidsKilled: [...e.fault.pids],
    restartsKilled: e.restarts.length,
    faultToNextCommitMs: next ? next.atMs - e.atMs : null,
    goalMs: GOAL_MS[e.fault.kind],
    excludedAfterMs: excluded ? excluded.atMs - e.atMs : null,
    readmittedAfterHealMs: readmitted ? readmitted.atMs - e.healedAtMs : null,
  };
}

/** One key range read back: the writes of one load; `everyGlt` false reads it at the final GLT only (a bulk load's data is large). */
export interface LoadToJudge {
  readonly prefix: string;
  readonly keys: number;
  readonly acked: readonly AcknowledgedWrite[];
  readonly uncertain: ReadonlySet<string>;
  readonly everyGlt: boolean;
}

export interface Verdict {
  readonly everyRegionReadmitted: boolean;
  readonly writes: Pick<DrillReport['writes'], 'lost' | 'restamped' | 'restampsSeen' | 'hidden'>;
  readonly invariants: DrillReport['invariants'];
  readonly checkedGlts: string[];
  readonly problems: string[];
}

/**
 * After the load stopped: the final GLT — a settled commit of every region above every
 * acknowledged write (or, when a region is still excluded after the recovery timeout, the
 * newest settled commit of the others: its writes then count as hidden, not lost) — and
 * every load's writes read back (read-back.ts) at it and at a few GLTs of the run.
 */
export async function judge(
  client: AetherClient,
  observer: CommitObserver,
  frontiers: FrontierSampler,
  o: {
    readonly regions: readonly string[];
    readonly loads: readonly LoadToJudge[];
    readonly newest: Glt;
    readonly loadStoppedMs: number;
    readonly recoverTimeoutS: number;
    /** Fault window (Date.now()): GLTs before, during and after it are checked. */
    readonly windowMs: readonly [number, number];
    readonly say: (line: string) => void;
  },
): Promise<Verdict> {
  const problems: string[] = [];
  // A commit decided after the load stopped may still trail the last writes: T at or above every acknowledged ts.
  const final = (await observer.settledCommit(o.regions, o.newest, o.loadStoppedMs + 1, Date.now() + o.recoverTimeoutS * 1000)) ?? observer.lastSettledCommit(o.newest);
  const history = observer.history();
  if (!final) problems.push(`no settled commit above every acknowledged write within ${o.recoverTimeoutS}s after the load stopped: nothing could be read back`);
  else if (final.record.members.length < o.regions.length) {
    const out = o.regions.filter((r) => !final.record.members.includes(r));
    problems.push(`${out.join(', ')} not readmitted within ${o.recoverTimeoutS}s after the load stopped: read back at the others' last commit`);
  }
  const results: ReadBackResult[] = [];
  if (final) {
    const glts = checkGlts(observer, history, o.windowMs, final);
    const regions = final.record.members;
    for (const l of o.loads) {
      o.say(`reading ${l.acked.length} acknowledged writes under ${l.prefix} back at ${l.everyGlt ? glts.length : 1} GLTs in ${regions.join(', ')}`);
      results.push(await readBack(client, { regions, prefix: l.prefix, keys: l.keys, acked: l.acked, history, glts: l.everyGlt ? glts : [final.record.T], uncertainKeys: l.uncertain }));
    }
  }
  for (const rb of results) problems.push(...rb.problems, ...rb.scanErrors.map((s) => `scan failed: ${s}`));
  if (observer.malformed > 0) problems.push(`${observer.malformed} malformed commit or membership records in etcd`);
  for (const r of frontiers.regressions) problems.push(`frontier of ${r.region} moved back from ${r.from} to ${r.to}`);
  const breaks = observer.monotonicBreaks();
  problems.push(...breaks);
  const read = final !== undefined && results.every((rb) => rb.scanErrors.length === 0);
  const sum = (f: (rb: ReadBackResult) => number): number => results.reduce((a, rb) => a + f(rb), 0);
  const lost = read ? sum((rb) => rb.lost) : null;
  return {
    everyRegionReadmitted: final !== undefined && o.regions.every((r) => final.record.members.includes(r)),
    writes: { lost, restamped: sum((rb) => rb.restamped), restampsSeen: sum((rb) => rb.restampsSeen), hidden: sum((rb) => rb.hidden) },
    invariants: {
      sHeld: read && results.every((rb) => rb.sameSnapshot),
      dHeld: read && results.every((rb) => rb.modelHeld) && lost === 0,
      mHeld: breaks.length === 0 && frontiers.regressions.length === 0 && observer.malformed === 0,
    },
    checkedGlts: [...new Set(results.flatMap((rb) => rb.checkedGlts))],
    problems,
  };
}

/**
 * GLTs to compare regions at: the last commit before the window, one during it, one after
 * it, the final one, and the first commits after readmissions (up to the final).
 */
function checkGlts(observer: CommitObserver, history: CommitHistory, [startMs, endMs]: readonly [number, number], final: ObservedCommit): Glt[] {
  const before = observer.commits.filter((c) => c.atMs < startMs).at(-1);
  const during = observer.commitsBetween(startMs, endMs);
  const after = observer.commitsBetween(endMs, final.atMs);
  const picks = [before, during[Math.floor(during.length / 2)], after[Math.floor(after.length / 2)]]
    .filter((c): c is ObservedCommit => c !== undefined && history.settledAt(c.record.T))
    .map((c) => c.record.T);
  picks.push(...history.afterReadmissions(MAX_READMISSION_GLTS), final.record.T);
  const out: Glt[] = [];
  for (const T of picks) if (compareGlt(T, final.record.T) <= 0 && !out.some((g) => compareGlt(g, T) === 0)) out.push(T);
  return out.sort(compareGlt);
}

/** The greater of two optional stamps. */
export function newestOf(a: Glt | undefined, b: Glt | undefined): Glt {
  return maxGlt(a ?? GLT_ZERO, b ?? GLT_ZERO);
}

