/**
 * PNG plots for docs/BENCHMARKS.md: a Vega-Lite spec, compiled and rendered headless by
 * vega to SVG, rasterised by resvg. Plots are drawn from benchmark figures only, so they
 * show what was measured.
 *
 * vega, vega-lite and resvg are devDependencies, loaded only when a plot is drawn (`bench
 * all`): every CLI process — each role process of a deployment included — loads this
 * module with the bench commands, and none of them may need the plotting packages (the
 * image, pruned of devDependencies, has none). When they are absent a plot fails with
 * PlotUnavailable (PLOT_UNAVAILABLE), which `bench all` reports as a note.
 */
import { writeFileSync } from 'node:fs';
import type { TopLevelSpec } from 'vega-lite';
import { AetherError } from '../common/errors.js';
import type { Figure } from '../common/figure.js';

const FONT = 'DejaVu Sans';

/** The plotting packages could not be loaded. */
export class PlotUnavailable extends AetherError {
  constructor(cause: unknown) {
    super('PLOT_UNAVAILABLE', `plots need the npm packages vega, vega-lite and @resvg/resvg-js (devDependencies: npm ci installs them): ${cause instanceof Error ? cause.message : String(cause)}`, { cause });
  }
}

async function loadRenderers(): Promise<{ vega: typeof import('vega'); compile: typeof import('vega-lite').compile; Resvg: typeof import('@resvg/resvg-js').Resvg }> {
  try {
    const [vega, vegaLite, resvg] = await Promise.all([import('vega'), import('vega-lite'), import('@resvg/resvg-js')]);
    return { vega, compile: vegaLite.compile, Resvg: resvg.Resvg };
  } catch (err) {
    throw new PlotUnavailable(err);
  }
}

async function renderPng(spec: TopLevelSpec, file: string): Promise<void> {
  const { vega, compile, Resvg } = await loadRenderers();
  const compiled = compile({ ...spec, config: { font: FONT, background: 'white', ...spec.config } } as TopLevelSpec).spec;
  const view = new vega.View(vega.parse(compiled), { renderer: 'none' });
  try {
    const svg = await view.toSVG(2);
    const png = new Resvg(svg, { font: { loadSystemFonts: true, defaultFontFamily: FONT }, background: 'white' }).render().asPng();
    writeFileSync(file, png);
  } finally {
    view.finalize();
  }
}

/** One point of the Quantum vs TCP plot. */
export interface LossLatencyPoint {
  readonly protocol: string;
  readonly lossPercent: number;
  readonly percentile: string;
  readonly ms: number;
}

/** Latency by loss rate from the quantum bench's figures (`<proto> loss <n>% latency p50|p99`). */
export function lossLatencyPoints(figures: readonly Figure[]): LossLatencyPoint[] {
  const out: LossLatencyPoint[] = [];
  for (const f of figures) {
    const m = /^(tcp|quantum) loss ([\d.]+)% latency (p\d+)$/i.exec(f.name);
    if (m && Number.isFinite(f.measured)) out.push({ protocol: m[1]!.toLowerCase() === 'tcp' ? 'TCP' : 'Quantum', lossPercent: Number(m[2]), percentile: m[3]!, ms: f.measured });
  }
  return out;
}

/** One point of the snapshot plot: a latency figure of one topology at one offered rate. */
export interface RatePoint {
  readonly topology: string;
  /** "commit time p99", "visibility in another region p99", … */
  readonly figure: string;
  readonly ratePerS: number;
  readonly ms: number;
}

const RATE_FIGURE = /^(\S+) @([\d,]+)\/s (commit time p\d+|visibility in another region p\d+)$/;

/** The snapshot bench's commit-time and visibility percentiles by offered rate (names `<topology> @<rate>/s <figure>`). */
export function ratePoints(figures: readonly Figure[]): RatePoint[] {
  const out: RatePoint[] = [];
  for (const f of figures) {
    const m = RATE_FIGURE.exec(f.name);
    if (m && f.unit === 'ms' && Number.isFinite(f.measured)) out.push({ topology: m[1]!, ratePerS: Number(m[2]!.replace(/,/g, '')), figure: m[3]!, ms: f.measured });
  }
  return out;
}

/** Quantum vs TCP message latency by loss rate: one line per protocol and percentile, log scale. */
export async function plotLossLatency(points: readonly LossLatencyPoint[], file: string): Promise<void> {
  await renderPng(
    {
      $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
      title: { text: 'Quantum vs TCP: 1 KiB message latency by loss rate', subtitle: 'solid: p50, dashed: p99' },
      width: 520,
      height: 300,
      data: { values: points.map((p) => ({ ...p, series: `${p.protocol} ${p.percentile}` })) },
      mark: { type: 'line', point: true },
      encoding: {
        x: { field: 'lossPercent', type: 'quantitative', title: 'random loss (%)' },
        y: { field: 'ms', type: 'quantitative', title: 'latency (ms, log scale)', scale: { type: 'log' } },
        color: { field: 'protocol', type: 'nominal', title: 'protocol' },
        strokeDash: { field: 'percentile', type: 'nominal', legend: null, sort: ['p50', 'p99'] },
        detail: { field: 'series', type: 'nominal' },
      },
    },
    file,
  );
}

/** Commit time and cross-region visibility percentiles by offered write rate, one line per topology and figure. */
export async function plotRates(points: readonly RatePoint[], file: string): Promise<void> {
  await renderPng(
    {
      $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
      title: { text: 'Snapshots under load: commit time and cross-region visibility', subtitle: 'by offered writes/s over all regions' },
      width: 520,
      height: 300,
      data: { values: points.map((p) => ({ ...p, series: `${p.topology} ${p.figure}` })) },
      mark: { type: 'line', point: true },
      encoding: {
        x: { field: 'ratePerS', type: 'quantitative', title: 'offered writes/s' },
        y: { field: 'ms', type: 'quantitative', title: 'ms' },
        color: { field: 'series', type: 'nominal', title: 'figure' },
      },
    },
    file,
  );
}
