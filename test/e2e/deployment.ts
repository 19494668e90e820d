import type { ChildProcess } from 'node:child_process';
import { readFileSync, readdirSync, rmSync } from 'node:fs';

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
