/**
 * `aetherflow bench all` (what `make bench` runs): every registered benchmark — each
 * subcommand of `bench` in the order of bench/index.ts (store, quantum, snapshot on
 * topology/local.yaml then on topology/wan.yaml, compare-etcd), then every drill of
 * `chaos drill` (the names `chaos drill --list` prints, or its argument's choices) — run
 * in turn as a child with `--json`, each bounded in time and stopped by its PID; then
 * docs/BENCHMARKS.md's generated table is rewritten (report.ts) with each figure's
 * command, date and machine, and the plots drawn (plot.ts, when the plotting packages
 * load). A benchmark that fails (e.g. quantum without root) becomes a row, not a crash.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import type { Command } from 'commander';
import { AetherError, toAetherError } from '../common/errors.js';
import { printJson, printTable } from '../common/output.js';
import { cliCommand } from '../topology/launcher.js';
import { AetherFlowDeployment } from './compare-etcd-aetherflow.js';
import type { Figure } from '../common/figure.js';
import { PlotUnavailable, lossLatencyPoints, plotLossLatency, plotRates, ratePoints } from './plot.js';
import { describeMachine, renderBlock, rewriteReport, type BenchRun, type Plot } from './report.js';

interface Options {
  readonly json?: boolean;
  readonly fast?: boolean;
  readonly only?: string;
  readonly skip?: string;
  readonly out: string;
  readonly timeoutMin: string;
}

/** Shorter runs for --fast (proves the report renders; figures are rougher). */
const FAST_ARGS: Readonly<Record<string, readonly string[]>> = {
  store: ['--puts', '20000', '--big-keys', '20000'],
  quantum: ['--loss', '0,2', '--seconds', '1', '--mib', '4', '--bulk-timeout', '20'],
  'compare-etcd': ['--duration', '5', '--rate', '20'],
  snapshot: ['--rates', '0,1000', '--duration', '4', '--idle', '3', '--settle', '0'],
  security: ['--rates', '1000', '--duration', '4', '--settle', '0'],
};

const FAST_DRILL_ARGS = ['--duration', '5', '--rate', '500', '--settle', '2'];
/** Options only some drills take, for --fast. */
const FAST_DRILL_EXTRA: Readonly<Record<string, readonly string[]>> = { 'catch-up': ['--size', '20', '--duration', '30'] };
const WAN_TOPOLOGY = 'topology/wan.yaml';
/** The deployment the drills run against (as an operator runs them against `make demo`'s). */
const DRILL_TOPOLOGY = 'topology/local.yaml';
const DRILL_READY_TIMEOUT_MS = 120_000;
const DRILL_CALL_TIMEOUT_MS = 10_000;

const MAX_STDOUT_BYTES = 16 * 1024 * 1024;
const STDERR_TAIL_BYTES = 2048;
const KILL_GRACE_MS = 10_000;

/** Set by a forwarded SIGINT/SIGTERM: no further benchmark starts, and the report is not rewritten. */
let stopRequested = false;

interface Job {
  readonly name: string;
  readonly args: readonly string[];
  /** Drills run against a deployment: `bench all` starts one for them. */
  readonly needsDeployment?: boolean;
}

/** Where a job runs: the deployment's topology and working directory, for drills. */
interface JobPlace {
  readonly cwd?: string;
  readonly extraArgs: readonly string[];
}

/** Runs `aetherflow <args> --json` as a child; resolves with its figures or an error text. */
function runJob(job: Job, timeoutMs: number, place: JobPlace = { extraArgs: [] }): Promise<BenchRun> {
  const { command, args } = cliCommand();
  const date = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
  const shown = `node dist/cli/main.js ${job.args.join(' ')} --json`;
  const started = performance.now();
  return new Promise((resolveRun) => {
    const child = spawn(command, [...args, ...job.args, ...place.extraArgs, '--json'], { stdio: ['ignore', 'pipe', 'pipe'], ...(place.cwd ? { cwd: place.cwd } : {}) });
    // SIGTERM to `bench all` passes on to the running benchmark, which cleans up after itself.
    const forward = (signal: NodeJS.Signals) => {
      child.kill(signal);
      process.exitCode = signal === 'SIGINT' ? 130 : 143;
      stopRequested = true;
    };
    process.on('SIGINT', forward);
    process.on('SIGTERM', forward);
    const out: Buffer[] = [];
    let outBytes = 0;
    let errTail = '';
    let timedOut = false;
    child.stdout.on('data', (c: Buffer) => {
      if (outBytes + c.length <= MAX_STDOUT_BYTES) out.push(c);
      outBytes += c.length;
    });
    child.stderr.on('data', (c: Buffer) => {
      errTail = (errTail + c.toString('utf8')).slice(-STDERR_TAIL_BYTES);
    });
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGTERM');
      setTimeout(() => child.kill('SIGKILL'), KILL_GRACE_MS).unref();
    }, timeoutMs);
    const finish = (code: number | null, signal: NodeJS.Signals | null) => {
      clearTimeout(timer);
      process.off('SIGINT', forward);
      process.off('SIGTERM', forward);
      const durationS = (performance.now() - started) / 1000;
      const failed = (error: string): BenchRun => ({ name: job.name, command: shown, date, durationS, status: 'failed', error });
      if (timedOut) return resolveRun(failed(`timed out after ${Math.round(timeoutMs / 1000)} s`));
      const text = Buffer.concat(out).toString('utf8');
      try {
        const doc = JSON.parse(text.trim().split('\n').pop() ?? '') as { figures?: Figure[] } & Record<string, unknown>;
        const figures = doc.figures ?? figuresOfReport(doc);
        if (code === 0 || figures.length > 0) return resolveRun({ name: job.name, command: shown, date, durationS, status: 'ok', figures: figures.map(normalize) });
      } catch {
        // not JSON: the error is on stderr
      }
      resolveRun(failed(errorOf(errTail) ?? `exited with ${code ?? signal}`));
    };
    child.once('exit', finish);
    child.once('error', (err) => {
      clearTimeout(timer);
      resolveRun({ name: job.name, command: shown, date, durationS: 0, status: 'failed', error: err.message });
    });
  });
}

/** JSON turns NaN into null: back to NaN, so the report shows it as not measured. */
function normalize(f: Figure): Figure {
  return { ...f, measured: typeof f.measured === 'number' ? f.measured : Number.NaN };
}

/** The CLI's error line (`{"error":{"code","message"}}`) from a child's stderr. */
function errorOf(stderr: string): string | undefined {
  for (const line of stderr.trim().split('\n').reverse()) {
    try {
      const e = (JSON.parse(line) as { error?: { code: string; message: string } }).error;
      if (e) return `${e.code}: ${e.message}`;
    } catch {
      // a progress line
    }
  }
  const last = stderr.trim().split('\n').pop();
  return last ? last.slice(0, 300) : undefined;
}

/** A drill report without a figures array: its numeric fields as figures; writes lost must be 0. */
function figuresOfReport(doc: Record<string, unknown>, prefix = ''): Figure[] {
  const out: Figure[] = [];
  for (const [k, v] of Object.entries(doc)) {
    const name = prefix ? `${prefix}.${k}` : k;
    if (typeof v === 'number') {
      const lost = /lost/i.test(k);
      out.push({ name, measured: v, unit: '', goal: lost ? '= 0' : null, met: lost ? v === 0 : null });
    } else if (typeof v === 'boolean') {
      out.push({ name, measured: v ? 1 : 0, unit: 'true=1', goal: /held|ok|pass/i.test(k) ? 'true' : null, met: /held|ok|pass/i.test(k) ? v : null });
    } else if (v && typeof v === 'object' && !Array.isArray(v) && out.length < 40) {
      out.push(...figuresOfReport(v as Record<string, unknown>, name));
    }
  }
  return out.slice(0, 40);
}

/** `--opt value` pairs of `base` with those of `over` put in their place (over wins), in order. */
export function mergeOptions(base: readonly string[], over: readonly string[]): string[] {
  const overridden = new Set(over.filter((a) => a.startsWith('--')));
  const out: string[] = [];
  for (let i = 0; i < base.length; i += 2) if (!overridden.has(base[i]!)) out.push(base[i]!, base[i + 1]!);
  return [...out, ...over];
}

/**
 * The drills `chaos drill` offers: what `chaos drill --list` prints when it has that
 * option (one name per line, or --json: an array of names or of {name}), else its
 * argument's choices.
 */
function drillsOf(drill: Command): string[] {
  if (drill.options.some((o) => o.long === '--list')) {
    const { command, args } = cliCommand();
    const r = spawnSync(command, [...args, 'chaos', 'drill', '--list', '--json'], { encoding: 'utf8', timeout: 60_000 });
    if (r.status === 0) {
      const names = parseDrillList(r.stdout);
      if (names.length > 0) return names;
    }
  }
  return [...(drill.registeredArguments[0]?.argChoices ?? [])];
}

/** Drill names from `chaos drill --list`'s output: JSON (an array of names or {name}, or {drills: […]}), or a table with one name first on each line under a header. */
export function parseDrillList(text: string): string[] {
  const trimmed = text.trim();
  try {
    const doc = JSON.parse(trimmed) as unknown;
    const list = Array.isArray(doc) ? doc : ((doc as { drills?: unknown[] }).drills ?? []);
    return list.map((d) => (typeof d === 'string' ? d : (d as { name?: string }).name)).filter((n): n is string => typeof n === 'string' && /^[\w-]+$/.test(n));
  } catch {
    const header = new Set(['drill', 'drills', 'name']);
    return trimmed.split('\n').map((l) => l.trim().split(/\s+/)[0] ?? '').filter((n) => /^[a-z][\w-]*$/.test(n) && !header.has(n));
  }
}

/** Every benchmark to run: `bench` subcommands but this one, then each `chaos drill` scenario when that command exists. */
function jobsOf(cmd: Command, o: Options): { jobs: Job[]; skipped: BenchRun[] } {
  const bench = cmd.parent!;
  const program = bench.parent!;
  const only = o.only ? new Set(o.only.split(',').map((s) => s.trim())) : undefined;
  const skip = new Set((o.skip ?? '').split(',').map((s) => s.trim()).filter(Boolean));
  const jobs: Job[] = [];
  const skipped: BenchRun[] = [];
  const date = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
  const consider = (name: string, args: string[], needsDeployment = false) => {
    if ((only && !only.has(name)) || skip.has(name)) skipped.push({ name, command: `node dist/cli/main.js ${args.join(' ')} --json`, date, status: 'skipped', reason: only ? 'not in --only' : 'in --skip' });
    else jobs.push({ name, args, needsDeployment });
  };
  for (const sub of bench.commands) {
    const name = sub.name();
    if (name === 'all') continue;
    consider(name, ['bench', name, ...(o.fast ? (FAST_ARGS[name] ?? []) : [])]);
    // Its wan.yaml goal (visibility ≤ the topology's floor + 50 ms) needs the WAN topology.
    if (name === 'snapshot') consider('snapshot wan', ['bench', 'snapshot', '--topology', WAN_TOPOLOGY, ...(o.fast ? (FAST_ARGS['snapshot'] ?? []) : [])]);
  }
  if (!bench.commands.some((c) => c.name() === 'snapshot')) {
    skipped.push({ name: 'snapshot', command: 'node dist/cli/main.js bench snapshot --json', date, status: 'skipped', reason: 'no `bench snapshot` command is registered yet' });
  }
  const drill = program.commands.find((c) => c.name() === 'chaos')?.commands.find((c) => c.name() === 'drill');
  const drillNames = drill ? drillsOf(drill) : [];
  if (!drill) skipped.push({ name: 'chaos drill', command: 'node dist/cli/main.js chaos drill NAME --json', date, status: 'skipped', reason: 'no `chaos drill` command is registered yet' });
  else if (drillNames.length === 0) skipped.push({ name: 'chaos drill', command: 'node dist/cli/main.js chaos drill NAME --json', date, status: 'skipped', reason: '`chaos drill` names no scenarios (argument choices)' });
  for (const d of drillNames) consider(`drill ${d}`, ['chaos', 'drill', d, ...(o.fast ? mergeOptions(FAST_DRILL_ARGS, FAST_DRILL_EXTRA[d] ?? []) : [])], true);
  return { jobs, skipped };
}

async function drawPlots(runs: readonly BenchRun[], docsDir: string, log: (s: string) => void): Promise<{ plots: Plot[]; notes: string[] }> {
  const plotsDir = join(docsDir, 'plots');
  // v1's round-time plot: no longer drawn, and only the generated block (now rewritten) showed it.
  rmSync(join(plotsDir, 'round-time.png'), { force: true });
  const plots: Plot[] = [];
  const notes: string[] = [];
  const figuresOf = (name: string) => runs.flatMap((r) => (r.status === 'ok' && r.name === name ? r.figures : []));
  const draw = async (title: string, file: string, render: (file: string) => Promise<void>) => {
    mkdirSync(plotsDir, { recursive: true });
    const path = join(plotsDir, file);
    try {
      await render(path);
      plots.push({ title, path: relative(docsDir, path) });
    } catch (err) {
      notes.push(`${title}: plot not drawn: ${err instanceof PlotUnavailable ? err.message : `${(err as Error).message ?? String(err)}`}`);
    }
  };
  // Both topologies, one line per figure: local's and wan's side by side.
  const rates = ratePoints([...figuresOf('snapshot'), ...figuresOf('snapshot wan')]);
  if (rates.length > 0) await draw('Commit time and cross-region visibility by offered rate', 'snapshot-rates.png', (f) => plotRates(rates, f));
  else notes.push('snapshot plot not drawn: no commit-time or visibility figures from `bench snapshot` in this run');
  const loss = lossLatencyPoints(figuresOf('quantum'));
  if (loss.length > 0) await draw('Quantum vs TCP latency by loss rate', 'quantum-vs-tcp-latency.png', (f) => plotLossLatency(loss, f));
  else notes.push('Quantum vs TCP plot not drawn: no latency figures from `bench quantum` in this run');
  for (const n of notes) log(n);
  return { plots, notes };
}

/** Starts a deployment of DRILL_TOPOLOGY in a temp dir, runs every drill against it, stops it; a failed start fails each drill's row. */
async function runDrills(drills: readonly Job[], runOne: (job: Job, place: JobPlace) => Promise<void>, runs: BenchRun[], log: (s: string) => void): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'aetherflow-bench-drills-'));
  let deployment: AetherFlowDeployment | undefined;
  const onSignal = () => {
    deployment?.killNow();
    rmSync(dir, { recursive: true, force: true });
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    log(`bench all: starting ${DRILL_TOPOLOGY} (3-member etcd) for the drills…`);
    try {
      // A 3-member etcd, so etcd-leader-kill has a leader to kill and a quorum left.
      deployment = await AetherFlowDeployment.start(DRILL_TOPOLOGY, join(dir, 'deployment'), DRILL_READY_TIMEOUT_MS, DRILL_CALL_TIMEOUT_MS, log, 3);
    } catch (err) {
      const e = toAetherError(err);
      const date = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
      for (const j of drills) runs.push({ name: j.name, command: `node dist/cli/main.js ${j.args.join(' ')} --json`, date, durationS: 0, status: 'failed', error: `the deployment for the drills did not start: ${e.code}: ${e.message}` });
      return;
    }
    for (const job of drills) await runOne(job, { cwd: deployment.dir, extraArgs: ['--topology', deployment.topologyFile] });
  } finally {
    await deployment?.stop();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    rmSync(dir, { recursive: true, force: true });
  }
}

export async function runAll(cmd: Command, o: Options): Promise<BenchRun[]> {
  const timeoutMs = Number(o.timeoutMin) * 60_000;
  if (!(timeoutMs > 0)) throw new AetherError('USAGE', `--timeout-min must be a positive number, got ${o.timeoutMin}`);
  const log = (s: string) => void process.stderr.write(`${s}\n`);
  const { jobs, skipped } = jobsOf(cmd, o);
  const runs: BenchRun[] = [];
  const runOne = async (job: Job, place?: JobPlace) => {
    if (stopRequested) throw new AetherError('PROCESS', 'bench all interrupted; docs/BENCHMARKS.md left as it was');
    log(`bench all: ${job.name} (${job.args.join(' ')} --json)…`);
    const run = await runJob(job, timeoutMs, place);
    log(run.status === 'ok' ? `  ${run.figures.length} figures in ${run.durationS.toFixed(0)} s` : run.status === 'failed' ? `  failed: ${run.error}` : '');
    runs.push(run);
  };
  for (const job of jobs.filter((j) => !j.needsDeployment)) await runOne(job);
  const drills = jobs.filter((j) => j.needsDeployment);
  if (drills.length > 0) await runDrills(drills, runOne, runs, log);
  if (stopRequested) throw new AetherError('PROCESS', 'bench all interrupted; docs/BENCHMARKS.md left as it was');
  runs.push(...skipped);
  const out = resolve(o.out);
  const docsDir = dirname(out);
  const { plots, notes } = await drawPlots(runs, docsDir, log);
  const existing = existsSync(out) ? readFileSync(out, 'utf8') : '';
  writeFileSync(out, rewriteReport(existing, renderBlock(runs, describeMachine(), plots, notes)));
  log(`bench all: wrote ${relative(process.cwd(), out)} and ${plots.length} plot(s)`);
  const allFigures = runs.flatMap((r) => (r.status === 'ok' ? r.figures.map((f) => ({ ...f, name: `${r.name}: ${f.name}` })) : []));
  if (o.json) printJson({ figures: allFigures, runs: runs.map((r) => ({ name: r.name, status: r.status, ...(r.status === 'failed' ? { error: r.error } : {}), ...(r.status === 'skipped' ? { reason: r.reason } : {}) })) });
  else printTable(['benchmark', 'status', 'figures', 'goals met'], runs.map((r) => [r.name, r.status, r.status === 'ok' ? r.figures.length : '', r.status === 'ok' ? `${r.figures.filter((f) => f.met === true).length}/${r.figures.filter((f) => f.met !== null).length}` : (r.status === 'failed' ? r.error : r.reason).slice(0, 100)]));
  return runs;
}

export function registerAllBench(bench: Command): void {
  bench
    .command('all')
    .description('run every benchmark with --json (and the chaos drills when present), then rewrite docs/BENCHMARKS.md\'s table and plots')
    .option('--fast', 'shorter runs of each benchmark (rougher figures; proves the report end to end)', false)
    .option('--only <names>', 'comma-separated benchmarks to run (others are listed as skipped)')
    .option('--skip <names>', 'comma-separated benchmarks not to run')
    .option('--out <file>', 'the report to rewrite', 'docs/BENCHMARKS.md')
    .option('--timeout-min <m>', 'stop a benchmark that runs longer than this and record it as failed', '25')
    .action(async (_options: unknown, cmd: Command) => {
      await runAll(cmd, cmd.optsWithGlobals() as Options);
    });
}
