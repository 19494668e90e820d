import { GLT_ZERO, compareGlt, maxGlt, type Glt } from '../glts/glt.js';
import type { Ship } from '../kernel/messages.js';
import type { RegionApply } from './region-stores.js';

export interface InboundLimits {
  /** Framed bytes queued per origin awaiting apply; a Ship beyond it is dropped (the next one shows a gap). */
  readonly queueBytes: number;
  /** Framed bytes one apply job takes at most (at least one Ship). */
  readonly applyBytes: number;
}

/** What to answer a Ship that was not queued. */
export type ShipVerdict =
  | { readonly kind: 'queued' }
  /** A mark-only Ship continuing what is held: the position advances at once, with no store job. */
  | { readonly kind: 'advanced' }
  | { readonly kind: 'duplicate'; readonly applied: Glt }
  | { readonly kind: 'gap'; readonly expected: Glt }
  | { readonly kind: 'full' };

interface OriginQueue {
  /**
   * Held up to here: every version of the origin up to it is durable on the data nodes.
   * Never decreases. The nodes' own positions may trail it where the stream carried no
   * versions (a mark-only Ship advances it without a store write): after a restart the
   * origin resends that empty stretch, and nothing in it was missing.
   */
  applied: Glt;
  /** Ships waiting, contiguous from `applied`: each one's from ≤ the previous one's to. */
  readonly ships: Ship[];
  bytes: number;
}

/** An apply job's content: per origin, the ships taken from the head of its queue. */
export interface ApplyPlan {
  readonly batches: RegionApply[];
  /** Per origin: how many ships it took, and from whom (to acknowledge). */
  readonly taken: ReadonlyMap<string, { readonly count: number; readonly sources: ReadonlySet<string> }>;
}

/**
 * The receiving side of every other region's stream (docs/architecture.md "The snapshot pipeline"): Ships are
 * queued per origin if they continue what is held (`from ≤ expected < to`), then applied
 * in jobs that take the head of every queue at once; positions advance only when the
 * data nodes have them durably. Bounded in bytes per origin.
 */
export class Inbound {
  private readonly origins = new Map<string, OriginQueue>();

  constructor(
    applied: ReadonlyMap<string, Glt>,
    private readonly limits: InboundLimits,
  ) {
    for (const [origin, ts] of applied) this.origins.set(origin, { applied: ts, ships: [], bytes: 0 });
  }

  applied(origin: string): Glt {
    return this.origins.get(origin)?.applied ?? GLT_ZERO;
  }

  /** Where the next Ship of `origin` must start at or below: the end of what is held or queued. */
  expected(origin: string): Glt {
    const q = this.origins.get(origin);
    if (!q) return GLT_ZERO;
    return q.ships.length > 0 ? q.ships[q.ships.length - 1]!.to : q.applied;
  }

  appliedAll(): ReadonlyMap<string, Glt> {
    return new Map([...this.origins].map(([o, q]) => [o, q.applied]));
  }

  queuedBytes(origin: string): number {
    return this.origins.get(origin)?.bytes ?? 0;
  }

  offer(s: Ship): ShipVerdict {
    const q = this.origins.get(s.origin);
    if (!q) return { kind: 'duplicate', applied: GLT_ZERO };
    const expected = this.expected(s.origin);
    if (compareGlt(s.to, expected) <= 0) return { kind: 'duplicate', applied: q.applied };
    if (compareGlt(s.from, expected) > 0) return { kind: 'gap', expected };
    if (q.ships.length === 0 && s.count === 0 && compareGlt(s.horizon, GLT_ZERO) === 0) {
      q.applied = s.to;
      return { kind: 'advanced' };
    }
    if (q.ships.length > 0 && q.bytes + s.delta.length > this.limits.queueBytes) return { kind: 'full' };
    q.ships.push(s);
    q.bytes += s.delta.length;
    return { kind: 'queued' };
  }

  /** Framed bytes queued over every origin. */
  queuedTotal(): number {
    let n = 0;
    for (const q of this.origins.values()) n += q.bytes;
    return n;
  }

  hasQueued(): boolean {
    for (const q of this.origins.values()) if (q.ships.length > 0) return true;
    return false;
  }

  /** The next apply job: the head of every origin's queue, within applyBytes over all (at least one Ship). */
  plan(): ApplyPlan {
    const batches: RegionApply[] = [];
    const taken = new Map<string, { count: number; sources: Set<string> }>();
    let budget = this.limits.applyBytes;
    let any = false;
    for (const [origin, q] of this.origins) {
      const ships: Ship[] = [];
      for (const s of q.ships) {
        if (any && s.delta.length > budget) break;
        ships.push(s);
        budget -= s.delta.length;
        any = true;
      }
      if (ships.length === 0) continue;
      let horizon: Glt | undefined;
      for (const s of ships) if (compareGlt(s.horizon, GLT_ZERO) > 0) horizon = horizon ? maxGlt(horizon, s.horizon) : s.horizon;
      batches.push({ region: origin, to: ships[ships.length - 1]!.to, deltas: ships.map((s) => s.delta), ...(horizon ? { horizon } : {}) });
      taken.set(origin, { count: ships.length, sources: new Set(ships.map((s) => s.region)) });
    }
    return { batches, taken };
  }

  /** The data nodes hold `plan` durably: positions advance, the ships leave their queues. */
  onApplied(plan: ApplyPlan): void {
    for (const b of plan.batches) {
      const q = this.origins.get(b.region)!;
      const removed = q.ships.splice(0, plan.taken.get(b.region)!.count);
      for (const s of removed) q.bytes -= s.delta.length;
      q.applied = maxGlt(q.applied, b.to);
    }
  }
}
