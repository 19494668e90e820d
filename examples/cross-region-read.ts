/**
 * Writes a few keys in one region, then reads them in two other regions at one and the
 * same GLT, and shows both regions return identical rows: what a committed snapshot means.
 *
 *   node --import tsx examples/cross-region-read.ts --topology topology/local.yaml
 */
import { randomBytes } from 'node:crypto';
import { AetherError, formatGlt, type ScanRow } from '../index.js';
import { runExample } from './example-runner.js';

const KEYS = 3;
/** How long the second region may take to reach the snapshot the first one served. */
const SECOND_REGION_WAIT_MS = 5_000;

function rowText(r: ScanRow): string {
  return `${r.key.toString()} = ${r.value.toString()} (version ${formatGlt(r.version)} from ${r.origin})`;
}

runExample(
  {
    name: 'cross-region-read',
    summary: 'write keys in one region, read the same snapshot (same GLT) in two others, and show they are identical',
    options: {
      'write-region': { description: 'the region to write in (default: the topology\'s first)' },
      'read-regions': { description: 'two regions to read in, comma-separated (default: the next two)' },
    },
  },
  async ({ client, options, say }) => {
    const regions = client.topology.regions.map((r) => r.name);
    const writeRegion = options['write-region'] ?? regions[0]!;
    const readRegions = options['read-regions']?.split(',').map((r) => r.trim()) ?? regions.filter((r) => r !== writeRegion).slice(0, 2);
    if (readRegions.length !== 2) {
      throw new AetherError('USAGE', `needs two regions to read in besides ${writeRegion} (topology regions: ${regions.join(', ')}; --read-regions names them)`);
    }
    const [first, second] = readRegions as [string, string];

    const run = randomBytes(4).toString('hex');
    const prefix = `examples/cross-region/${run}/`;
    say(`writing ${KEYS} keys under ${prefix} in ${writeRegion}`);
    const writes = await Promise.all(Array.from({ length: KEYS }, (_, i) => client.put(`${prefix}k${i}`, `value-${i}-${run}`, { region: writeRegion })));
    for (const w of writes) say(`  wrote ${w.key.toString()} at ${formatGlt(w.ts)} (origin ${w.origin})`);
    say(`session GLT ${formatGlt(client.sessionGlt!)}: reads at "latest" are made at or above it (read-your-writes)`);

    // The first region serves its frontier once it covers the writes: a committed GLT.
    const startedMs = performance.now();
    const a = await client.scan({ region: first, prefix });
    const waitedMs = performance.now() - startedMs;
    const rowsA: ScanRow[] = [];
    for await (const row of a.rows) rowsA.push(row);
    say(`${first}: read ${rowsA.length} rows at GLT ${formatGlt(a.glt)}`);
    say(`  (${Math.round(waitedMs)} ms until a snapshot covering the writes reached ${first}: the cost of read-your-writes)`);
    for (const r of rowsA) say(`  ${rowText(r)}`);

    // The second region reads at exactly that GLT (waiting for its frontier to get there).
    const b = await client.scan({ region: second, prefix, glt: a.glt, waitMs: SECOND_REGION_WAIT_MS });
    const rowsB: ScanRow[] = [];
    for await (const row of b.rows) rowsB.push(row);
    say(`${second}: read ${rowsB.length} rows at GLT ${formatGlt(b.glt)}`);
    for (const r of rowsB) say(`  ${rowText(r)}`);

    const missing = writes.filter((w) => !rowsA.some((r) => r.key.equals(w.key)));
    if (missing.length > 0) throw new AetherError('INTERNAL', `${first} at ${formatGlt(a.glt)} misses this client's own writes: ${missing.map((w) => w.key.toString()).join(', ')}`);
    const differ = rowsA.length !== rowsB.length || rowsA.some((r, i) => rowText(r) !== rowText(rowsB[i]!));
    if (differ) throw new AetherError('INTERNAL', `${first} and ${second} read different rows at GLT ${formatGlt(a.glt)}`);
    say(`identical: ${first} and ${second} read the same ${rowsA.length} rows at GLT ${formatGlt(a.glt)}`);
  },
);
