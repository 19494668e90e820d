/**
 * CPU time of the processes of a deployment, from /proc/<pid>/stat (user + system time of
 * the process itself, in clock ticks): what `bench snapshot` sums into CPU per write and
 * idle cores. Linux only; a process that is gone reads as undefined.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

/** utime and stime (fields 14 and 15) of a /proc/<pid>/stat line, in ticks; undefined when malformed. */
export function parseProcStat(text: string): { readonly utime: number; readonly stime: number } | undefined {
  // The command name (field 2) is in parentheses and may hold spaces or ')': fields resume after the last ')'.
  const close = text.lastIndexOf(')');
  if (close < 0) return undefined;
  const rest = text.slice(close + 2).trim().split(/\s+/);
  // rest[0] is field 3 (state): field n is rest[n - 3].
  const utime = Number(rest[11]);
  const stime = Number(rest[12]);
  return Number.isFinite(utime) && Number.isFinite(stime) ? { utime, stime } : undefined;
}

let ticksPerSecond: number | undefined;

/** The kernel's USER_HZ (getconf CLK_TCK), 100 when it cannot be read. */
export function clockTicksPerSecond(): number {
  if (ticksPerSecond === undefined) {
    try {
      const n = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim());
      ticksPerSecond = Number.isInteger(n) && n > 0 ? n : 100;
    } catch {
      ticksPerSecond = 100;
    }
  }
  return ticksPerSecond;
}

/** CPU seconds (user + system) the process has used so far, or undefined when it is gone. */
export function cpuSecondsOf(pid: number): number | undefined {
  try {
    const s = parseProcStat(readFileSync(`/proc/${pid}/stat`, 'utf8'));
    return s && (s.utime + s.stime) / clockTicksPerSecond();
  } catch {
    return undefined;
  }
}

/** CPU seconds by pid at one moment, and when it was taken (performance.now()). */
export interface CpuReading {
  readonly atMs: number;
  readonly seconds: ReadonlyMap<number, number>;
}

export function readCpu(pids: Iterable<number>): CpuReading {
  const seconds = new Map<number, number>();
  for (const pid of pids) {
    const s = cpuSecondsOf(pid);
    if (s !== undefined) seconds.set(pid, s);
  }
  return { atMs: performance.now(), seconds };
}

export interface CpuUsage {
  /** CPU seconds used between the two readings, summed over the processes. */
  readonly seconds: number;
  /** Wall seconds between the readings. */
  readonly wallS: number;
  /** seconds / wallS: cores busy on average. */
  readonly cores: number;
  /** Processes read at the start but gone at the end: their CPU after the first reading is not counted. */
  readonly gone: number;
  /** Processes that appeared meanwhile (a restart): all their CPU counts. */
  readonly appeared: number;
}

/** The CPU used between two readings; a process that started meanwhile counts whole, one that ended is lost (and counted in `gone`). */
export function cpuBetween(before: CpuReading, after: CpuReading): CpuUsage {
  let seconds = 0;
  let appeared = 0;
  for (const [pid, s] of after.seconds) {
    const was = before.seconds.get(pid);
    if (was === undefined) appeared++;
    seconds += Math.max(0, s - (was ?? 0));
  }
  let gone = 0;
  for (const pid of before.seconds.keys()) if (!after.seconds.has(pid)) gone++;
  const wallS = Math.max(0, (after.atMs - before.atMs) / 1000);
  return { seconds, wallS, cores: wallS > 0 ? seconds / wallS : Number.NaN, gone, appeared };
}

/** The CPU used between two readings per group (e.g. per role), by `groupOf(pid)`; pids it does not know go to "other". */
export function cpuByGroup(before: CpuReading, after: CpuReading, groupOf: ReadonlyMap<number, string>): Map<string, number> {
  const out = new Map<string, number>();
  for (const [pid, s] of after.seconds) {
    const g = groupOf.get(pid) ?? 'other';
    out.set(g, (out.get(g) ?? 0) + Math.max(0, s - (before.seconds.get(pid) ?? 0)));
  }
  return out;
}
