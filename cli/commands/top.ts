import type { Command } from 'commander';
import { connectEtcd } from '../../cluster/etcd.js';
import { toAetherError } from '../../common/errors.js';
import { etcdEndpoints } from '../../topology/local-etcd.js';
import { loadTopology } from '../../topology/load.js';
import { formatClusterStatus, readClusterStatus, type ClusterStatus } from '../cluster-status.js';
import { printJson } from '../output.js';
import { globalOptions } from '../program.js';
import { parseCount } from './client-options.js';

/** Rounds in the distribution: at 50 ms rounds, the last ~10 s. */
const TOP_ROUNDS = 200;
/** Rounds listed under the table. */
const LISTED_ROUNDS = 5;
/** Bins of the histogram up to twice the budget; slower rounds share one last bin. */
const BINS_TO_TWICE_BUDGET = 10;
const BAR_WIDTH = 40;

export interface HistogramBin {
  readonly fromMs: number;
  /** null: the open last bin (≥ fromMs). */
  readonly toMs: number | null;
  readonly count: number;
}

/** Round times binned in budget/5 steps up to twice the budget, then one open bin. */
export function roundHistogram(timesMs: readonly number[], budgetMs: number): HistogramBin[] {
  const width = (2 * budgetMs) / BINS_TO_TWICE_BUDGET;
  const counts = new Array<number>(BINS_TO_TWICE_BUDGET + 1).fill(0);
  for (const t of timesMs) counts[Math.min(BINS_TO_TWICE_BUDGET, Math.floor(Math.max(0, t) / width))]!++;
  return counts.map((count, i) => ({ fromMs: i * width, toMs: i < BINS_TO_TWICE_BUDGET ? (i + 1) * width : null, count }));
}

/** Horizontal bars, one per bin of roundHistogram, with a line where the budget falls. */
export function drawHistogram(bins: readonly HistogramBin[], budgetMs: number): string {
  const most = Math.max(1, ...bins.map((b) => b.count));
  const label = (b: HistogramBin): string => (b.toMs === null ? `≥ ${fmt(b.fromMs)}` : `${fmt(b.fromMs)}–${fmt(b.toMs)}`).padStart(11) + ' ms';
  const lines: string[] = [];
  bins.forEach((b, i) => {
    const bar = '█'.repeat(Math.round((b.count / most) * BAR_WIDTH)) || (b.count > 0 ? '▏' : '');
    lines.push(`${label(b)} │${bar.padEnd(BAR_WIDTH)} ${b.count}`);
    // The budget is the upper edge of the middle bin (bins span twice the budget).
    if (i === BINS_TO_TWICE_BUDGET / 2 - 1) lines.push(`${''.padStart(14)} ┼${'─'.repeat(BAR_WIDTH)} budget ${fmt(budgetMs)} ms`);
  });
  return lines.join('\n');
}

function fmt(ms: number): string {
  return Number.isInteger(ms) ? String(ms) : ms.toFixed(1);
}

/** One frame of `top`: the status, then the distribution of the rounds read. */
export function formatTopFrame(s: ClusterStatus): string {
  const times = s.rounds.map((r) => r.beginToReadyMs);
  return [
    formatClusterStatus(s, LISTED_ROUNDS),
    '',
    `round time (begin→ready), last ${times.length} committed rounds:`,
    drawHistogram(roundHistogram(times, s.roundStats.budgetMs), s.roundStats.budgetMs),
  ].join('\n');
}

const CLEAR = '\x1b[H\x1b[2J';

/**
 * `aetherflow top`: `status` refreshed every second with the round-time distribution. On
 * a terminal each frame redraws the screen and q or Ctrl-C quits; otherwise frames are
 * printed one after another (with --json: one JSON document per line).
 */
export function registerTop(program: Command): void {
  program
    .command('top')
    .description('status refreshed every second, with the distribution of recent round times against the budget; q or Ctrl-C quits')
    .option('--once', 'print one frame and exit', false)
    .option('--interval-ms <ms>', 'time between frames', parseCount('--interval-ms'), 1000)
    .action(async (o: { once: boolean; intervalMs: number }, cmd: Command) => {
      const opts = globalOptions(cmd);
      const topology = loadTopology(opts.topology);
      const client = connectEtcd(etcdEndpoints(topology));
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
            const status = await readClusterStatus(client, topology, TOP_ROUNDS);
            if (opts.json) {
              printJson({ ...status, rounds: status.rounds.slice(0, LISTED_ROUNDS), histogram: roundHistogram(status.rounds.map((r) => r.beginToReadyMs), topology.snapshot.budgetMs) });
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
