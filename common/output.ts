/**
 * What commands and benchmarks print on stdout: JSON documents (one per line when
 * streamed) and plain text tables. In common/ because bench/ prints them too and must not
 * import cli/.
 */

/** Converts bigints to decimal strings so GLTs survive JSON. */
function replacer(_key: string, value: unknown): unknown {
  if (typeof value === 'bigint') return value.toString();
  if (Buffer.isBuffer(value)) return value.toString('utf8');
  return value;
}

export function toJson(value: unknown): string {
  return JSON.stringify(value, replacer);
}

/** One JSON document (or one JSON line of a stream) on stdout. */
export function printJson(value: unknown): void {
  process.stdout.write(toJson(value) + '\n');
}

/** A plain text table with left-aligned columns. */
export function formatTable(headers: readonly string[], rows: readonly (readonly unknown[])[]): string {
  const cells = rows.map((r) => r.map((c) => (c === undefined || c === null ? '-' : String(c))));
  const widths = headers.map((h, i) => Math.max(h.length, ...cells.map((r) => (r[i] ?? '').length)));
  const line = (r: readonly string[]) => r.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd();
  return [line(headers), ...cells.map(line)].join('\n');
}

export function printTable(headers: readonly string[], rows: readonly (readonly unknown[])[]): void {
  process.stdout.write(formatTable(headers, rows) + '\n');
}
