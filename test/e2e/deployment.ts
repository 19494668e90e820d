import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, readdirSync, rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const CLI = fileURLToPath(new URL('../../dist/cli/main.js', import.meta.url));

/** One line of `up --json`. */
export interface UpEvent {
  readonly event: string;
  readonly id?: string;
  readonly state?: string;
  readonly pid?: number;
  readonly restarts?: number;
  readonly pids?: number[];
  readonly created?: string[];
  readonly processes?: readonly { readonly id: string }[];
  readonly process?: { readonly role: string; readonly region: string };
}

/** Runs `up --json` (from dist/) in `dir` and collects its events; a failing exit is reported with its stderr. */
export function startUp(dir: string, topologyFile: string): { up: ChildProcess; events: UpEvent[] } {
  const up = spawn(process.execPath, [CLI, 'up', '--json', '--topology', topologyFile], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
  const events: UpEvent[] = [];
  let pending = '';
  up.stdout!.on('data', (d: Buffer) => {
    pending += d.toString('utf8');
    const lines = pending.split('\n');
    pending = lines.pop()!;
    for (const line of lines) if (line.trim()) events.push(JSON.parse(line) as UpEvent);
  });
  let stderr = '';
  up.stderr!.on('data', (d: Buffer) => (stderr += d.toString('utf8')));
  up.on('exit', (code, signal) => {
    if (code !== 0) console.error(`up exited ${code ?? signal}: ${stderr}`);
  });
  return { up, events };
}

/** The pid `id` last reported ready with (after event `from`), if any. */
export function readyPid(events: readonly UpEvent[], id: string, from = 0): number | undefined {
  return events.slice(from).findLast((e) => e.event === 'process' && e.id === id && e.state === 'ready')?.pid;
}

/** Whether every process `up` said it starts has reported ready. */
export function everyProcessReady(events: readonly UpEvent[]): boolean {
  const ids = events.find((e) => e.event === 'starting')?.processes?.map((p) => p.id);
  return ids !== undefined && ids.every((id) => readyPid(events, id) !== undefined);
}

/**
 * Processes whose command line mentions `dir` (a test deployment's topology copy and
 * data dirs live there), so a test can prove `up` left nothing behind and clean up
 * whatever it did leave.
 */
export function processesMentioning(dir: string): number[] {
  const found: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    try {
      if (readFileSync(`/proc/${entry}/cmdline`, 'utf8').includes(dir)) found.push(Number(entry));
    } catch {
      // gone meanwhile
    }
  }
  return found;
}

/** Stops a test's `up` (SIGTERM, up to `graceMs`), kills anything of it still running, removes its dir. */
export async function removeDeployment(up: ChildProcess | undefined, dir: string | undefined, graceMs = 20_000): Promise<void> {
  if (up && up.exitCode === null) {
    const exited = new Promise((resolve) => up.once('exit', resolve));
    up.kill('SIGTERM');
    await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, graceMs))]);
  }
  if (dir) {
    for (const pid of processesMentioning(dir)) process.kill(pid, 'SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
}
