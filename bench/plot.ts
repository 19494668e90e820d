/**
 * PNG plots for docs/BENCHMARKS.md: a Vega-Lite spec, compiled and rendered headless by
 * vega to SVG, rasterised by resvg (its binary ships inside the npm package: no canvas or
 * native build). Plots are drawn from benchmark figures only, so they show what was measured.
 */
import { writeFileSync } from 'node:fs';
import { Resvg } from '@resvg/resvg-js';
import * as vega from 'vega';
import { compile, type TopLevelSpec } from 'vega-lite';
import type { Figure } from './index.js';

const FONT = 'DejaVu Sans';

async function renderPng(spec: TopLevelSpec, file: string): Promise<void> {
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

/** One bar of the round-time plot. */
export interface RoundTimePoint {
  readonly series: string;
  readonly percentile: string;
  readonly ms: number;
}

/**
 * The round-time distribution from the snapshot bench: its round-time percentile figures
 * (names with "round" and a pNN, in ms), grouped by what precedes the percentile (e.g. the
 * topology) so several runs sit side by side.
 */
export function roundTimePoints(figures: readonly Figure[]): RoundTimePoint[] {
  const out: RoundTimePoint[] = [];
  for (const f of figures) {
    if (!/round/i.test(f.name) || f.unit !== 'ms' || !Number.isFinite(f.measured) || /phase|share/i.test(f.name)) continue;
    const m = /\b(p\d+(?:\.\d+)?|max|min|mean)\b/i.exec(f.name);
    if (!m) continue;
    const series = f.name.replace(m[0], '').replace(/\s+/g, ' ').trim() || 'round time';
    out.push({ series, percentile: m[1]!.toLowerCase(), ms: f.measured });
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

/** Round time percentiles as grouped bars, with the 50 ms budget as a rule. */
export async function plotRoundTimes(points: readonly RoundTimePoint[], budgetMs: number, file: string): Promise<void> {
  const order = [...new Set(points.map((p) => p.percentile))].sort((a, b) => rank(a) - rank(b));
  await renderPng(
    {
      $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
      title: 'Snapshot round time distribution (dashed: the round budget)',
      width: 520,
      height: 300,
      layer: [
        {
          data: { values: [...points] },
          mark: 'bar',
          encoding: {
            x: { field: 'percentile', type: 'ordinal', sort: order, title: 'percentile' },
            xOffset: { field: 'series', type: 'nominal' },
            y: { field: 'ms', type: 'quantitative', title: 'round time (ms)' },
            color: { field: 'series', type: 'nominal', title: 'run' },
          },
        },
        {
          data: { values: [{ budgetMs }] },
          mark: { type: 'rule', strokeDash: [6, 4], color: 'firebrick' },
          encoding: { y: { field: 'budgetMs', type: 'quantitative' } },
        },
      ],
    } as TopLevelSpec,
    file,
  );
}

function rank(p: string): number {
  if (p === 'min') return -1;
  if (p === 'mean') return 49.5;
  if (p === 'max') return 1000;
  return Number(p.slice(1));
}
