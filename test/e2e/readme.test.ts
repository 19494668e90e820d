import test from 'ava';
import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { copyLocalTopology } from './topology-copy.js';
import { removeDeployment } from './deployment.js';

// The README's ten-minute tour, run as written, so it cannot rot: the ```sh blocks between
// <!-- tour:start --> and <!-- tour:end -->, in order, against one private deployment — a
// copy of topology/local.yaml in a temp dir (own ports, etcd, data and certificates; secure
// by default) named by $AETHERFLOW_TOPOLOGY, with `aetherflow` on PATH running dist/ (built
// by `make test`). The block after <!-- tour:background --> is `up`: started, waited for
// until every process is ready, stopped at the end. Every other command must exit 0.

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const CLI = join(ROOT, 'dist', 'cli', 'main.js');

export interface Tour {
  /** The long-running command (`aetherflow up`). */
  readonly background: string;
  /** Every other command, in order; a line ending in `\` continues on the next. */
  readonly commands: readonly string[];
}

/** The tour's commands, from the README text. */
export function tourOf(readme: string): Tour {
  const start = readme.indexOf('<!-- tour:start -->');
  const end = readme.indexOf('<!-- tour:end -->');
  if (start < 0 || end < start) throw new Error('README.md has no <!-- tour:start --> … <!-- tour:end --> section');
  const lines = readme.slice(start, end).split('\n');
  let background: string | undefined;
  const commands: string[] = [];
  let nextIsBackground = false;
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!.trim();
    if (line === '<!-- tour:background -->') nextIsBackground = true;
    if (line !== '```sh') continue;
    const block: string[] = [];
    for (i++; i < lines.length && lines[i]!.trim() !== '```'; i++) block.push(lines[i]!);
    // Joined continuation lines; comments and blank lines dropped.
    const joined = block.join('\n').replace(/\s*\\\n\s*/g, ' ').split('\n');
    const cmds = joined.map((l) => l.trim()).filter((l) => l !== '' && !l.startsWith('#'));
    if (nextIsBackground) {
      if (cmds.length !== 1) throw new Error(`the background block holds ${cmds.length} commands, not one`);
      background = cmds[0]!;
      nextIsBackground = false;
    } else {
      commands.push(...cmds);
    }
  }
  if (background === undefined) throw new Error('the tour has no <!-- tour:background --> block');
  return { background, commands };
}

/** One bash script: stops at the first command that fails, after printing which one it was. */
function script(commands: readonly string[]): string {
  const steps = commands.map((c, i) => `printf '\\n::step %d::\\n' ${i + 1}\n${c}`);
  return ['set -euo pipefail', ...steps, "printf '\\n::done::\\n'"].join('\n');
}

function run(cmd: string, options: { cwd: string; env: NodeJS.ProcessEnv; timeoutMs: number }): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve) => {
    const child = spawn('bash', ['-c', cmd], { cwd: options.cwd, env: options.env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString('utf8')));
    child.stderr.on('data', (d: Buffer) => (out += d.toString('utf8')));
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, out });
    });
  });
}

test('tourOf reads the commands of the tour section', (t) => {
  const md = [
    '# x',
    '```sh',
    'outside',
    '```',
    '<!-- tour:start -->',
    '<!-- tour:background -->',
    '```sh',
    'aetherflow up',
    '```',
    '```text',
    'output',
    '```',
    '```sh',
    '# a comment',
    'aetherflow put k v \\',
    '  --region us-east',
    '',
    'aetherflow status',
    '```',
    '<!-- tour:end -->',
  ].join('\n');
  t.deepEqual(tourOf(md), { background: 'aetherflow up', commands: ['aetherflow put k v --region us-east', 'aetherflow status'] });
});

test('the README tour runs as written against a fresh deployment', async (t) => {
  t.timeout(300_000); // ~2 min on a loaded 2-core machine: `up` ~15 s, each CLI call 1–4 s, the short drill ~50 s
  const tour = tourOf(readFileSync(join(ROOT, 'README.md'), 'utf8'));
  t.true(tour.commands.length >= 8, `the tour has only ${tour.commands.length} commands`);
  const dir = mkdtempSync(join(tmpdir(), 'aetherflow-readme-'));
  const topologyFile = await copyLocalTopology(dir, 'readme');
  const bin = join(dir, 'bin');
  mkdirSync(bin);
  writeFileSync(join(bin, 'aetherflow'), `#!/bin/sh\nexec "${process.execPath}" "${CLI}" "$@"\n`);
  chmodSync(join(bin, 'aetherflow'), 0o755);
  const env = { ...process.env, PATH: `${bin}:${process.env['PATH'] ?? ''}`, AETHERFLOW_TOPOLOGY: topologyFile };
  let up: ChildProcess | undefined;
  t.teardown(() => removeDeployment(up, dir));

  // `exec`: the shell becomes `up` (the wrapper execs node), so SIGTERM reaches it.
  up = spawn('bash', ['-c', `exec ${tour.background}`], { cwd: dir, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let upOut = '';
  up.stdout!.on('data', (d: Buffer) => (upOut += d.toString('utf8')));
  up.stderr!.on('data', (d: Buffer) => (upOut += d.toString('utf8')));
  const started = Date.now();
  const ready = await new Promise<boolean>((resolve) => {
    const poll = setInterval(() => {
      if (/all \d+ processes ready/.test(upOut)) finish(true);
      else if (up!.exitCode !== null || Date.now() - started > 120_000) finish(false);
    }, 200);
    const finish = (ok: boolean) => {
      clearInterval(poll);
      resolve(ok);
    };
  });
  t.true(ready, `\`${tour.background}\` did not report every process ready:\n${upOut.slice(-2000)}`);
  if (!ready) return;
  t.log(`${tour.background}: every process ready after ${Date.now() - started} ms`);

  const tourStarted = Date.now();
  const { code, out } = await run(script(tour.commands), { cwd: dir, env, timeoutMs: 240_000 });
  const steps = [...out.matchAll(/::step (\d+)::/g)].map((m) => Number(m[1]));
  const last = steps.at(-1) ?? 0;
  t.log(`${steps.length} of ${tour.commands.length} tour commands ran in ${Date.now() - tourStarted} ms`);
  t.is(code, 0, `tour command ${last} failed (exit ${code}): ${tour.commands[last - 1]}\n${out.slice(-3000)}`);
  t.true(out.includes('::done::'));
  t.is(steps.length, tour.commands.length);

  // Ctrl-C (here SIGTERM) stops everything `up` started.
  const exited = new Promise<number | null>((resolve) => up!.once('exit', (c) => resolve(c)));
  up.kill('SIGTERM');
  t.is(await exited, 0, upOut.slice(-1000));
});
