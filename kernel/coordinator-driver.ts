import { performance } from 'node:perf_hooks';
import { AetherError } from '../common/errors.js';
import type { Logger } from '../common/log.js';
import type { AetherMetrics } from '../common/metrics.js';
import type { Fence } from '../cluster/election.js';
import { gltField } from '../glts/glt.js';
import type { CommitLog } from './commit-log.js';
import { Coordinator, type CoordinatorAction, type CoordinatorEvent, type PersistOutcome } from './coordinator.js';
import type { Message } from './messages.js';

/** Where drivers send stream messages (kernel/peer-transport.ts in a deployment). */
export interface MessageSink {
  /**
   * Sends `m` to a region's elected leader or COORDINATOR; returns the bytes sent (0: not
   * sent). A message sent is settled later: `settled(true)` once the peer's transport has
   * it, `settled(false)` if its connection ended first.
   */
  send(to: string, m: Message, settled?: (delivered: boolean) => void): number;
  /** Whether `to` has an elected process to send to now. */
  knows(to: string): boolean;
}

/** How long a new coordinator waits for every member region to have an elected leader before it starts counting silence. */
export const PEERS_WAIT_MS = 5_000;
const PEERS_POLL_MS = 50;

/** The election term the driver persists under. */
export interface Term {
  fence(): Fence | undefined;
  resign(): Promise<void>;
}

/**
 * Drives the sans-IO Coordinator (kernel/coordinator.ts) with real time and I/O:
 * `send` → Quantum, `persist` → one fenced etcd transaction (CommitLog), `wakeAt` → a
 * timer, `committed`/`membership` → metrics and logs, `resign` → the election. Events are
 * fed one at a time, in order, on the event loop.
 */
export class CoordinatorDriver {
  private timer: NodeJS.Timeout | undefined;
  private timerAtMs = 0;
  /** Bumped on every election and deposition: results of an older term are dropped. */
  private term = 0;

  constructor(
    readonly coordinator: Coordinator,
    private readonly sink: MessageSink,
    private readonly commits: CommitLog,
    private readonly election: Term,
    private readonly metrics: AetherMetrics,
    private readonly log: Logger,
    private readonly regions: readonly string[],
  ) {}

  private now(): number {
    return performance.now();
  }

  /** Won the election with `epoch`: read the last commit and membership, then lead. */
  async elected(epoch: bigint): Promise<void> {
    const term = ++this.term;
    let last, membership;
    try {
      await this.commits.loadHistory();
      [last, membership] = await Promise.all([this.commits.last(), this.commits.membership()]);
    } catch (err) {
      this.log.warn({ err }, 'reading the commit log after winning failed; resigning');
      await this.election.resign().catch(() => {});
      return;
    }
    // Silence is counted from the election: leaders still being elected would be excluded.
    const deadline = this.now() + PEERS_WAIT_MS;
    while (term === this.term && this.now() < deadline && !membership.members.every((m) => this.sink.knows(m))) {
      await new Promise((resolve) => setTimeout(resolve, PEERS_POLL_MS));
    }
    if (term !== this.term) return;
    for (const r of this.regions) this.metrics.setMember(r, membership.members.includes(r));
    this.feed({ type: 'elected', nowMs: this.now(), epoch, last, membership });
  }

  deposed(): void {
    this.term++;
    clearTimeout(this.timer);
    this.timer = undefined;
    this.feed({ type: 'deposed', nowMs: this.now() });
    this.metrics.clearCoordinatorView();
  }

  message(msg: Message): void {
    this.feed({ type: 'message', nowMs: this.now(), msg });
  }

  /** A packet from `region`'s elected leader: it is alive. */
  heard(region: string): void {
    this.feed({ type: 'heard', nowMs: this.now(), region });
  }

  stop(): void {
    this.term++;
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  private feed(ev: CoordinatorEvent): void {
    const startedMs = this.now();
    for (const a of this.coordinator.handle(ev)) this.run(a, startedMs);
  }

  /** `startedMs`: when the event's actions began, so a commit's announce phase is the time its sends took. */
  private run(a: CoordinatorAction, startedMs: number): void {
    switch (a.type) {
      case 'send':
        this.sink.send(a.to, a.msg);
        return;
      case 'persist':
        void this.persist(a);
        return;
      case 'wakeAt': {
        // Every event asks for its wake-up again, mostly the same one: keep a timer that is already right.
        if (this.timer !== undefined && this.timerAtMs === a.atMs) return;
        clearTimeout(this.timer);
        const term = this.term;
        this.timerAtMs = a.atMs;
        this.timer = setTimeout(() => {
          this.timer = undefined;
          if (term === this.term) this.feed({ type: 'tick', nowMs: this.now() });
        }, Math.max(0, a.atMs - this.now()));
        return;
      }
      case 'committed': {
        const announceMs = this.now() - startedMs;
        this.metrics.commits.inc();
        this.metrics.observeCommit('decide', a.timings.decideMs);
        this.metrics.observeCommit('persist', a.timings.persistMs);
        this.metrics.observeCommit('announce', announceMs);
        this.metrics.observeCommit('total', a.timings.decideMs + a.timings.persistMs + announceMs);
        this.log.debug({ ...gltField(a.record.T), members: a.record.members, ...a.timings, announceMs }, 'committed');
        return;
      }
      case 'membership':
        for (const r of this.regions) this.metrics.setMember(r, a.record.members.includes(r));
        this.log.info({ members: a.record.members, excluded: a.excluded, readmitted: a.readmitted, version: a.record.version }, 'membership changed');
        return;
      case 'resign':
        void this.election.resign().catch((err: unknown) => this.log.warn({ err }, 'resign failed'));
        return;
      case 'log':
        this.log[a.level]({ ...a.fields, event: a.event }, `coordinator ${a.event}`);
        return;
    }
  }

  private async persist(a: Extract<CoordinatorAction, { type: 'persist' }>): Promise<void> {
    const term = this.term;
    const fence = this.election.fence();
    let outcome: PersistOutcome;
    if (!fence || fence.epoch !== a.epoch) {
      outcome = 'fenced';
    } else {
      try {
        await this.commits.persist(fence, { ...(a.commit ? { commit: a.commit } : {}), ...(a.membership ? { membership: a.membership } : {}) });
        outcome = 'ok';
      } catch (err) {
        outcome = err instanceof AetherError && err.code === 'FENCED' ? 'fenced' : 'failed';
        this.log.warn({ err, outcome }, 'persisting failed');
      }
    }
    if (term !== this.term) return;
    this.feed({ type: 'persisted', nowMs: this.now(), persistId: a.persistId, outcome });
  }
}
