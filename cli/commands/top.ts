import type { Command } from 'commander';
import { connectTopologyEtcd } from '../../cluster/etcd.js';
import { toAetherError } from '../../common/errors.js';
import { loadTopology } from '../../topology/load.js';
import { formatClusterStatus, readClusterStatus, type ClusterStatus } from '../cluster-status.js';
import { printJson } from '../../common/output.js';
import { globalOptions } from '../program.js';
import { parseCount } from './client-options.js';

/** Commits in the distribution: at the default 50 ms interval, the last ~10 s. */
const TOP_COMMITS = 200;
/** Commits listed under the table. */
const LISTED_COMMITS = 5;
/** Bins of the histogram up to twice the reference; larger values share one last bin. */
const BINS_TO_TWICE_REFERENCE = 10;
const BAR_WIDTH = 40;

export interface HistogramBin {
  readonly fromMs: number;
  /** null: the open last bin (≥ fromMs). */
  readonly toMs: number | null;
  readonly count: number;
}

/** Times binned in reference/5 steps up to twice the reference, then one open bin. */
export function histogram(timesMs: readonly number[], referenceMs: number): HistogramBin[] {
  const width = (2 * referenceMs) / BINS_TO_TWICE_REFERENCE;
  const counts = new Array<number>(BINS_TO_TWICE_REFERENCE + 1).fill(0);
  for (const t of timesMs) counts[Math.min(BINS_TO_TWICE_REFERENCE, Math.floor(Math.max(0, t) / width))]!++;
  return counts.map((count, i) => ({ fromMs: i * width, toMs: i < BINS_TO_TWICE_REFERENCE ? (i + 1) * width : null, count }));
}

/** Horizontal bars, one per bin of `histogram`, with a line where the reference falls. */
export function drawHistogram(bins: readonly HistogramBin[], reference: { readonly ms: number; readonly label: string }): string {
  const most = Math.max(1, ...bins.map((b) => b.count));
  const label = (b: HistogramBin): string => (b.toMs === null ? `≥ ${fmt(b.fromMs)}` : `${fmt(b.fromMs)}–${fmt(b.toMs)}`).padStart(11) + ' ms';
  const lines: string[] = [];
  bins.forEach((b, i) => {
    const bar = '█'.repeat(Math.round((b.count / most) * BAR_WIDTH)) || (b.count > 0 ? '▏' : '');
    lines.push(`${label(b)} │${bar.padEnd(BAR_WIDTH)} ${b.count}`);
    // The reference is the upper edge of the middle bin (bins span twice the reference).
    if (i === BINS_TO_TWICE_REFERENCE / 2 - 1) lines.push(`${''.padStart(14)} ┼${'─'.repeat(BAR_WIDTH)} ${reference.label} ${fmt(reference.ms)} ms`);
  });
  return lines.join('\n');
}

function fmt(ms: number): string {
  return Number.isInteger(ms) ? String(ms) : ms.toFixed(1);
}

/**
 * What a commit's lag is held against: about one interval (idle closed marks move every
 * half interval, and the coordinator decides on its interval tick) plus one commit cycle
 * (the budget). With the defaults, 100 ms: the freshness AetherFlow aims at.
 */
export function lagReferenceMs(s: ClusterStatus): number {
  return s.commitStats.intervalMs + s.commitStats.budgetMs;
}

/** One frame of `top`: the status, then the distribution of the commits' lag. */
export function formatTopFrame(s: ClusterStatus): string {
  const lags = s.commits.map((r) => r.lagMs);
  return [
    formatClusterStatus(s, LISTED_COMMITS),
    '',
    `commit lag (how far each GLT trailed the coordinator's clock), last ${lags.length} commits:`,
    drawHistogram(histogram(lags, lagReferenceMs(s)), { ms: lagReferenceMs(s), label: 'interval + budget' }),
  ].join('\n');
}

const CLEAR = '\x1b[H\x1b[2J';

/**
 * `aetherflow top`: `status` refreshed every second with the distribution of the commits'
 * lag. On a terminal each frame redraws the screen and q or Ctrl-C quits; otherwise frames
 * are printed one after another (with --json: one JSON document per line: the status
 * document, `lagReferenceMs` and the histogram's bins).
 */
export function registerTop(program: Command): void {
  program
    .command('top')
    .description("status refreshed every second, with the distribution of recent commits' lag against interval + budget; q or Ctrl-C quits")
    .option('--once', 'print one frame and exit', false)
    .option('--interval-ms <ms>', 'time between frames', parseCount('--interval-ms'), 1000)
    .action(async (o: { once: boolean; intervalMs: number }, cmd: Command) => {
      const opts = globalOptions(cmd);
      const topology = loadTopology(opts.topology);
      const client = connectTopologyEtcd(topology);
      const tty = !opts.json && !o.once && process.stdout.isTTY === true;
      let stop: () => void = () => {};
      const stopped = new Promise<void>((resolve) => (stop = resolve));
      const onSignal = (): void => stop();
      process.on('SIGINT', onSignal);
      process.on('SIGTERM', onSignal);
      const stdin = process.stdin;
      const onKey = (key: Buffer): void => {
        if (key.includes(0x71) || key.includes(0x03)) stop(); // q, Ctrl-C (raw mode)
      };
      if (tty && stdin.isTTY) {
        stdin.setRawMode(true);
        stdin.on('data', onKey);
        stdin.resume();
      }
      try {
        for (let frame = 0; ; frame++) {
          let text: string;
          try {
            const status = await readClusterStatus(client, topology, TOP_COMMITS);
            if (opts.json) {
              const referenceMs = lagReferenceMs(status);
              printJson({ ...status, commits: status.commits.slice(0, LISTED_COMMITS), lagReferenceMs: referenceMs, histogram: histogram(status.commits.map((r) => r.lagMs), referenceMs) });
              text = '';
            } else text = formatTopFrame(status);
          } catch (err) {
            if (o.once) throw err;
            const e = toAetherError(err);
            text = `error[${e.code}]: ${e.message} (retrying)`;
            if (opts.json) printJson({ error: { code: e.code, message: e.message } });
          }
          if (!opts.json) {
            if (tty) process.stdout.write(`${CLEAR}aetherflow top — ${topology.name} — ${new Date().toISOString()} — q quits\n\n${text}\n`);
            else process.stdout.write(`${frame > 0 ? '\n' : ''}--- ${new Date().toISOString()}\n${text}\n`);
          }
          if (o.once) return;
          let timer: NodeJS.Timeout | undefined;
          const next = new Promise<'next'>((resolve) => (timer = setTimeout(() => resolve('next'), o.intervalMs)));
          const why = await Promise.race([next, stopped.then(() => 'stop' as const)]);
          clearTimeout(timer);
          if (why === 'stop') return;
        }
      } finally {
        process.off('SIGINT', onSignal);
        process.off('SIGTERM', onSignal);
        if (tty && stdin.isTTY) {
          stdin.off('data', onKey);
          stdin.setRawMode(false);
          stdin.pause();
        }
        client.close();
      }
    });
}
