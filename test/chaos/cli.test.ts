import test from 'ava';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

// Bad input to `chaos` is refused before anything is touched: exit 2 and a stable code.

const CLI = fileURLToPath(new URL('../../dist/cli/main.js', import.meta.url));
const TOPOLOGY = fileURLToPath(new URL('../../topology/local.yaml', import.meta.url));

function run(cwd: string, ...args: string[]): Promise<{ code: number; error?: string; stdout: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [CLI, ...args, '--topology', TOPOLOGY, '--json'], { cwd, timeout: 30_000 }, (err, stdout, stderr) => {
      const code = err ? Number((err as { code?: number }).code ?? 1) : 0;
      let error: string | undefined;
      try {
        error = (JSON.parse(stderr.trim().split('\n').pop() ?? '') as { error: { code: string } }).error.code;
      } catch {
        error = undefined;
      }
      resolve({ code, ...(error ? { error } : {}), stdout });
    });
  });
}

const outcome = ({ code, error }: { code: number; error?: string }) => ({ code, error });

test('chaos refuses unknown drills and regions with exit 2, and reports no deployment with ETCD', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'aetherflow-chaos-cli-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  t.deepEqual(outcome(await run(dir, 'chaos', 'drill', 'bogus')), { code: 2, error: 'USAGE' });
  t.deepEqual(outcome(await run(dir, 'chaos', 'drill')), { code: 2, error: 'USAGE' });
  t.deepEqual(outcome(await run(dir, 'chaos', 'drill', 'catch-up', '--value-bytes', String(2 << 20))), { code: 2, error: 'USAGE' });
  t.deepEqual(outcome(await run(dir, 'chaos', 'fail-region', 'nowhere')), { code: 2, error: 'UNKNOWN_REGION' });
  t.deepEqual(outcome(await run(dir, 'chaos', 'heal-region', 'nowhere')), { code: 2, error: 'UNKNOWN_REGION' });
  t.deepEqual(outcome(await run(dir, 'chaos', 'fail-region', 'us-east', '--mode', 'melt')), { code: 2, error: 'USAGE' });
  t.deepEqual(outcome(await run(dir, 'chaos', 'kill', 'us-east-d1')), { code: 1, error: 'ETCD' });
});

test('chaos drill --list names every drill, catch-up among them, without a deployment', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'aetherflow-chaos-cli-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const r = await run(dir, 'chaos', 'drill', '--list');
  t.is(r.code, 0);
  const names = (JSON.parse(r.stdout) as { drills: { name: string; description: string }[] }).drills.map((d) => d.name);
  t.true(names.includes('catch-up'));
  t.true(names.includes('region-partition'));
});
