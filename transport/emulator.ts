import { assert } from '../common/errors.js';
import { Random } from '../common/random.js';

/**
 * A WAN link in one direction, emulated: bottleneck rate with a drop-tail queue,
 * propagation delay with jitter, random and bursty (Gilbert–Elliott) loss, duplication,
 * reordering and partition. Sans-IO: it answers when (if ever) each datagram arrives;
 * the caller delivers it then. All randomness from a seeded PRNG, so a run replays.
 *
 * The first three fields are the topology's LinkSpec (topology/types.ts); the rest are
 * optional extras for tests and chaos drills.
 */
export interface LinkConditions {
  readonly delayMs: number;
  /** Delay varies uniformly by ±jitterMs, without reordering (as on a real path). */
  readonly jitterMs: number;
  /** Independent loss probability in [0, 1] (the good state's, when `burst` is set). */
  readonly loss: number;
  /** Gilbert–Elliott bursty loss: a two-state Markov chain stepped per datagram. */
  readonly burst?: { readonly goodToBad: number; readonly badToGood: number; readonly lossInBad: number };
  readonly duplicate?: number;
  /** Probability that a datagram is held back by reorderDelayMs, letting later ones pass it. */
  readonly reorder?: number;
  readonly reorderDelayMs?: number;
  /** Bottleneck in bytes/s (unlimited when absent), with a drop-tail queue of queueBytes. */
  readonly rateBytesPerSec?: number;
  readonly queueBytes?: number;
  readonly partitioned?: boolean;
}

export interface LinkStats {
  sent: number;
  delivered: number;
  lostRandom: number;
  lostQueue: number;
  lostPartition: number;
  duplicated: number;
}

const DEFAULT_QUEUE_BYTES = 256 * 1024;
const DEFAULT_REORDER_DELAY_MS = 5;

export class LinkEmulator {
  private c: LinkConditions;
  private readonly random: Random;
  private bad = false;
  /** When the bottleneck finishes serializing everything queued so far. */
  private busyUntilMs = 0;
  /** Latest arrival scheduled so far: jitter varies delay but keeps order (reordering is its own knob). */
  private lastArrivalMs = 0;
  readonly stats: LinkStats = { sent: 0, delivered: 0, lostRandom: 0, lostQueue: 0, lostPartition: 0, duplicated: 0 };

  constructor(conditions: LinkConditions, seed: number) {
    this.c = validate(conditions);
    this.random = new Random(seed);
  }

  get conditions(): LinkConditions {
    return this.c;
  }

  /** Changes conditions at runtime (a chaos drill cutting a region off, a test healing a partition). */
  update(changes: Partial<LinkConditions>): void {
    this.c = validate({ ...this.c, ...changes });
  }

  setPartitioned(partitioned: boolean): void {
    this.update({ partitioned });
  }

  /** Arrival times of a datagram of `bytes` sent at nowMs: none (lost), one, or two (duplicated). */
  transmit(nowMs: number, bytes: number): number[] {
    this.stats.sent++;
    if (this.c.partitioned === true) {
      this.stats.lostPartition++;
      return [];
    }
    let departMs = nowMs;
    const rate = this.c.rateBytesPerSec;
    if (rate !== undefined) {
      const start = Math.max(nowMs, this.busyUntilMs);
      const backlogBytes = ((start - nowMs) * rate) / 1000;
      if (backlogBytes + bytes > (this.c.queueBytes ?? DEFAULT_QUEUE_BYTES)) {
        this.stats.lostQueue++;
        return [];
      }
      this.busyUntilMs = start + (bytes * 1000) / rate;
      departMs = this.busyUntilMs;
    }
    if (this.lose()) {
      this.stats.lostRandom++;
      return [];
    }
    const copies = this.c.duplicate !== undefined && this.random.next() < this.c.duplicate ? 2 : 1;
    if (copies === 2) this.stats.duplicated++;
    const out: number[] = [];
    for (let i = 0; i < copies; i++) {
      let at = Math.max(departMs, departMs + this.c.delayMs + (this.c.jitterMs > 0 ? (this.random.next() * 2 - 1) * this.c.jitterMs : 0), this.lastArrivalMs);
      this.lastArrivalMs = at;
      if (this.c.reorder !== undefined && this.random.next() < this.c.reorder) at += this.c.reorderDelayMs ?? DEFAULT_REORDER_DELAY_MS;
      out.push(at);
    }
    this.stats.delivered += out.length;
    return out;
  }

  private lose(): boolean {
    const b = this.c.burst;
    if (b === undefined) return this.c.loss > 0 && this.random.next() < this.c.loss;
    this.bad = this.bad ? this.random.next() >= b.badToGood : this.random.next() < b.goodToBad;
    return this.random.next() < (this.bad ? b.lossInBad : this.c.loss);
  }
}

function validate(c: LinkConditions): LinkConditions {
  const prob = (x: number | undefined): boolean => x === undefined || (x >= 0 && x <= 1);
  assert(c.delayMs >= 0 && c.jitterMs >= 0, 'link delay and jitter are non-negative');
  assert(prob(c.loss) && prob(c.duplicate) && prob(c.reorder), 'link probabilities within [0, 1]');
  assert(c.burst === undefined || (prob(c.burst.goodToBad) && prob(c.burst.badToGood) && prob(c.burst.lossInBad)), 'burst probabilities within [0, 1]');
  assert(c.rateBytesPerSec === undefined || c.rateBytesPerSec > 0, 'bottleneck rate positive');
  return c;
}
