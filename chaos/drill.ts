import { connect } from '../client/client.js';
import { AetherError } from '../common/errors.js';
import { GLT_ZERO } from '../glts/glt.js';
import { processAlive } from '../topology/supervisor.js';
import { Random } from '../common/random.js';
import { runCatchUp } from './catch-up.js';
import { CommitObserver } from './commit-observer.js';
import type { Deployment } from './deployment.js';
import { figuresOf, type DrillOptions, type DrillReport } from './drill-report.js';
import { FrontierSampler } from './frontier-sampler.js';
import { injectFault, planDrill, type DrillName, type FaultDrillName, type FaultKind, type InjectedFault } from './scenarios.js';
import { KEYS, faultReport, judge, keyedLoad, sleep, waitForEveryRegion } from './verdict.js';

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

/** Runs one drill against a running deployment and reports what happened. Every fault is healed before it returns, also on failure. */
export async function runDrill(d: Deployment, name: DrillName, o: DrillOptions): Promise<DrillReport> {
  return name === 'catch-up' ? runCatchUp(d, o) : runFaultDrill(d, name, o);
}

async function runFaultDrill(d: Deployment, name: FaultDrillName, o: DrillOptions): Promise<DrillReport> {
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
  // Without read-your-writes: the frontier probes sample each region's frontier as it is, not the load's session.
  const client = connect({ topology: d.topology, readYourWrites: false, ...(o.certsDir !== undefined ? { certsDir: o.certsDir } : {}) });
  const observer = await CommitObserver.start(d);
  const frontiers = new FrontierSampler(client, regions, `${prefix}probe`);
  frontiers.start();
  const load = keyedLoad(client, regions, `${prefix}k/`, o, o.durationS);
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
    await waitForEveryRegion(observer, regions, faultEndMs, faultEndMs + o.recoverTimeoutS * 1000);
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
    const faults = injected.map((e) => faultReport(observer, e, t0));
    const verdict = await judge(client, observer, frontiers, {
      regions,
      loads: [{ prefix: `${prefix}k/`, keys: KEYS, acked: load.acknowledged(), uncertain: load.uncertainKeys(), everyGlt: true }],
      newest: load.newestTs() ?? GLT_ZERO,
      loadStoppedMs,
      recoverTimeoutS: o.recoverTimeoutS,
      windowMs: [faultStartMs, faultEndMs],
      say: (line) => say(`${name}: ${line}`),
    });
    const stats = load.stats();
    const report: Omit<DrillReport, 'figures'> = {
      drill: name,
      seed: o.seed,
      ratePerS: o.ratePerS,
      durationS: o.durationS,
      faults,
      commits: {
        before: observer.commitsBetween(t0, faultStartMs).length,
        during: observer.commitsBetween(faultStartMs, faultEndMs).length,
        after: observer.commitsBetween(faultEndMs, Number.MAX_SAFE_INTEGER).length,
      },
      largestGapMs: observer.largestGap(t0, loadStoppedMs)?.ms ?? null,
      writes: {
        acknowledged: stats.acknowledged,
        failed: Object.values(stats.failures).reduce((a, b) => a + b, 0),
        shed: stats.shed,
        ...verdict.writes,
      },
      everyRegionReadmitted: verdict.everyRegionReadmitted,
      invariants: verdict.invariants,
      checkedGlts: verdict.checkedGlts,
      problems: verdict.problems,
    };
    return { ...report, figures: figuresOf(report) };
  } finally {
    await observer.stop();
    client.close();
  }
}

