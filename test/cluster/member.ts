import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { ExecutionContext } from 'ava';

/** Starts member-process.ts; killed with SIGKILL at teardown if still running. */
export function spawnMember(t: ExecutionContext, endpoints: readonly string[], deployment: string, election: string, id: string): { child: ChildProcess; output: () => string } {
  const script = fileURLToPath(new URL('member-process.ts', import.meta.url));
  const child = spawn(process.execPath, ['--import', 'tsx', script, endpoints.join(','), deployment, election, id], { stdio: ['ignore', 'pipe', 'inherit'] });
  t.teardown(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  return { child, output: () => out };
}
