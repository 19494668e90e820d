/**
 * Reading the processes' Prometheus text (GET /metrics) for the benchmarks: samples by
 * name and labels, sums over processes, histograms as cumulative buckets. Pure, except
 * `scrape`.
 */
import type { Bucket } from './stats.js';

export interface Sample {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

const LINE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)(?:\s+\d+)?\s*$/;
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;

function parseValue(s: string): number {
  if (s === '+Inf' || s === 'Inf') return Infinity;
  if (s === '-Inf') return -Infinity;
  return Number(s);
}

function unescape(s: string): string {
  return s.replace(/\\(["\\n])/g, (_, c: string) => (c === 'n' ? '\n' : c));
}

/** Every sample of a text exposition (comments and malformed lines skipped). */
export function parsePromText(text: string): Sample[] {
  const out: Sample[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = LINE.exec(line);
    if (!m) continue;
    const labels: Record<string, string> = {};
    if (m[2]) for (const l of m[2].matchAll(LABEL)) labels[l[1]!] = unescape(l[2]!);
    out.push({ name: m[1]!, labels, value: parseValue(m[3]!) });
  }
  return out;
}

export type LabelFilter = Readonly<Record<string, string>>;

function matches(s: Sample, name: string, filter: LabelFilter): boolean {
  if (s.name !== name) return false;
  for (const [k, v] of Object.entries(filter)) if (s.labels[k] !== v) return false;
  return true;
}

/** The sum of every sample named `name` whose labels include `filter`, over every text given. */
export function sumOf(texts: readonly (readonly Sample[])[], name: string, filter: LabelFilter = {}): number {
  let sum = 0;
  for (const samples of texts) for (const s of samples) if (matches(s, name, filter) && Number.isFinite(s.value)) sum += s.value;
  return sum;
}

/** The greatest sample named `name` in one text, or undefined when it has none. */
export function maxOf(samples: readonly Sample[], name: string, filter: LabelFilter = {}): number | undefined {
  let max: number | undefined;
  for (const s of samples) if (matches(s, name, filter) && Number.isFinite(s.value)) max = max === undefined ? s.value : Math.max(max, s.value);
  return max;
}

/**
 * The cumulative buckets of histogram `name` (its `name_bucket` samples with labels
 * including `filter`), summed over every text, ascending by bound, +Inf last.
 */
export function bucketsOf(texts: readonly (readonly Sample[])[], name: string, filter: LabelFilter = {}): Bucket[] {
  const counts = new Map<number, number>();
  for (const samples of texts) {
    for (const s of samples) {
      if (!matches(s, `${name}_bucket`, filter) || s.labels['le'] === undefined) continue;
      const le = parseValue(s.labels['le']);
      counts.set(le, (counts.get(le) ?? 0) + s.value);
    }
  }
  return [...counts].sort((a, b) => a[0] - b[0]).map(([le, count]) => ({ le, count }));
}

const SCRAPE_TIMEOUT_MS = 2000;

/** The samples at http://<address>/metrics, or undefined when it does not answer. */
export async function scrape(address: string, timeoutMs = SCRAPE_TIMEOUT_MS): Promise<Sample[] | undefined> {
  try {
    const res = await fetch(`http://${address}/metrics`, { signal: AbortSignal.timeout(timeoutMs) });
    return res.ok ? parsePromText(await res.text()) : undefined;
  } catch {
    return undefined;
  }
}
