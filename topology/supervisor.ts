import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, createWriteStream, mkdirSync, openSync } from 'node:fs';
import { dirname } from 'node:path';
import { assert } from '../common/errors.js';

/** How to run one supervised process. */
export interface ProcessSpec {
  readonly id: string;
  readonly command: string;
  readonly args: readonly string[];
  readonly env?: Readonly<Record<string, string>>;
  readonly cwd?: string;
  /** stdout and stderr are appended here. */
  readonly logFile: string;
  /** Ready when this URL answers 200 (a role's /healthz) … */
  readonly healthUrl?: string;
  /** … or when a stdout line matches this. One of the two is required. */
  readonly readyLine?: RegExp;
}

/**
 * starting → ready → exited → backing-off → starting …; any live state → stopping →
 * stopped (terminal). A child that is not ready within readyTimeoutMs is killed, which
 * counts as an exit.
 */
export type ProcessState = 'starting' | 'ready' | 'exited' | 'backing-off' | 'stopping' | 'stopped';

const TRANSITIONS: Readonly<Record<ProcessState, readonly ProcessState[]>> = {
  starting: ['ready', 'exited', 'stopping'],
  ready: ['exited', 'stopping'],
  exited: ['backing-off', 'stopping', 'stopped'],
  'backing-off': ['starting', 'stopping', 'stopped'],
  stopping: ['stopped'],
  stopped: [],
};

export interface ProcessEvent {
  readonly id: string;
  readonly state: ProcessState;
  readonly pid?: number;
  /** How many times it was restarted so far. */
  readonly restarts: number;
  readonly exitCode?: number | null;
  readonly signal?: NodeJS.Signals | null;
  /** In backing-off: the delay before the next start. */
  readonly delayMs?: number;
  /** In stopped: how long the child took to exit after SIGTERM (SIGKILL after stopGraceMs). */
  readonly stopMs?: number;
}

export interface SupervisorOptions {
  readonly restartBaseMs?: number;
  readonly restartMaxMs?: number;
  /** A child that stayed up this long is healthy again: its backoff restarts from the base. */
  readonly stableAfterMs?: number;
  readonly readyTimeoutMs?: number;
  /** SIGTERM, then SIGKILL after this. */
  readonly stopGraceMs?: number;
  readonly onEvent?: (event: ProcessEvent) => void;
}

class Supervised {
  /** Invariant: child is defined ⇔ state is starting, ready or stopping (while the process lives). */
  state: ProcessState = 'backing-off';
  child: ChildProcess | undefined;
  restarts = 0;
  backoffMs: number;
  startedAtMs = 0;
  /** When SIGTERM was sent (state stopping). */
  stopSignalledAtMs = 0;
  timer: NodeJS.Timeout | undefined;
  exited: Promise<void> = Promise.resolve();
  /** Every pid this spec ever ran as. */
  readonly pids: number[] = [];

  constructor(
    readonly spec: ProcessSpec,
    baseMs: number,
  ) {
    this.backoffMs = baseMs;
  }
}

/**
 * Runs child processes, restarts the ones that die (exponential backoff, bounded), and
 * stops them all, leaving none behind. Each child runs in its own process group, so a
 * Ctrl-C on the terminal reaches only the supervisor, which then stops the children in
 * order; stop() signals the whole group.
 */
export class Supervisor {
  private readonly procs = new Map<string, Supervised>();
  private stopping = false;
  private readonly o: Required<Omit<SupervisorOptions, 'onEvent'>> & Pick<SupervisorOptions, 'onEvent'>;

  constructor(options: SupervisorOptions = {}) {
    this.o = {
      restartBaseMs: options.restartBaseMs ?? 200,
      restartMaxMs: options.restartMaxMs ?? 5000,
      stableAfterMs: options.stableAfterMs ?? 10_000,
      readyTimeoutMs: options.readyTimeoutMs ?? 30_000,
      stopGraceMs: options.stopGraceMs ?? 5000,
      onEvent: options.onEvent,
    };
  }

  /** Starts a child; it is supervised until stop(). */
  add(spec: ProcessSpec): void {
    assert(!this.stopping, 'add() after stop()');
    assert(!this.procs.has(spec.id), `process ${spec.id} added twice`);
    assert(spec.healthUrl !== undefined || spec.readyLine !== undefined, `process ${spec.id} has no readiness check`);
    const p = new Supervised(spec, this.o.restartBaseMs);
    this.procs.set(spec.id, p);
    this.start(p);
  }

  state(id: string): ProcessState | undefined {
    return this.procs.get(id)?.state;
  }

  /** The current pid of each running child. */
  pids(): Map<string, number> {
    const m = new Map<string, number>();
    for (const [id, p] of this.procs) if (p.child?.pid !== undefined) m.set(id, p.child.pid);
    return m;
  }

  /** Every pid any child ever had (for checking that none is left). */
  allPids(): number[] {
    return [...this.procs.values()].flatMap((p) => p.pids);
  }

  /** Resolves when every child is ready; rejects never (a child that keeps failing keeps it waiting). */
  async allReady(pollMs = 100): Promise<void> {
    while (![...this.procs.values()].every((p) => p.state === 'ready')) {
      if (this.stopping) return;
      await sleep(pollMs);
    }
  }

  /**
   * Stops every child — or those `only` selects, for an ordered shutdown; none is
   * restarted any more either way — with SIGTERM, SIGKILL after the grace period, and
   * resolves when they have exited.
   */
  async stop(only: (id: string) => boolean = () => true): Promise<void> {
    this.stopping = true;
    await Promise.all([...this.procs.values()].filter((p) => only(p.spec.id)).map((p) => this.stopOne(p)));
  }

  private async stopOne(p: Supervised): Promise<void> {
    clearTimeout(p.timer);
    if (p.state === 'stopped') return;
    if (p.state === 'exited' || p.state === 'backing-off') {
      this.transition(p, 'stopped');
      return;
    }
    if (p.state !== 'stopping') {
      this.transition(p, 'stopping');
      p.stopSignalledAtMs = Date.now();
      signalGroup(p.child!, 'SIGTERM');
      const kill = setTimeout(() => signalGroup(p.child!, 'SIGKILL'), this.o.stopGraceMs);
      await p.exited;
      clearTimeout(kill);
    }
    await p.exited;
  }

  private start(p: Supervised): void {
    const { spec } = p;
    mkdirSync(dirname(spec.logFile), { recursive: true });
    const fd = openSync(spec.logFile, 'a');
    let child: ChildProcess;
    try {
      // With a ready line stdout is piped (and copied to the log); otherwise the child
      // writes its log itself, so the log survives the supervisor.
      child = spawn(spec.command, spec.args as string[], {
        cwd: spec.cwd,
        env: { ...process.env, ...spec.env },
        stdio: ['ignore', spec.readyLine ? 'pipe' : fd, fd],
        detached: true,
      });
    } finally {
      closeSync(fd);
    }
    p.child = child;
    p.startedAtMs = Date.now();
    p.exited = new Promise<void>((resolve) => {
      child.once('exit', (code, signal) => {
        resolve();
        this.onExit(p, child, code, signal);
      });
      child.once('error', () => {
        // spawn failed (e.g. ENOENT): no 'exit' follows.
        if (child.pid === undefined) {
          resolve();
          this.onExit(p, child, null, null);
        }
      });
    });
    if (child.pid !== undefined) p.pids.push(child.pid);
    this.transition(p, 'starting');
    if (spec.readyLine && child.stdout) {
      const log = createWriteStream(spec.logFile, { flags: 'a' });
      let pending = '';
      child.stdout.on('data', (d: Buffer) => {
        log.write(d);
        if (p.state !== 'starting' || p.child !== child) return;
        pending = (pending + d.toString('utf8')).slice(-64 * 1024);
        if (pending.split('\n').some((line) => spec.readyLine!.test(line))) this.transition(p, 'ready');
      });
      child.stdout.on('end', () => log.end());
    }
    if (spec.healthUrl) void this.probe(p, child, spec.healthUrl);
    p.timer = setTimeout(() => {
      if (p.child === child && p.state === 'starting') signalGroup(child, 'SIGKILL');
    }, this.o.readyTimeoutMs);
  }

  private async probe(p: Supervised, child: ChildProcess, url: string): Promise<void> {
    while (p.child === child && p.state === 'starting') {
      try {
        const res = await fetch(url, { signal: AbortSignal.timeout(1000) });
        await res.arrayBuffer();
        if (res.ok && p.child === child && p.state === 'starting') {
          this.transition(p, 'ready');
          return;
        }
      } catch {
        // not listening yet
      }
      await sleep(100);
    }
  }

  private onExit(p: Supervised, child: ChildProcess, code: number | null, signal: NodeJS.Signals | null): void {
    if (p.child !== child) return;
    clearTimeout(p.timer);
    p.child = undefined;
    if (p.state === 'stopping') {
      this.transition(p, 'stopped', { exitCode: code, signal, stopMs: Date.now() - p.stopSignalledAtMs });
      return;
    }
    if (Date.now() - p.startedAtMs >= this.o.stableAfterMs) p.backoffMs = this.o.restartBaseMs;
    this.transition(p, 'exited', { exitCode: code, signal, pid: child.pid });
    if (this.stopping) {
      this.transition(p, 'stopped');
      return;
    }
    const delayMs = p.backoffMs;
    p.backoffMs = Math.min(p.backoffMs * 2, this.o.restartMaxMs);
    this.transition(p, 'backing-off', { delayMs });
    p.timer = setTimeout(() => {
      if (p.state !== 'backing-off') return;
      p.restarts++;
      this.start(p);
    }, delayMs);
  }

  private transition(p: Supervised, to: ProcessState, extra: Partial<ProcessEvent> = {}): void {
    assert(TRANSITIONS[p.state].includes(to), `process ${p.spec.id}: ${p.state} → ${to}`);
    p.state = to;
    this.o.onEvent?.({ id: p.spec.id, state: to, restarts: p.restarts, ...(p.child?.pid !== undefined ? { pid: p.child.pid } : {}), ...extra });
  }
}

/** True while a process with this pid exists (EPERM: it exists, owned by someone else). */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Signals the child's whole process group (it leads one: spawned detached). */
function signalGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    try {
      child.kill(signal);
    } catch {
      // already gone
    }
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
