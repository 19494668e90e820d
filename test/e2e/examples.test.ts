import test from 'ava';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { connect, type AetherClient } from '../../client/client.js';
import { compareGlt, parseGlt } from '../../glts/glt.js';
import { eventually } from '../cluster/etcd-fixture.js';
import { copyLocalTopology } from './topology-copy.js';
import { everyProcessReady, removeDeployment, startUp } from './deployment.js';

// The examples as a user runs them (`node --import tsx examples/<name>.ts`), as child
// processes against one private deployment of topology/local.yaml (`up` from dist/).

const EXAMPLES = fileURLToPath(new URL('../../examples/', import.meta.url));
/** Absolute, since the examples run in the deployment's directory, where no node_modules is. */
const TSX = import.meta.resolve('tsx');
const NAME = 'examples';
/** A child runs past its own --timeout-s only if something is badly wrong; then it is killed. */
const EXAMPLE_KILL_MS = 60_000;

interface ExampleRun {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

let dir: string;
let topologyFile: string;
let certsDir: string;
let up: ChildProcess | undefined;
let client: AetherClient | undefined;

function runExample(name: string, args: readonly string[]): Promise<ExampleRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', TSX, join(EXAMPLES, `${name}.ts`), ...args], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (d: Buffer) => (stdout += d.toString('utf8')));
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString('utf8')));
    const killer = setTimeout(() => child.kill('SIGKILL'), EXAMPLE_KILL_MS);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(killer);
      resolve({ code, stdout, stderr });
    });
  });
}

test.before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'aetherflow-e2e-examples-'));
  // Relaxed as the other e2e tests: a loaded machine must not exclude a region meanwhile.
  topologyFile = await copyLocalTopology(dir, NAME, { intervalMs: 200, budgetMs: 200, silenceMs: 10_000, lagLimitMs: 20_000 });
  certsDir = join(dir, '.aetherflow', 'certs');
  const started = startUp(dir, topologyFile);
  up = started.up;
  await eventually(() => (everyProcessReady(started.events) ? true : undefined), 90_000, 'every process ready');
  const c = connect({ topologyFile });
  client = c;
  const regions = c.topology.regions.map((r) => r.name);
  await eventually(() => c.latestSnapshot().then((s) => (s.members.length === regions.length ? s : undefined), () => undefined), 30_000, 'a snapshot with every region a member');
});

test.after.always(async () => {
  client?.close();
  await removeDeployment(up, dir);
});

test.serial('cross-region-read writes in one region and reads identical rows at one GLT in two others', async (t) => {
  const run = await runExample('cross-region-read', ['--topology', topologyFile, '--certs-dir', certsDir, '--timeout-s', '30']);
  t.is(run.code, 0, `stdout:\n${run.stdout}\nstderr:\n${run.stderr}`);
  t.log(run.stdout);
  t.regex(run.stdout, /^writing 3 keys under examples\/cross-region\/\S+ in us-east$/m);
  const first = /^eu-west: read 3 rows at GLT (\S+)$/m.exec(run.stdout);
  const second = /^ap-south: read 3 rows at GLT (\S+)$/m.exec(run.stdout);
  t.truthy(first && second, run.stdout);
  t.is(second![1], first![1], 'the same GLT in both regions');
  t.regex(run.stdout, new RegExp(`^identical: eu-west and ap-south read the same 3 rows at GLT ${first![1]!.replace('.', '\\.')}$`, 'm'));
  t.regex(run.stdout, /^cross-region-read: OK$/m);
});

test.serial('watch-snapshots prints each committed GLT, increasing, for --count snapshots', async (t) => {
  const run = await runExample('watch-snapshots', ['--topology', topologyFile, '--certs-dir', certsDir, '--count', '5', '--timeout-s', '30']);
  t.is(run.code, 0, `stdout:\n${run.stdout}\nstderr:\n${run.stderr}`);
  t.log(run.stdout);
  const glts = [...run.stdout.matchAll(/^snapshot (\d)\/5: GLT (\S+) members (\S+)/gm)].map((m) => parseGlt(m[2]!));
  t.is(glts.length, 5, run.stdout);
  for (let i = 1; i < glts.length; i++) t.true(compareGlt(glts[i]!, glts[i - 1]!) > 0);
  t.regex(run.stdout, /^watched 5 snapshots, GLTs increasing, one every \d+ ms$/m);
  t.regex(run.stdout, /^watch-snapshots: OK$/m);
});

test.serial('an example fails with a clear message and a non-zero exit: bad arguments, missing certificates', async (t) => {
  const usage = await runExample('cross-region-read', ['--topology', topologyFile, '--read-regions', 'eu-west']);
  t.is(usage.code, 2);
  t.regex(usage.stderr, /^cross-region-read failed: USAGE: needs two regions to read in besides us-east/m);

  const empty = join(dir, 'no-certs');
  mkdirSync(empty);
  const certs = await runExample('watch-snapshots', ['--topology', topologyFile, '--certs-dir', empty, '--timeout-s', '20']);
  t.is(certs.code, 2);
  t.regex(certs.stderr, /^watch-snapshots failed: CERTIFICATE: .*ca\.crt is missing/m);
});
