/**
 * The workload `bench compare-etcd` runs against each system: open-loop writes at a fixed
 * rate, spread round-robin over the regions, each to that region's own endpoint; after
 * each acknowledgement, a consistent read in another region (rotating over the others)
 * issued at once, repeated until the write is visible there (visibility = ack → that read
 * returning it). Beside each write, a consistent read of a key already written, in a
 * region's own endpoint (rotating over the regions): the local read latency. Both
 * measured from the client's side of this machine.
 */
import { AetherError } from '../common/errors.js';

/** What the workload needs from a system under test. */
export interface SystemUnderTest<Token> {
  readonly regions: readonly string[];
  /** Writes key = value through `region`'s own endpoint; resolves on acknowledgement. */
  write(region: string, key: string, value: string): Promise<Token>;
  /**
   * One consistent read of `key` in `region` (it may wait up to `waitMs` itself, as
   * AetherFlow's min_glt does): 'visible' when it returned the written value, 'missing'
   * when it was served at a point that must include the write yet lacked it.
   */
  readVisible(region: string, key: string, value: string, token: Token, waitMs: number): Promise<ReadOutcome>;
  /** One consistent read of `key` at `region`'s own endpoint (AetherFlow: at its frontier; etcd: linearizable). */
  readLocal?(region: string, key: string): Promise<void>;
}

export interface WorkloadOptions {
  readonly ratePerS: number;
  readonly durationS: number;
  /** Writes in flight at once; a write due beyond it is shed and counted. */
  readonly maxInFlight: number;
  /** Visibility checks in flight at once; an acknowledged write beyond it is not checked, and counted. */
  readonly maxVisibilityChecks: number;
  /** A write not visible in the other region this long after its ack counts as a timeout. */
  readonly visibilityTimeoutMs: number;
  readonly valueBytes: number;
  /** Key prefix, unique per run. */
  readonly prefix: string;
  readonly log?: (line: string) => void;
}

export interface WorkloadResult {
  /** Acknowledged writes' latencies, ms. */
  readonly writeMs: readonly number[];
  /** Local reads' latencies, ms (empty when the system has no readLocal). */
  readonly readMs: readonly number[];
  readonly readErrors: number;
  /** Local reads due while maxInFlight reads were in flight: not issued, counted. */
  readonly readsShed: number;
  /** Ack → visible in another region, ms, for the writes that became visible. */
  readonly visibilityMs: readonly number[];
  readonly attempted: number;
  readonly writeErrors: number;
  readonly visibilityTimeouts: number;
  readonly visibilityErrors: number;
  /** Writes whose check met a read served at a point that must include them, without them. */
  readonly missingReads: number;
  readonly unchecked: number;
  readonly shed: number;
  /** First write sent → last ack, seconds. */
  readonly elapsedS: number;
  readonly firstWriteError?: string;
  readonly firstReadError?: string;
}

export type ReadOutcome = 'visible' | 'missing';

/** Polling a write that is not visible yet backs off from the first to the last delay. */
const POLL_FIRST_MS = 10;
const POLL_MAX_MS = 250;

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));


export async function runWorkload<Token>(system: SystemUnderTest<Token>, o: WorkloadOptions): Promise<WorkloadResult> {
  if (system.regions.length < 2) throw new AetherError('USAGE', 'the comparison needs at least two regions');
  const total = Math.max(1, Math.round(o.ratePerS * o.durationS));
  const intervalMs = 1000 / o.ratePerS;
  const value = 'v'.repeat(o.valueBytes);
  const writeMs: number[] = [];
  const visibilityMs: number[] = [];
  let writeErrors = 0;
  let visibilityTimeouts = 0;
  let visibilityErrors = 0;
  let shed = 0;
  let missingReads = 0;
  let unchecked = 0;
  let inFlight = 0;
  let checks = 0;
  let lastAckMs = 0;
  let firstWriteError: string | undefined;
  let firstReadError: string | undefined;
  const readMs: number[] = [];
  let readErrors = 0;
  let readsShed = 0;
  let readsInFlight = 0;
  /** The newest acknowledged key: what the local reads read (a key that exists). */
  let lastKey: string | undefined;
  const describe = (err: unknown) => (err instanceof Error ? `${(err as { code?: string }).code ?? err.name}: ${err.message}` : String(err));
  const n = system.regions.length;
  const pending = new Set<Promise<void>>();

  const one = async (i: number): Promise<void> => {
    const writer = system.regions[i % n]!;
    const reader = system.regions[(i % n + 1 + (Math.floor(i / n) % (n - 1))) % n]!;
    const key = `${o.prefix}/${writer}/${i}`;
    const sent = performance.now();
    let token: Token;
    try {
      token = await system.write(writer, key, value);
    } catch (err) {
      writeErrors++;
      firstWriteError ??= describe(err);
      return;
    } finally {
      inFlight--;
    }
    const acked = performance.now();
    lastAckMs = Math.max(lastAckMs, acked);
    writeMs.push(acked - sent);
    lastKey = key;
    if (checks >= o.maxVisibilityChecks) {
      unchecked++;
      return;
    }
    checks++;
    try {
      await check(reader, key, token, acked);
    } finally {
      checks--;
    }
  };

  const check = async (reader: string, key: string, token: Token, acked: number): Promise<void> => {
    const deadline = acked + o.visibilityTimeoutMs;
    let pollMs = POLL_FIRST_MS;
    let missing = false;
    for (;;) {
      const left = deadline - performance.now();
      if (left <= 0) {
        visibilityTimeouts++;
        return;
      }
      try {
        if ((await system.readVisible(reader, key, value, token, left)) === 'visible') {
          const at = performance.now();
          if (at - acked > o.visibilityTimeoutMs) visibilityTimeouts++;
          else visibilityMs.push(at - acked);
          return;
        }
        if (!missing) missingReads++;
        missing = true;
      } catch (err) {
        firstReadError ??= describe(err);
        if (performance.now() >= deadline) {
          visibilityErrors++;
          return;
        }
      }
      await sleep(pollMs);
      pollMs = Math.min(POLL_MAX_MS, pollMs * 2);
    }
  };

  const readLocal = system.readLocal?.bind(system);
  const localRead = async (i: number): Promise<void> => {
    const region = system.regions[(i + 1) % n]!;
    const started = performance.now();
    try {
      await readLocal!(region, lastKey ?? `${o.prefix}/none`);
      readMs.push(performance.now() - started);
    } catch (err) {
      readErrors++;
      firstReadError ??= describe(err);
    } finally {
      readsInFlight--;
    }
  };

  const started = performance.now();
  let lastProgress = started;
  for (let i = 0; i < total; i++) {
    const due = started + i * intervalMs;
    const wait = due - performance.now();
    if (wait > 0) await sleep(wait);
    if (readLocal) {
      if (readsInFlight >= o.maxInFlight) readsShed++;
      else {
        readsInFlight++;
        const r = localRead(i).finally(() => pending.delete(r));
        pending.add(r);
      }
    }
    if (inFlight >= o.maxInFlight) {
      shed++;
      continue;
    }
    inFlight++;
    const p = one(i).finally(() => pending.delete(p));
    pending.add(p);
    if (o.log && performance.now() - lastProgress > 5000) {
      lastProgress = performance.now();
      o.log(`  ${i + 1}/${total} writes sent, ${writeMs.length} acked, ${visibilityMs.length} visible elsewhere, ${visibilityTimeouts} timeouts`);
    }
  }
  await Promise.all([...pending]);
  return {
    writeMs: [...writeMs].sort((a, b) => a - b),
    readMs: [...readMs].sort((a, b) => a - b),
    readErrors,
    readsShed,
    visibilityMs: [...visibilityMs].sort((a, b) => a - b),
    attempted: total,
    writeErrors,
    visibilityTimeouts,
    visibilityErrors,
    missingReads,
    unchecked,
    shed,
    elapsedS: ((lastAckMs || performance.now()) - started) / 1000,
    ...(firstWriteError !== undefined ? { firstWriteError } : {}),
    ...(firstReadError !== undefined ? { firstReadError } : {}),
  };
}
