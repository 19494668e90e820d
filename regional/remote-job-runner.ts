import { AetherError } from '../common/errors.js';
import { decodeDelta, encodeDelta } from '../datanode/delta.js';
import type { Version } from '../datanode/version.js';
import { GLT_ZERO, compareGlt, maxGlt, minGlt, type Glt } from '../glts/glt.js';
import type { DataNodeConnection } from './datanode-connection.js';
import { mergeDeltas } from './merge.js';
import type { JobResult, LeaderJob } from './round.js';
import type { KeyRouter } from './round-jobs.js';
import { FRONTIER_META, WATERMARK_META, type Watermarks } from './watermarks.js';

/** Most collected versions kept for the next collect to build on (a backlog beyond this is collected afresh). */
const MAX_REUSED_VERSIONS = 500_000;

/**
 * Runs a leader's round jobs (regional/round.ts `LeaderJob`) on the region's data nodes
 * over gRPC, every node in parallel — the deployment's counterpart of
 * regional/round-jobs.ts, which runs them on in-process stores for the simulator. Each
 * node's persisted frontier and watermark are cached so they are written only when they
 * rise (never moved back on any node).
 */
export class RemoteJobRunner {
  /** Per node: the frontier and watermark its meta holds (as last read or written). */
  private readonly meta = new Map<string, { frontier: Glt; watermark: Glt }>();
  /**
   * The last collect's result: own versions in (after, T]. While rounds abort the
   * watermark stays put and each round would collect an ever longer (after, T] again; the
   * next collect from the same `after` only collects (T, T'] and appends it, which is the
   * same list, since close(T) let no later write land at or below T. Dropped by a re-stamp
   * or an apply (both change what a node holds).
   */
  private collected: { readonly after: Glt; readonly T: Glt; readonly versions: readonly Version[] } | undefined;

  constructor(
    private readonly nodes: ReadonlyMap<string, DataNodeConnection>,
    private readonly router: KeyRouter,
  ) {}

  /** The region's frontier and watermark: the minimum over its nodes (a leader that died half-way left the older state on some). */
  async loadWatermarks(): Promise<Watermarks> {
    // A new term: another leader may have re-stamped meanwhile.
    this.collected = undefined;
    const read = await Promise.all(
      [...this.nodes].map(async ([id, n]) => {
        // At start-up a data node may come up after its leader: wait for it rather than fail and
        // retry later, by when the coordinator may have excluded the silent region.
        const [f, w] = await Promise.all([n.getMeta(FRONTIER_META, { waitForReady: true }), n.getMeta(WATERMARK_META, { waitForReady: true })]);
        const m = { frontier: f ?? GLT_ZERO, watermark: w ?? GLT_ZERO };
        this.meta.set(id, m);
        return m;
      }),
    );
    return read.reduce((a, b) => ({ frontier: minGlt(a.frontier, b.frontier), watermark: minGlt(a.watermark, b.watermark) }));
  }

  async run(job: LeaderJob): Promise<JobResult> {
    switch (job.type) {
      case 'collect': {
        const prior = this.collected;
        this.collected = undefined;
        const reuse = !job.restampAfter && prior !== undefined && compareGlt(prior.after, job.after) === 0 && compareGlt(prior.T, job.T) <= 0 ? prior : undefined;
        const lists = await Promise.all(
          [...this.nodes.values()].map(async (n) => {
            if (job.restampAfter) {
              // Order matters (round-jobs.ts): closed at T first, so re-stamped versions land above T.
              await n.close(job.T);
              await n.restamp(job.restampAfter);
            }
            return decodeDelta((await n.close(job.T, reuse?.T ?? job.after)).delta);
          }),
        );
        // Everything fresh is above reuse.T, so appending keeps the LWW order.
        const versions = reuse ? reuse.versions.concat(mergeDeltas(lists)) : mergeDeltas(lists);
        if (versions.length <= MAX_REUSED_VERSIONS) this.collected = { after: job.after, T: job.T, versions };
        return { kind: 'collected', versions };
      }
      case 'apply': {
        this.collected = undefined;
        const byNode = new Map<string, Version[]>();
        for (const v of job.versions) {
          const id = this.router.route(v.key);
          let list = byNode.get(id);
          if (!list) byNode.set(id, (list = []));
          list.push(v);
        }
        for (const id of byNode.keys()) if (!this.nodes.has(id)) throw new AetherError('UNKNOWN_ID', `router named unknown data node ${id}`);
        await Promise.all([...this.nodes].map(([id, n]) => this.applyOn(id, n, byNode.get(id) ?? [], job)));
        return { kind: 'applied' };
      }
      case 'fetch': {
        const infos = await Promise.all([...this.nodes.values()].map((n) => n.info()));
        const horizon = infos.reduce<Glt>((h, i) => maxGlt(h, i.horizon ?? GLT_ZERO), GLT_ZERO);
        const full = compareGlt(job.from, horizon) < 0;
        const from = full ? GLT_ZERO : job.from;
        const lists = await Promise.all([...this.nodes.values()].map(async (n) => decodeDelta((await n.close(job.to, from, { allOrigins: !job.ownOnly })).delta)));
        return { kind: 'fetched', versions: mergeDeltas(lists), full, horizon };
      }
    }
  }

  /**
   * One node's share of a committed round in one call: its versions, gc when asked, then
   * the frontier and watermark its meta lacks — after the versions they cover. Skipped
   * when the node has nothing to do.
   */
  private async applyOn(id: string, n: DataNodeConnection, versions: readonly Version[], job: Extract<LeaderJob, { type: 'apply' }>): Promise<void> {
    const m = this.meta.get(id) ?? { frontier: GLT_ZERO, watermark: GLT_ZERO };
    const raiseMeta = [
      ...(compareGlt(job.frontier, m.frontier) > 0 ? [{ name: FRONTIER_META, value: job.frontier }] : []),
      ...(compareGlt(job.watermark, m.watermark) > 0 ? [{ name: WATERMARK_META, value: job.watermark }] : []),
    ];
    if (versions.length === 0 && !job.horizon && raiseMeta.length === 0) return;
    await n.applyDelta(versions.length === 0 ? Buffer.alloc(0) : encodeDelta(versions), { ...(job.horizon ? { gcHorizon: job.horizon } : {}), raiseMeta });
    this.meta.set(id, { frontier: maxGlt(m.frontier, job.frontier), watermark: maxGlt(m.watermark, job.watermark) });
  }
}
