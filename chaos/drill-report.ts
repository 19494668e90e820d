import type { Figure } from '../common/figure.js';
import type { DrillName, FaultKind } from './scenarios.js';

export interface DrillOptions {
  /** The fault window; for catch-up, the longest cut. */
  readonly durationS: number;
  /** Writes per second of the keyed load over every region. */
  readonly ratePerS: number;
  readonly seed: number;
  /** Load before the first fault, and after the last heal before the read-back. */
  readonly settleS: number;
  /** How long, after healing, to wait for every region to be a member of a commit again. */
  readonly recoverTimeoutS: number;
  /** catch-up only: what the other regions write while one is cut off (bounded by durationS too). */
  readonly bulk?: { readonly megabytes: number; readonly valueBytes: number };
  /** Progress lines (stderr). */
  readonly progress?: (line: string) => void;
  /** The client's certificates (default: the topology's security.certsDir). */
  readonly certsDir?: string;
}

export interface FaultReport {
  readonly kind: FaultKind;
  readonly target: string;
  readonly atMs: number;
  readonly healedAtMs: number;
  readonly pidsKilled: number[];
  /** Restarted processes a crash hold killed again. */
  readonly restartsKilled: number;
  /** ms from the fault to the first commit that shows the deployment past it (see nextCommitAfter), null if none. */
  readonly faultToNextCommitMs: number | null;
  readonly goalMs: number | null;
  readonly excludedAfterMs: number | null;
  readonly readmittedAfterHealMs: number | null;
}

/** The catch-up drill's own figures. */
export interface CatchUpReport {
  readonly region: string;
  /** What the other regions wrote while it was cut off. */
  readonly bulk: { readonly acknowledged: number; readonly megabytes: number; readonly failed: number; readonly seconds: number };
  /** Heal → the membership record readmitting it; null if not within catchUpLimitMs. */
  readonly catchUpMs: number | null;
  readonly catchUpLimitMs: number;
  /** The largest step in GLT between consecutive commits from the cut until the load stopped, when it ended (ms after the cut), and the bound it is held to. */
  readonly largestGapMs: number | null;
  readonly largestGapEndedAfterCutMs: number | null;
  readonly gapBoundMs: number;
}

export interface DrillReport {
  readonly drill: DrillName;
  readonly seed: number;
  readonly ratePerS: number;
  readonly durationS: number;
  readonly faults: FaultReport[];
  readonly commits: { readonly before: number; readonly during: number; readonly after: number };
  /** The largest step in GLT between consecutive commits while the load ran. */
  readonly largestGapMs: number | null;
  /** Every region a member of the final commit (else the others' last commit was read back, the rest's writes hidden). */
  readonly everyRegionReadmitted: boolean;
  /** `lost` is null when the final scans could not all be read: unknown, and the drill fails. */
  readonly writes: {
    readonly acknowledged: number;
    readonly failed: number;
    readonly shed: number;
    readonly lost: number | null;
    readonly restamped: number;
    readonly restampsSeen: number;
    readonly hidden: number;
  };
  readonly invariants: { readonly sHeld: boolean; readonly dHeld: boolean; readonly mHeld: boolean };
  readonly checkedGlts: string[];
  readonly catchUp?: CatchUpReport;
  readonly problems: string[];
  readonly figures: Figure[];
}

export function figuresOf(r: Omit<DrillReport, 'figures'>): Figure[] {
  const figures: Figure[] = [];
  for (const f of r.faults) {
    figures.push({
      name: `${r.drill}: ${f.kind} ${f.target} → next commit among the others`,
      measured: f.faultToNextCommitMs ?? Number.NaN,
      unit: 'ms',
      goal: f.goalMs === null ? null : `≤ ${f.goalMs} ms`,
      met: f.goalMs === null ? null : f.faultToNextCommitMs !== null && f.faultToNextCommitMs <= f.goalMs,
    });
  }
  const c = r.catchUp;
  if (c) {
    figures.push({ name: `${r.drill}: ${c.region} cut off while the others wrote`, measured: c.bulk.megabytes, unit: 'MB', goal: null, met: null });
    figures.push({ name: `${r.drill}: heal → ${c.region} caught up and readmitted`, measured: c.catchUpMs ?? Number.NaN, unit: 'ms', goal: `≤ ${c.catchUpLimitMs} ms`, met: c.catchUpMs !== null && c.catchUpMs <= c.catchUpLimitMs });
    figures.push({ name: `${r.drill}: largest gap between consecutive commits, cut to catch-up`, measured: c.largestGapMs ?? Number.NaN, unit: 'ms', goal: `≤ ${c.gapBoundMs} ms`, met: c.largestGapMs !== null && c.largestGapMs <= c.gapBoundMs });
  } else {
    figures.push({ name: `${r.drill}: largest gap between consecutive commits`, measured: r.largestGapMs ?? Number.NaN, unit: 'ms', goal: null, met: null });
  }
  figures.push({ name: `${r.drill}: writes acknowledged`, measured: r.writes.acknowledged, unit: 'writes', goal: null, met: null });
  figures.push({ name: `${r.drill}: acknowledged writes lost`, measured: r.writes.lost ?? Number.NaN, unit: 'writes', goal: '= 0', met: r.writes.lost === 0 });
  const held = r.invariants.sHeld && r.invariants.dHeld && r.invariants.mHeld;
  figures.push({ name: `${r.drill}: S, D and M held (regions identical, every acknowledged write where rule D puts it)`, measured: held ? 1 : 0, unit: 'true=1', goal: 'true', met: held });
  return figures;
}

/**
 * A drill passed: nothing lost, every invariant held, every fault was followed by a
 * commit among the others, every region was readmitted, and, for catch-up, in time and
 * with the others' commits never paused beyond the bound.
 */
export function drillPassed(r: DrillReport): boolean {
  const c = r.catchUp;
  const caughtUp = !c || (c.catchUpMs !== null && c.catchUpMs <= c.catchUpLimitMs && c.largestGapMs !== null && c.largestGapMs <= c.gapBoundMs);
  return r.writes.lost === 0 && r.everyRegionReadmitted && r.invariants.sHeld && r.invariants.dHeld && r.invariants.mHeld && r.faults.every((f) => f.faultToNextCommitMs !== null) && caughtUp;
}

/** The report for humans. */
export function formatDrillReport(r: DrillReport): string {
  const c = r.catchUp;
  const lines = [
    `drill ${r.drill} (seed ${r.seed}, ${r.ratePerS} writes/s, ${c ? `cut of at most ${r.durationS}s` : `fault window ${r.durationS}s`})`,
    ...r.faults.map(
      (f) =>
        `  fault ${f.kind} ${f.target} at +${f.atMs} ms, healed at +${f.healedAtMs} ms; next commit among the others after ${f.faultToNextCommitMs ?? 'none'} ms` +
        (f.goalMs !== null ? ` (goal ≤ ${f.goalMs} ms: ${f.faultToNextCommitMs !== null && f.faultToNextCommitMs <= f.goalMs ? 'met' : 'missed'})` : '') +
        (f.excludedAfterMs !== null ? `; excluded after ${f.excludedAfterMs} ms` : '') +
        (f.readmittedAfterHealMs !== null ? `; readmitted ${f.readmittedAfterHealMs} ms after healing` : '') +
        (f.restartsKilled > 0 ? `; ${f.restartsKilled} restarts killed while held` : ''),
    ),
    ...(c
      ? [
          `  while ${c.region} was cut off the others wrote ${c.bulk.megabytes.toFixed(1)} MB in ${c.bulk.acknowledged} acknowledged writes over ${c.bulk.seconds.toFixed(1)} s (${c.bulk.failed} failed)`,
          `  catch-up: readmitted ${c.catchUpMs === null ? `not within ${c.catchUpLimitMs} ms` : `${c.catchUpMs} ms`} after healing (limit ${c.catchUpLimitMs} ms); largest gap between commits ${c.largestGapMs ?? 'unknown'} ms (bound ${c.gapBoundMs} ms)${c.largestGapEndedAfterCutMs !== null ? `, ended ${c.largestGapEndedAfterCutMs} ms after the cut` : ''}`,
        ]
      : []),
    `  commits: ${r.commits.before} before, ${r.commits.during} during, ${r.commits.after} after; largest gap ${r.largestGapMs ?? 'unknown'} ms`,
    `  writes: ${r.writes.acknowledged} acknowledged, ${r.writes.failed} failed, ${r.writes.shed} shed, ${r.writes.lost ?? 'unknown (not read back)'} lost; ${r.writes.restamped} re-stamped by a readmission (${r.writes.restampsSeen} seen at their new stamp), ${r.writes.hidden} still hidden`,
    `  invariants: S ${r.invariants.sHeld ? 'held' : 'BROKEN'}, D ${r.invariants.dHeld ? 'held' : 'BROKEN'}, M ${r.invariants.mHeld ? 'held' : 'BROKEN'} (GLTs checked: ${r.checkedGlts.join(', ') || 'none'})`,
    ...r.problems.map((p) => `  problem: ${p}`),
    drillPassed(r) ? '  PASSED' : '  FAILED',
  ];
  return lines.join('\n');
}
