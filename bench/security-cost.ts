/**
 * `aetherflow bench security`: what the secure, durable default costs. The same seeded
 * load runs on four scratch copies of one topology — secure and synced (the default),
 * secure and unsynced, insecure and synced, insecure and unsynced — one after another in
 * the same run, each at the same offered rates (bench/snapshot.ts measures them). Per
 * copy and rate: writes acknowledged/s, write p99 and cross-region visibility p99; then
 * each copy against the insecure, unsynced one as ratios. Throughput is judged at the
 * highest rate, which is meant to be above what the machine sustains, so that writes
 * acknowledged/s is the deployment's capacity rather than the offered rate.
 */
import type { Command } from 'commander';
import { printJson } from '../common/output.js';
import { printFigures } from './figure-table.js';
import { loadTopology } from '../topology/load.js';
import type { CopyOverrides } from '../topology/copy.js';
import type { Figure } from '../common/figure.js';
import { measureSweep, parseSweepOptions, type Options } from './snapshot.js';
import type { RateMeasurement } from './snapshot-figures.js';
import { percentile } from '../common/latency-histogram.js';
import { roundTo } from './stats.js';

/** A secure, synced deployment keeps at least this share of an insecure, unsynced one's writes/s (issue 14). */
export const SECURE_THROUGHPUT_RATIO_GOAL = 0.8;

interface Variant {
  readonly name: string;
  readonly overrides: Required<Pick<CopyOverrides, 'insecure' | 'sync'>>;
}

const VARIANTS: readonly Variant[] = [
  { name: 'secure, synced', overrides: { insecure: false, sync: true } },
  { name: 'secure, unsynced', overrides: { insecure: false, sync: false } },
  { name: 'insecure, synced', overrides: { insecure: true, sync: true } },
  { name: 'insecure, unsynced', overrides: { insecure: true, sync: false } },
];
const BASELINE = 'insecure, unsynced';
const DEFAULT_VARIANT = 'secure, synced';

interface Sample {
  readonly writesPerS: number;
  readonly writeP99Ms: number;
  readonly visibilityP99Ms: number;
}

function sampleOf(m: RateMeasurement): Sample {
  const v = m.visibility?.censoredMs ?? [];
  return { writesPerS: m.acknowledged / m.durationS, writeP99Ms: m.writeP99Ms, visibilityP99Ms: v.length > 0 ? percentile(v, 99) : Number.NaN };
}

/** The figures of every variant and rate, and each variant's ratios to the baseline. */
export function securityFigures(results: ReadonlyMap<string, ReadonlyMap<number, Sample>>, rates: readonly number[]): Figure[] {
  const figures: Figure[] = [];
  const add = (name: string, measured: number, unit: string, goal: string | null = null, met: boolean | null = null) =>
    figures.push({ name, measured: Number.isFinite(measured) ? roundTo(measured, 3) : Number.NaN, unit, goal, met });
  const top = Math.max(...rates);
  const base = results.get(BASELINE);
  for (const [variant, byRate] of results) {
    for (const [rate, s] of byRate) {
      const at = `${variant} @${rate.toLocaleString('en-US')}/s`;
      add(`${at} writes acknowledged/s`, s.writesPerS, 'writes/s');
      add(`${at} write latency p99`, s.writeP99Ms, 'ms');
      add(`${at} visibility in another region p99`, s.visibilityP99Ms, 'ms');
      const b = base?.get(rate);
      if (!b || variant === BASELINE) continue;
      const ratio = s.writesPerS / b.writesPerS;
      const judged = variant === DEFAULT_VARIANT && rate === top;
      add(`${at} writes acknowledged/s ÷ ${BASELINE}`, ratio, 'ratio', judged ? `≥ ${SECURE_THROUGHPUT_RATIO_GOAL}` : null, judged ? ratio >= SECURE_THROUGHPUT_RATIO_GOAL : null);
      add(`${at} write p99 ÷ ${BASELINE}`, s.writeP99Ms / b.writeP99Ms, 'ratio');
      add(`${at} visibility p99 ÷ ${BASELINE}`, s.visibilityP99Ms / b.visibilityP99Ms, 'ratio');
    }
  }
  return figures;
}

export function registerSecurityBench(bench: Command): void {
  bench
    .command('security')
    .description('what the secure, synced default costs: the same load on the topology secure and synced, secure and unsynced, insecure and synced, insecure and unsynced; writes/s, write p99 and visibility p99 of each, and ratios to insecure and unsynced')
    .option('--rates <list>', 'offered writes/s over all regions, one window each; the highest should be above what the machine sustains (throughput is judged there)', '2500,10000')
    .option('--duration <s>', 'seconds per rate', '15')
    .option('--keys <n>', 'keyspace size', '10000')
    .option('--value-bytes <n>', 'bytes per written value', '100')
    .option('--seed <n>', 'seed of the write load (the same for every variant)', '1')
    .option('--visibility-samples <n>', 'acknowledged writes per second read at once in every other region', '50')
    .option('--visibility-timeout <s>', 'longest wait of a visibility read (counted as this long when it times out)', '5')
    .option('--settle <s>', 'pause between windows, after every frontier holds the last write', '1')
    .addHelpText('after', `\nEach variant is a fresh scratch copy of the topology (its own ports, data, etcd and certificates), run one after another on this machine. Goal: secure and synced keeps ≥ ${SECURE_THROUGHPUT_RATIO_GOAL} × the writes/s of insecure and unsynced at the highest rate.`)
    .action(async (_o: unknown, cmd: Command) => {
      const o = cmd.optsWithGlobals() as Omit<Options, 'idle'> & { topology: string; json?: boolean };
      const sweep = parseSweepOptions({ ...o, idle: '1' });
      const topology = loadTopology(o.topology);
      const log = (s: string) => void (o.json || process.stderr.write(`${s}\n`));
      const results = new Map<string, Map<number, Sample>>();
      for (const v of VARIANTS) {
        log(`— ${v.name} —`);
        const input = await measureSweep(topology, sweep, v.overrides, log, o.json === true);
        results.set(v.name, new Map(input.rates.map((m) => [m.ratePerS, sampleOf(m)])));
      }
      const figures = securityFigures(results, sweep.rates);
      if (o.json) printJson({ figures });
      else printFigures(figures);
    });
}
