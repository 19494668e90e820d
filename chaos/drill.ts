import { connect } from '../client/client.js';
import { AetherError } from '../common/errors.js';
import { GLT_ZERO, compareGlt, type Glt } from '../glts/glt.js';
import type { Figure } from '../bench/index.js';
import { WriteLoad } from '../bench/workload.js';
import type { CommitRecord } from '../kernel/records.js';
import { processAlive } from '../topology/supervisor.js';
import { Random } from '../transport/random.js';
import type { Deployment } from './deployment.js';
import { FrontierSampler } from './frontier-sampler.js';
import { CommitHistory } from './commit-history.js';
import { readBack, type ReadBackResult } from './read-back.js';
import { RoundObserver, type ObservedCommit } from './round-observer.js';
import { injectFault, planDrill, type DrillName, type FaultKind, type InjectedFault } from './scenarios.js';

export interface DrillOptions {
  readonly durationS: number;
  readonly ratePerS: number;
  readonly seed: number;
  /** Load before the first fault, and after the last heal before the read-back. */
  readonly settleS: number;
  /** How long, after healing, to wait for every region to be a member of a committed round again. */
  readonly recoverTimeoutS: number;
  /** Progress lines (stderr). */
  readonly progress?: (line: string) => void;
}

/** The goals of the chaos issue, per fault: ms from the fault to the next committed round without the failed part. */
const GOAL_MS: Readonly<Record<FaultKind, number | null>> = {
  'region-partition': 500,
  'region-crash': 500,
  'coordinator-kill': 2000,
  'leader-kill': null,
  'datanode-kill': null,
  'etcd-leader-kill': null,
};

export interface FaultReport {
  readonly kind: FaultKind;
  readonly target: string;
  readonly atMs: number;
  readonly healedAtMs: number;
  readonly pidsKilled: number[];
  /** Restarted processes a crash hold killed again. */
  readonly restartsKilled: number;
  /** ms from the fault to the first committed round that shows the system past it (see nextRoundAfter), null if none. */
  readonly faultToNextCommitMs: number | null;
  readonly goalMs: number | null;
  readonly excludedAfterMs: number | null;
  readonly readmittedAfterHealMs: number | null;
}

export interface DrillReport {
  readonly drill: DrillName;
  readonly seed: number;
  readonly ratePerS: number;
  readonly durationS: number;
  readonly faults: FaultReport[];
  readonly rounds: { readonly before: number; readonly during: number; readonly after: number };
  readonly longestGapMs: number;
  /** `lost` is null when nothing could be read back (no round of every region after healing): unknown, and the drill fails. */
  readonly writes: { readonly acknowledged: number; readonly failed: number; readonly shed: number; readonly lost: number | null; readonly restamped: number; readonly restampUnseen: number };
  readonly invariants: { readonly sHeld: boolean; readonly dHeld: boolean; readonly mHeld: boolean };
  readonly checkedGlts: string[];
  readonly problems: string[];
  readonly figures: Figure[];
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** A storm's fault may find its target still down from the one before (`up` restarts it with a backoff): retried this long. */
const INJECT_RETRY_MS = 15_000;

async function injectWhenPossible(d: Deployment, kind: FaultKind, rng: Random): Promise<InjectedFault> {
  const by = Date.now() + INJECT_RETRY_MS;
  for (;;) {
    try {
      return await injectFault(d, kind, rng);
    } catch (err) {
      if (!(err instanceof AetherError && err.code === 'CHAOS_REFUSED') || Date.now() >= by) throw err;
      await sleep(200);
    }
  }
}

/**
 * The first committed round that began after the fault and shows the system past it:
 * for a region fault, a round without the region; for a coordinator kill, a round of a
 * newer epoch; for other kills, any round. A round's T is the latest bound of the
 * coordinator's clock at Begin (now + maxOffset), so T − maxOffset ≥ the fault's time
 * means it began after the fault — a round already in flight does not count.
 */
function nextRoundAfter(f: InjectedFault, atMs: number, maxOffsetMs: number): (r: CommitRecord) => boolean {
  const began = (r: CommitRecord): boolean => Number(r.T.wall / 1_000_000n) - maxOffsetMs >= atMs;
  if ((f.kind === 'region-partition' || f.kind === 'region-crash') && f.region) return (r) => began(r) && !r.members.includes(f.region!);
  if (f.kind === 'coordinator-kill' && f.epochBefore !== undefined) return (r) => began(r) && r.epoch > f.epochBefore!;
  return began;
}

/** Runs one drill against a running deployment and reports what happened. Every fault is healed before it returns, also on failure. */
export async function runDrill(d: Deployment, name: DrillName, o: DrillOptions): Promise<DrillReport> {
  const say = o.progress ?? (() => {});
  const rng = new Random(o.seed);
  // `up` does not restart etcd members: after one kill, 2 of 3 keep quorum and must not lose another.
  const etcdMembers = d.localEtcd()?.members.filter((m) => processAlive(m.pid)).length ?? 0;
  if (name === 'etcd-leader-kill' && etcdMembers < 3) {
    throw new AetherError('CHAOS_REFUSED', `drill etcd-leader-kill needs a local etcd of 3 live members (this deployment has ${etcdMembers === 0 ? 'an external or no local etcd' : `${etcdMembers}`}); run it on a topology with etcd.members: 3`);
  }
  const plan = planDrill(name, o.durationS * 1000, rng, etcdMembers);
  const regions = d.regionNames;
  const prefix = `chaos/${name}/${o.seed}/${Date.now()}/`;
  const keys = 500;
  const client = connect({ topology: d.topology });
  const observer = await RoundObserver.start(d);
  const frontiers = new FrontierSampler(client, regions, `${prefix}probe`);
  frontiers.start();
  const load = new WriteLoad(client, {
    regions,
    keyPrefix: prefix,
    keys,
    ratePerS: o.ratePerS,
    seed: o.seed,
    // Puts only: a failed write's outcome is unknown, and a failed delete that landed could not be told from a lost put.
    deleteFraction: 0,
    maxDurationMs: (o.durationS + 2 * o.settleS + o.recoverTimeoutS + 30) * 1000,
    maxWrites: Math.ceil(o.ratePerS * (o.durationS + 2 * o.settleS + o.recoverTimeoutS + 30)),
  });
  const injected: { fault: InjectedFault; atMs: number; healedAtMs: number; restarts: number[] }[] = [];
  const active: InjectedFault[] = [];
  const t0 = Date.now();
  let faultStartMs = 0;
  let faultEndMs = 0;
  let loadStoppedMs = 0;
  let failure: { readonly err: unknown } | undefined;
  try {
    load.start();
    say(`${name}: load ${o.ratePerS} writes/s over ${regions.join(', ')}; settling ${o.settleS}s`);
    await sleep(o.settleS * 1000);
    faultStartMs = Date.now();
    const heals: Promise<void>[] = [];
    for (const p of plan) {
      const wait = faultStartMs + p.atMs - Date.now();
      if (wait > 0) await sleep(wait);
      const fault = await injectWhenPossible(d, p.kind, rng);
      const entry = { fault, atMs: Date.now(), healedAtMs: 0, restarts: [] as number[] };
      injected.push(entry);
      active.push(fault);
      say(`${name}: ${p.kind} ${fault.target} at +${entry.atMs - t0} ms${fault.pids.length ? ` (SIGKILL pids ${fault.pids.join(',')})` : ''}`);
      heals.push(
        sleep(p.durationMs).then(async () => {
          entry.restarts = (await fault.heal()).pids;
          active.splice(active.indexOf(fault), 1);
          entry.healedAtMs = Date.now();
          say(`${name}: healed ${fault.kind} ${fault.target} at +${entry.healedAtMs - t0} ms`);
        }),
      );
    }
    await Promise.all(heals);
    faultEndMs = Date.now();
    const readmitBy = faultEndMs + o.recoverTimeoutS * 1000;
    while (Date.now() < readmitBy && !observer.firstCommitAfter(faultEndMs, (r) => regions.every((x) => r.members.includes(x)))) await sleep(100);
    await sleep(o.settleS * 1000);
  } catch (err) {
    failure = { err };
  } finally {
    for (const f of active.splice(0)) await f.heal().catch(() => {});
    await load.stop();
    loadStoppedMs = Date.now();
    await frontiers.stop();
  }
  try {
    // The watches and the client would keep the process alive.
    if (failure) throw failure.err;
    // The final GLT: a round of every region committed after the load stopped, above every
    // acknowledged write, and settled — every readmitted region has shipped its re-stamped
    // writes — so that it holds every acknowledged write. Membership records may trail the
    // commits they go with (two watches): a candidate is judged again a moment later.
    const newest = load.newestTs() ?? GLT_ZERO;
    // A round committed after the load stopped may have closed before the last writes: T at or above every acknowledged ts.
    const final = await observer.settledCommit(regions, newest, loadStoppedMs + 1, Date.now() + o.recoverTimeoutS * 1000);
    const stats = load.stats();
    const history = observer.history();
    const glts = checkGlts(observer, history, faultStartMs, faultEndMs, final);
    let rb: ReadBackResult | undefined;
    if (final) {
      say(`${name}: reading ${stats.acknowledged} acknowledged writes back at ${glts.length} GLTs in ${regions.length} regions`);
      rb = await readBack(client, { regions, prefix, keys, acked: load.acknowledged(), history, glts });
    }
    const faults = injected.map((e): FaultReport => {
      const next = observer.firstCommitAfter(e.atMs, nextRoundAfter(e.fault, e.atMs, d.topology.clock.maxOffsetMs));
      const region = e.fault.region;
      const regionFault = e.fault.kind === 'region-partition' || e.fault.kind === 'region-crash';
      const excluded = regionFault ? observer.firstMembershipAfter(e.atMs, (m) => !m.members.includes(region!)) : undefined;
      const readmitted = regionFault && e.healedAtMs ? observer.firstMembershipAfter(e.healedAtMs, (m) => m.members.includes(region!)) : undefined;
      return {
        kind: e.fault.kind,
        target: e.fault.target,
        atMs: e.atMs - t0,
        healedAtMs: e.healedAtMs ? e.healedAtMs - t0 : 0,
        pidsKilled: e.fault.pids,
        restartsKilled: e.restarts.length,
        faultToNextCommitMs: next ? next.atMs - e.atMs : null,
        goalMs: GOAL_MS[e.fault.kind],
        excludedAfterMs: excluded ? excluded.atMs - e.atMs : null,
        readmittedAfterHealMs: readmitted ? readmitted.atMs - e.healedAtMs : null,
      };
    });
    const problems = [...(rb?.problems ?? []), ...(rb?.scanErrors.map((s) => `scan failed: ${s}`) ?? [])];
    if (!final) problems.unshift(`no settled round with every region (every readmission shipped) committed within ${o.recoverTimeoutS}s after the load stopped: nothing could be read back`);
    if (observer.malformed > 0) problems.push(`${observer.malformed} malformed commit or membership records in etcd`);
    for (const r of frontiers.regressions) problems.push(`frontier of ${r.region} moved back from ${r.from} to ${r.to}`);
    const mHeld = observer.gltsIncreasing() && frontiers.regressions.length === 0 && observer.malformed === 0;
    const lost = rb ? rb.lost : null;
    const report: Omit<DrillReport, 'figures'> = {
      drill: name,
      seed: o.seed,
      ratePerS: o.ratePerS,
      durationS: o.durationS,
      faults,
      rounds: {
        before: observer.commitsBetween(t0, faultStartMs).length,
        during: observer.commitsBetween(faultStartMs, faultEndMs).length,
        after: observer.commitsBetween(faultEndMs, Number.MAX_SAFE_INTEGER).length,
      },
      longestGapMs: observer.longestGapMs(t0, loadStoppedMs),
      writes: {
        acknowledged: stats.acknowledged,
        failed: Object.values(stats.failures).reduce((a, b) => a + b, 0),
        shed: stats.shed,
        lost,
        restamped: rb?.restamped ?? 0,
        restampUnseen: rb?.restampUnseen ?? 0,
      },
      invariants: { sHeld: rb?.sameSnapshot ?? false, dHeld: (rb?.modelHeld ?? false) && lost === 0, mHeld },
      checkedGlts: rb?.checkedGlts ?? [],
      problems,
    };
    return { ...report, figures: figuresOf(report) };
  } finally {
    await observer.stop();
    client.close();
  }
}

/** Snapshots right after readmissions checked besides the four below: where re-stamped writes show before later writes hide them. */
const MAX_READMISSION_GLTS = 6;

/**
 * GLTs to compare regions at: the last commit before the fault, one during it, one after
 * healing, the final one, and the first snapshots after readmissions (up to the final).
 */
function checkGlts(observer: RoundObserver, history: CommitHistory, faultStartMs: number, faultEndMs: number, final: ObservedCommit | undefined): Glt[] {
  if (!final) return [];
  const before = observer.commits.filter((c) => c.atMs < faultStartMs).at(-1);
  const during = observer.commitsBetween(faultStartMs, faultEndMs);
  const after = observer.commitsBetween(faultEndMs, final.atMs);
  const picks = [before, during[Math.floor(during.length / 2)], after[Math.floor(after.length / 2)], final].filter((c): c is ObservedCommit => c !== undefined).map((c) => c.record.T);
  picks.push(...history.afterReadmissions(MAX_READMISSION_GLTS).filter((T) => compareGlt(T, final.record.T) < 0));
  const out: Glt[] = [];
  for (const T of picks) if (!out.some((g) => compareGlt(g, T) === 0)) out.push(T);
  return out.sort(compareGlt);
}

function figuresOf(r: Omit<DrillReport, 'figures'>): Figure[] {
  const figures: Figure[] = [];
  for (const f of r.faults) {
    const measured = f.faultToNextCommitMs ?? Number.NaN;
    figures.push({
      name: `${r.drill}: ${f.kind} ${f.target} → next committed round`,
      measured,
      unit: 'ms',
      goal: f.goalMs === null ? null : `≤ ${f.goalMs} ms`,
      met: f.goalMs === null ? null : f.faultToNextCommitMs !== null && f.faultToNextCommitMs <= f.goalMs,
    });
  }
  figures.push({ name: `${r.drill}: longest gap between committed rounds`, measured: r.longestGapMs, unit: 'ms', goal: null, met: null });
  figures.push({ name: `${r.drill}: writes acknowledged`, measured: r.writes.acknowledged, unit: 'writes', goal: null, met: null });
  figures.push({ name: `${r.drill}: acknowledged writes lost`, measured: r.writes.lost ?? Number.NaN, unit: 'writes', goal: '= 0', met: r.writes.lost === 0 });
  const held = r.invariants.sHeld && r.invariants.dHeld && r.invariants.mHeld;
  figures.push({ name: `${r.drill}: S, D and M held (regions identical at the frontier)`, measured: held ? 1 : 0, unit: 'true=1', goal: 'true', met: held });
  return figures;
}

/** A drill passed: nothing lost, every invariant held, and every fault was followed by a committed round. */
export function drillPassed(r: DrillReport): boolean {
  return r.writes.lost === 0 && r.invariants.sHeld && r.invariants.dHeld && r.invariants.mHeld && r.faults.every((f) => f.faultToNextCommitMs !== null);
}

/** The report for humans. */
export function formatDrillReport(r: DrillReport): string {
  const lines = [
    `drill ${r.drill} (seed ${r.seed}, ${r.ratePerS} writes/s, fault window ${r.durationS}s)`,
    ...r.faults.map(
      (f) =>
        `  fault ${f.kind} ${f.target} at +${f.atMs} ms, healed at +${f.healedAtMs} ms; next committed round after ${f.faultToNextCommitMs ?? 'none'} ms` +
        (f.goalMs !== null ? ` (goal ≤ ${f.goalMs} ms: ${f.faultToNextCommitMs !== null && f.faultToNextCommitMs <= f.goalMs ? 'met' : 'missed'})` : '') +
        (f.excludedAfterMs !== null ? `; excluded after ${f.excludedAfterMs} ms` : '') +
        (f.readmittedAfterHealMs !== null ? `; readmitted ${f.readmittedAfterHealMs} ms after healing` : '') +
        (f.restartsKilled > 0 ? `; ${f.restartsKilled} restarts killed while held` : ''),
    ),
    `  rounds committed: ${r.rounds.before} before, ${r.rounds.during} during, ${r.rounds.after} after; longest gap ${r.longestGapMs} ms`,
    `  writes: ${r.writes.acknowledged} acknowledged, ${r.writes.failed} failed, ${r.writes.shed} shed, ${r.writes.lost ?? 'unknown (not read back)'} lost, ${r.writes.restamped} re-stamped (${r.writes.restampUnseen} more overwritten before any checked GLT)`,
    `  invariants: S ${r.invariants.sHeld ? 'held' : 'BROKEN'}, D ${r.invariants.dHeld ? 'held' : 'BROKEN'}, M ${r.invariants.mHeld ? 'held' : 'BROKEN'} (GLTs checked: ${r.checkedGlts.join(', ') || 'none'})`,
    ...r.problems.map((p) => `  problem: ${p}`),
    drillPassed(r) ? '  PASSED' : '  FAILED',
  ];
  return lines.join('\n');
}
