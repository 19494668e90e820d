import { connect } from '../client/client.js';
import { AetherError } from '../common/errors.js';
import { Random } from '../common/random.js';
import { BulkLoad } from './bulk-load.js';
import { CommitObserver, type ObservedMembership } from './commit-observer.js';
import type { Deployment } from './deployment.js';
import { figuresOf, type CatchUpReport, type DrillOptions, type DrillReport } from './drill-report.js';
import { healPartitions, partitionRegion } from './faults.js';
import { FrontierSampler } from './frontier-sampler.js';
import { victimRegion } from './scenarios.js';
import { KEYS, faultReport, judge, keyedLoad, newestOf, sleep } from './verdict.js';

/** The full size (`make bench`, manual runs): a few hundred MB of values of a few KB. */
export const DEFAULT_BULK = { megabytes: 300, valueBytes: 4096 } as const;
/** The region must be readmitted this soon after healing. */
const CATCH_UP_LIMIT_MS = 90_000;
/** Bulk writes in flight at once over the other regions. */
const BULK_CONCURRENCY = 32;
/** The cut region must be excluded this soon after the cut, before the bulk load starts (it is silent after silenceMs). */
const EXCLUSION_WAIT_MS = 15_000;
/**
 * Commits the others may miss in a row: the silence that excludes the cut region, then
 * the membership record and the first commit without it (one persist slot, an interval
 * each), and a little slack for the clock and the timers.
 */
const GAP_INTERVALS = 4;

async function membershipAfter(observer: CommitObserver, afterMs: number, deadlineMs: number, pred: (m: ObservedMembership['record']) => boolean): Promise<ObservedMembership | undefined> {
  for (;;) {
    const m = observer.firstMembershipAfter(afterMs, pred);
    if (m || Date.now() >= deadlineMs) return m;
    await sleep(100);
  }
}

/**
 * The catch-up drill: one region (seeded) is cut off — partitioned from the others and the
 * coordinator — and, once excluded, the others write `bulk` MB of random values (bounded
 * in count and by the drill's duration) while the keyed load goes on everywhere, the cut
 * region included (its writes are re-stamped when it is readmitted). Then the cut heals.
 * Checked: (a) the others' commits never pause — the largest step in GLT between
 * consecutive commits from the cut until the load stops stays within silenceMs and a few
 * intervals; (b) the region catches up and is readmitted within 90 s; (c) every
 * acknowledged write is read back (the bulk at the final GLT); (d) S, D and M.
 */
export async function runCatchUp(d: Deployment, o: DrillOptions): Promise<DrillReport> {
  const say = (line: string): void => o.progress?.(`catch-up: ${line}`);
  const rng = new Random(o.seed);
  const region = victimRegion(d, rng);
  const regions = d.regionNames;
  const others = regions.filter((r) => r !== region);
  const size = o.bulk ?? DEFAULT_BULK;
  const { silenceMs, intervalMs } = d.topology.snapshot;
  const gapBoundMs = silenceMs + GAP_INTERVALS * intervalMs;
  const prefix = `chaos/catch-up/${o.seed}/${Date.now()}/`;
  // Without read-your-writes: the frontier probes sample each region's frontier as it is, not the load's session.
  const client = connect({ topology: d.topology, readYourWrites: false, ...(o.certsDir !== undefined ? { certsDir: o.certsDir } : {}) });
  const observer = await CommitObserver.start(d);
  const frontiers = new FrontierSampler(client, regions, `${prefix}probe`);
  frontiers.start();
  const load = keyedLoad(client, regions, `${prefix}k/`, o, o.durationS + CATCH_UP_LIMIT_MS / 1000);
  const bulk = new BulkLoad(client, {
    regions: others,
    keyPrefix: `${prefix}bulk/`,
    valueBytes: size.valueBytes,
    maxBytes: size.megabytes * 2 ** 20,
    maxDurationMs: o.durationS * 1000,
    concurrency: BULK_CONCURRENCY,
  });
  const t0 = Date.now();
  let cutAtMs = 0;
  let healedAtMs = 0;
  let readmitted: ObservedMembership | undefined;
  let loadStoppedMs = 0;
  let cut = false;
  let failure: { readonly err: unknown } | undefined;
  try {
    load.start();
    say(`load ${o.ratePerS} writes/s over ${regions.join(', ')}; settling ${o.settleS}s`);
    await sleep(o.settleS * 1000);
    await partitionRegion(d, region);
    cut = true;
    cutAtMs = Date.now();
    say(`${region} cut off at +${cutAtMs - t0} ms`);
    const excluded = await membershipAfter(observer, cutAtMs, cutAtMs + EXCLUSION_WAIT_MS, (m) => !m.members.includes(region));
    if (!excluded) throw new AetherError('CHAOS_REFUSED', `${region} was not excluded within ${EXCLUSION_WAIT_MS} ms of the cut; nothing to catch up on`);
    say(`${region} excluded after ${excluded.atMs - cutAtMs} ms; ${others.join(', ')} write up to ${size.megabytes} MB in values of ${size.valueBytes} B (at most ${o.durationS}s)`);
    bulk.start();
    await bulk.done();
    const b = bulk.stats();
    say(`${(b.bytes / 2 ** 20).toFixed(1)} MB in ${b.acknowledged} writes acknowledged in ${(b.elapsedMs / 1000).toFixed(1)}s; healing ${region}`);
    await healPartitions(d, region);
    cut = false;
    healedAtMs = Date.now();
    readmitted = await membershipAfter(observer, healedAtMs, healedAtMs + CATCH_UP_LIMIT_MS, (m) => m.members.includes(region));
    say(readmitted ? `${region} readmitted ${readmitted.atMs - healedAtMs} ms after healing` : `${region} not readmitted within ${CATCH_UP_LIMIT_MS} ms of healing`);
    await sleep(o.settleS * 1000);
  } catch (err) {
    failure = { err };
  } finally {
    if (cut) await healPartitions(d, region).catch(() => {});
    await bulk.stop();
    await load.stop();
    loadStoppedMs = Date.now();
    await frontiers.stop();
  }
  try {
    // The watches and the client would keep the process alive.
    if (failure) throw failure.err;
    const b = bulk.stats();
    const verdict = await judge(client, observer, frontiers, {
      regions,
      loads: [
        { prefix: `${prefix}k/`, keys: KEYS, acked: load.acknowledged(), uncertain: load.uncertainKeys(), everyGlt: true },
        { prefix: `${prefix}bulk/`, keys: bulk.maxWrites, acked: bulk.acknowledged(), uncertain: bulk.uncertainKeys(), everyGlt: false },
      ],
      newest: newestOf(load.newestTs(), bulk.newestTs()),
      loadStoppedMs,
      recoverTimeoutS: o.recoverTimeoutS,
      windowMs: [cutAtMs, healedAtMs],
      say,
    });
    const stats = load.stats();
    const failed = (f: Readonly<Record<string, number>>): number => Object.values(f).reduce((a, x) => a + x, 0);
    const gap = observer.largestGap(cutAtMs, loadStoppedMs);
    const catchUp: CatchUpReport = {
      region,
      bulk: { acknowledged: b.acknowledged, megabytes: b.bytes / 2 ** 20, failed: failed(b.failures), seconds: b.elapsedMs / 1000 },
      catchUpMs: readmitted ? readmitted.atMs - healedAtMs : null,
      catchUpLimitMs: CATCH_UP_LIMIT_MS,
      largestGapMs: gap?.ms ?? null,
      largestGapEndedAfterCutMs: gap ? gap.atMs - cutAtMs : null,
      gapBoundMs,
    };
    const report: Omit<DrillReport, 'figures'> = {
      drill: 'catch-up',
      seed: o.seed,
      ratePerS: o.ratePerS,
      durationS: o.durationS,
      faults: [faultReport(observer, { fault: { kind: 'region-partition', target: region, region, pids: [] }, atMs: cutAtMs, healedAtMs, restarts: [] }, t0)],
      commits: {
        before: observer.commitsBetween(t0, cutAtMs).length,
        during: observer.commitsBetween(cutAtMs, healedAtMs).length,
        after: observer.commitsBetween(healedAtMs, Number.MAX_SAFE_INTEGER).length,
      },
      largestGapMs: observer.largestGap(t0, loadStoppedMs)?.ms ?? null,
      writes: {
        acknowledged: stats.acknowledged + b.acknowledged,
        failed: failed(stats.failures) + failed(b.failures),
        shed: stats.shed,
        ...verdict.writes,
      },
      everyRegionReadmitted: verdict.everyRegionReadmitted,
      invariants: verdict.invariants,
      checkedGlts: verdict.checkedGlts,
      catchUp,
      problems: verdict.problems,
    };
    return { ...report, figures: figuresOf(report) };
  } finally {
    await observer.stop();
    client.close();
  }
}
