/**
 * The last-writer-wins model of the snapshot invariants (the invariants in README.md): from the acknowledged writes alone, what every snapshot
 * must hold. At GLT T, each key's value is its greatest version (ts, origin) ≤ T; a
 * delete (tombstone) hides the key. A checker compares a region's scan at T with the
 * model and with another region's scan at T (invariant S), naming every difference.
 */
import { assert } from '../common/errors.js';
import { compareGlt, compareVersionOrder, formatGlt, type Glt } from '../glts/glt.js';

/** One version as the model sees it; `value === null` is a delete. */
export interface ModelVersion {
  readonly key: string;
  readonly value: string | null;
  readonly ts: Glt;
  readonly origin: string;
}

/** A key's visible version at some T (never a tombstone). */
export interface ModelEntry {
  readonly value: string;
  readonly ts: Glt;
  readonly origin: string;
}

/** A row of a scan, as the client returns it (keys and values as bytes). */
export interface ScannedRow {
  readonly key: Buffer | string;
  readonly value: Buffer | string;
  readonly version: Glt;
  readonly origin: string;
}

/** One key on which two states disagree; null means "absent". */
export interface Difference {
  readonly key: string;
  readonly expected: ModelEntry | null;
  readonly got: ModelEntry | null;
}

const text = (b: Buffer | string): string => (typeof b === 'string' ? b : b.toString('utf8'));

function sameVersion(a: ModelVersion, b: { readonly key: string; readonly ts: Glt; readonly origin: string }): boolean {
  return a.key === b.key && a.origin === b.origin && compareGlt(a.ts, b.ts) === 0;
}

export class LwwModel {
  /** Per key, its versions in ascending LWW order. Invariant: no two with the same (ts, origin). */
  private readonly byKey = new Map<string, ModelVersion[]>();

  constructor(versions: Iterable<ModelVersion> = []) {
    for (const v of versions) this.add(v);
  }

  /** Adds a version (an acknowledged write). Adding the same version twice is a no-op. */
  add(v: ModelVersion): void {
    const vs = this.byKey.get(v.key) ?? [];
    if (!this.byKey.has(v.key)) this.byKey.set(v.key, vs);
    let i = vs.length;
    while (i > 0 && compareVersionOrder(vs[i - 1]!.ts, vs[i - 1]!.origin, v.ts, v.origin) > 0) i--;
    const prev = vs[i - 1];
    if (prev && compareVersionOrder(prev.ts, prev.origin, v.ts, v.origin) === 0) {
      assert(prev.value === v.value, () => `two versions of ${v.key} at ${formatGlt(v.ts)}/${v.origin} with different values`);
      return;
    }
    vs.splice(i, 0, { key: v.key, value: v.value, ts: v.ts, origin: v.origin });
  }

  /**
   * A write re-stamped by a rejoining region (rule D): its original version
   * never appears in any snapshot; the re-stamped one takes its place.
   */
  restamp(original: { readonly key: string; readonly ts: Glt; readonly origin: string }, to: { readonly ts: Glt; readonly origin: string }): void {
    const vs = this.byKey.get(original.key);
    const i = vs?.findIndex((v) => sameVersion(v, original)) ?? -1;
    assert(vs !== undefined && i >= 0, () => `re-stamp of unknown version ${original.key}@${formatGlt(original.ts)}/${original.origin}`);
    const [v] = vs.splice(i, 1);
    this.add({ key: v!.key, value: v!.value, ts: to.ts, origin: to.origin });
  }

  /** The key's greatest version ≤ T, a delete included. */
  newest(key: string, T: Glt): ModelVersion | null {
    const vs = this.byKey.get(key) ?? [];
    for (let i = vs.length - 1; i >= 0; i--) if (compareGlt(vs[i]!.ts, T) <= 0) return vs[i]!;
    return null;
  }

  /** The key's visible version at T: its greatest version ≤ T, unless that is a delete. */
  get(key: string, T: Glt): ModelEntry | null {
    const v = this.newest(key, T);
    return v === null || v.value === null ? null : { value: v.value, ts: v.ts, origin: v.origin };
  }

  /** Every visible key at T, in key byte order (the order a scan returns). */
  stateAt(T: Glt): Map<string, ModelEntry> {
    const out = new Map<string, ModelEntry>();
    for (const key of this.keys()) {
      const e = this.get(key, T);
      if (e) out.set(key, e);
    }
    return out;
  }

  /** Every key ever written, in byte order. */
  keys(): string[] {
    return [...this.byKey.keys()].sort((a, b) => Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8')));
  }

  get versionCount(): number {
    let n = 0;
    for (const vs of this.byKey.values()) n += vs.length;
    return n;
  }
}

/** A scan's rows as a state (key → visible version). */
export function scanState(rows: Iterable<ScannedRow>): Map<string, ModelEntry> {
  const out = new Map<string, ModelEntry>();
  for (const r of rows) out.set(text(r.key), { value: text(r.value), ts: r.version, origin: r.origin });
  return out;
}

function sameEntry(a: ModelEntry | null, b: ModelEntry | null): boolean {
  if (a === null || b === null) return a === b;
  return a.value === b.value && a.origin === b.origin && compareGlt(a.ts, b.ts) === 0;
}

/** Every key on which `got` differs from `expected` (value, version or presence), in key order. */
export function diffStates(expected: ReadonlyMap<string, ModelEntry>, got: ReadonlyMap<string, ModelEntry>): Difference[] {
  const keys = [...new Set([...expected.keys(), ...got.keys()])].sort((a, b) => Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8')));
  const out: Difference[] = [];
  for (const key of keys) {
    const e = expected.get(key) ?? null;
    const g = got.get(key) ?? null;
    if (!sameEntry(e, g)) out.push({ key, expected: e, got: g });
  }
  return out;
}

/** A region's scan at T against the model at T. */
export function checkAgainstModel(model: LwwModel, T: Glt, rows: Iterable<ScannedRow>): Difference[] {
  return diffStates(model.stateAt(T), scanState(rows));
}

/** Invariant S between two regions: `b`'s scan at T against `a`'s scan at T (a is "expected"). */
export function checkSameSnapshot(a: Iterable<ScannedRow>, b: Iterable<ScannedRow>): Difference[] {
  return diffStates(scanState(a), scanState(b));
}

/** One difference in one line, for test failures and reports. */
export function formatDifference(d: Difference): string {
  const show = (e: ModelEntry | null) => (e === null ? '(absent)' : `${JSON.stringify(e.value)}@${formatGlt(e.ts)}/${e.origin}`);
  return `${d.key}: expected ${show(d.expected)}, got ${show(d.got)}`;
}
