import { AetherError } from '../common/errors.js';
import { GLT_ZERO, compareGlt, maxGlt, type Glt } from '../glts/glt.js';
import type { Store } from '../datanode/store.js';
import type { Version } from '../datanode/version.js';
import { mergeDeltas } from './merge.js';
import type { JobResult, LeaderJob } from './round.js';
import { saveWatermarks } from './watermarks.js';

/** Which data node of the region owns a key (regional/router.ts `Router` satisfies it). */
export interface KeyRouter {
  route(key: Buffer): string;
}

/** Hooks for observers (the simulator's model of acknowledged writes). */
export interface JobObserver {
  restamped?(origin: string, after: Glt, moved: readonly Version[]): void;
}

/**
 * Runs a leader's round job (regional/round.ts `LeaderJob`) against the region's data
 * nodes through the Store interface: in-process stores in the simulator, gRPC clients of
 * the data node service in a deployment. `nodes` maps data node id → store.
 */
export async function runLeaderJob(job: LeaderJob, nodes: ReadonlyMap<string, Store>, router: KeyRouter, observer: JobObserver = {}): Promise<JobResult> {
  switch (job.type) {
    case 'collect': {
      const lists: Version[][] = [];
      for (const store of nodes.values()) {
        await store.close(job.T);
        if (job.restampAfter) {
          const moved = await store.restamp(job.restampAfter);
          observer.restamped?.(store.origin, job.restampAfter, moved);
        }
        lists.push(await store.changes(job.after, job.T, { origin: store.origin }));
      }
      return { kind: 'collected', versions: mergeDeltas(lists) };
    }
    case 'apply': {
      const byNode = new Map<string, Version[]>();
      for (const v of job.versions) {
        const id = router.route(v.key);
        let list = byNode.get(id);
        if (!list) byNode.set(id, (list = []));
        list.push(v);
      }
      for (const [id, list] of byNode) {
        const store = nodes.get(id);
        if (!store) throw new AetherError('UNKNOWN_ID', `router named unknown data node ${id}`);
        await store.applyRemote(list);
      }
      for (const store of nodes.values()) {
        if (job.horizon) await store.gc(job.horizon);
        await saveWatermarks(store, { frontier: job.frontier, watermark: job.watermark });
      }
      return { kind: 'applied' };
    }
    case 'fetch': {
      let horizon: Glt = GLT_ZERO;
      for (const store of nodes.values()) horizon = maxGlt(horizon, store.horizon());
      const full = compareGlt(job.from, horizon) < 0;
      const from = full ? GLT_ZERO : job.from;
      const lists: Version[][] = [];
      for (const store of nodes.values()) lists.push(await store.changes(from, job.to, job.ownOnly ? { origin: store.origin } : {}));
      return { kind: 'fetched', versions: mergeDeltas(lists), full, horizon };
    }
  }
}
