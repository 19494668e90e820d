import test from 'ava';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { clusterPaths } from '../../cluster/paths.js';
import { copyLocalTopology } from '../e2e/topology-copy.js';
import { eventually, startEtcd } from './etcd-fixture.js';

test('a role whose cleanup hangs and whose handle stays open still exits 0 on SIGTERM, deregistered, naming both in its log', async (t) => {
  const fixture = await startEtcd();
  const dir = mkdtempSync(join(tmpdir(), 'aetherflow-role-'));
  t.teardown(async () => {
    await fixture.stop();
    rmSync(dir, { recursive: true, force: true });
  });
  const topologyFile = await copyLocalTopology(dir, 'stuck');
  const script = fileURLToPath(new URL('stuck-role-process.ts', import.meta.url));
  const child = spawn(process.execPath, ['--import', 'tsx', script, topologyFile, fixture.etcd.endpoints.join(',')], { stdio: ['ignore', 'pipe', 'inherit'] });
  t.teardown(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<[number | null, NodeJS.Signals | null]>((resolve) => child.once('exit', (code, signal) => resolve([code, signal])));
  await eventually(() => (out.includes('ready\n') ? true : undefined), 30_000, 'the role ready');
  const etcd = fixture.client();
  const registered = async (): Promise<number> => (await etcd.getAll().prefix(clusterPaths('stuck').servicesPrefix).keys()).length;
  t.true((await registered()) > 0);

  child.kill('SIGTERM');
  t.deepEqual(await exited, [0, null]);
  const lines = out.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as { msg: string; step?: string; resources?: string[] });
  t.true(lines.some((l) => l.msg === 'shutdown step overran the budget; going on without it' && l.step === 'stuck step'));
  t.true(lines.some((l) => l.msg === 'handles still open after stopping; exiting' && (l.resources ?? []).includes('Timeout')));
  t.is(await registered(), 0);
});
