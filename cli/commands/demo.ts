import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Command } from 'commander';
import { decodeDelta, encodeDelta } from '../../datanode/delta.js';
import { LevelStore } from '../../datanode/level-store.js';
import { MemoryStore } from '../../datanode/memory-store.js';
import { Clock } from '../../glts/clock.js';
import { GLT_MAX, GLT_ZERO, formatGlt, type Glt } from '../../glts/glt.js';
import type { Version } from '../../datanode/version.js';
import { printJson, printTable } from '../output.js';

/**
 * `aetherflow demo`: the data node's MVCC store at work, on LevelDB in a temporary
 * directory — writes, reads at several GLTs, a delete, changes(from, T], and a delta
 * shipped to a second node. A later issue replaces it with the full deployment demo.
 */

const b = (s: string) => Buffer.from(s, 'utf8');
const show = (v: { value: Buffer | null } | undefined) => (v === undefined ? '(none)' : v.value === null ? '(deleted)' : v.value.toString('utf8'));

const BULK_WRITES = 1000;

/** Bytes of keys, values, origins and stamps: what a delta carries before encoding. */
function payloadBytes(vs: readonly Version[]): number {
  return vs.reduce((n, v) => n + v.key.length + (v.value?.length ?? 0) + Buffer.byteLength(v.origin) + 12, 0);
}

interface DemoReport {
  readonly writes: { op: string; key: string; value: string; ts: string; origin: string }[];
  readonly reads: { glt: string; [key: string]: string }[];
  readonly scan: { glt: string; keys: string[] }[];
  readonly changes: { from: string; to: string; versions: { key: string; value: string; ts: string }[] };
  readonly delta: { versions: number; rawBytes: number; encodedBytes: number; replicaAgrees: boolean };
  readonly bulkDelta: { versions: number; rawBytes: number; encodedBytes: number };
  readonly close: { closed: string; nextWrite: string };
}

async function runDemo(): Promise<DemoReport> {
  const dir = await mkdtemp(join(tmpdir(), 'aetherflow-demo-'));
  const store = await LevelStore.open({ path: dir, origin: 'us-east-d1', clock: { maxOffsetMs: 250 } });
  try {
    const writes: Version[] = [];
    writes.push(await store.put(b('user:1'), b('alice')));
    writes.push(await store.put(b('user:2'), b('bob')));
    writes.push(await store.put(b('user:1'), b('alice v2')));
    writes.push(await store.delete(b('user:2')));
    writes.push(await store.put(b('user:3'), b('carol')));
    const keys = ['user:1', 'user:2', 'user:3'];

    const reads: DemoReport['reads'] = [];
    const scan: DemoReport['scan'] = [];
    for (const w of writes) {
      const row: { glt: string; [key: string]: string } = { glt: formatGlt(w.ts) };
      for (const k of keys) row[k] = show(await store.get(b(k), w.ts));
      reads.push(row);
      scan.push({ glt: formatGlt(w.ts), keys: (await store.scan({ prefix: b('user:') }, w.ts)).map((r) => r.key.toString('utf8')) });
    }

    const from = writes[1]!.ts;
    const to = writes[3]!.ts;
    const changed = await store.changes(from, to);

    // A delta of everything, shipped to a replica (an in-memory store) and read back at every GLT.
    const all = await store.changes(GLT_ZERO, GLT_MAX);
    const delta = encodeDelta(all);
    const rawBytes = payloadBytes(all);
    const replica = new MemoryStore({ origin: 'eu-west-d1', clock: new Clock({ maxOffsetMs: 250 }) });
    await replica.applyRemote(decodeDelta(delta));
    let replicaAgrees = true;
    for (const w of writes) {
      for (const k of keys) replicaAgrees &&= show(await replica.get(b(k), w.ts)) === show(await store.get(b(k), w.ts));
    }

    // A round's worth of writes compresses: keys and values repeat their structure.
    const bulkFrom = store.clock.stamp();
    await Promise.all(Array.from({ length: BULK_WRITES }, (_, i) => store.put(b(`order:${String(i).padStart(6, '0')}`), b(JSON.stringify({ customer: `user:${i % 50}`, status: 'paid', amountCents: 1000 + i })))));
    const bulk = await store.changes(bulkFrom, GLT_MAX);
    const bulkDelta = encodeDelta(bulk);

    const T: Glt = store.clock.now().latest;
    await store.close(T);
    const next = await store.put(b('user:4'), b('dave'));

    return {
      writes: writes.map((w) => ({ op: w.value === null ? 'delete' : 'put', key: w.key.toString('utf8'), value: show(w), ts: formatGlt(w.ts), origin: w.origin })),
      reads,
      scan,
      changes: { from: formatGlt(from), to: formatGlt(to), versions: changed.map((v) => ({ key: v.key.toString('utf8'), value: show(v), ts: formatGlt(v.ts) })) },
      delta: { versions: all.length, rawBytes, encodedBytes: delta.length, replicaAgrees },
      bulkDelta: { versions: bulk.length, rawBytes: payloadBytes(bulk), encodedBytes: bulkDelta.length },
      close: { closed: formatGlt(T), nextWrite: formatGlt(next.ts) },
    };
  } finally {
    await store.shutdown();
    await rm(dir, { recursive: true, force: true });
  }
}

function printReport(r: DemoReport): void {
  const out = (s: string) => process.stdout.write(`${s}\n`);
  out('AetherFlow store demo: one data node (us-east-d1) on LevelDB, MVCC with HLC timestamps (GLT = <wall ns>.<logical>)\n');
  out('Writes, each stamped by the node clock:');
  printTable(['op', 'key', 'value', 'GLT'], r.writes.map((w) => [w.op, w.key, w.value, w.ts]));
  out('\nReads as of each write\'s GLT (the last-writer-wins version at or below it):');
  printTable(['GLT', 'user:1', 'user:2', 'user:3'], r.reads.map((x) => [x.glt, x['user:1'], x['user:2'], x['user:3']]));
  out('\nscan prefix "user:" at each GLT:');
  printTable(['GLT', 'keys'], r.scan.map((s) => [s.glt, s.keys.join(', ') || '(none)']));
  out(`\nchanges(${r.changes.from}, ${r.changes.to}] — one range scan of the change index:`);
  printTable(['key', 'value', 'GLT'], r.changes.versions.map((v) => [v.key, v.value, v.ts]));
  out(
    `\ndelta of all ${r.delta.versions} versions: ${r.delta.rawBytes} bytes of keys, values and stamps → ${r.delta.encodedBytes} bytes encoded (LZ4, crc32, 24-byte header);` +
      ` applied to a replica (eu-west-d1): ${r.delta.replicaAgrees ? 'reads at every GLT agree' : 'READS DIFFER'}`,
  );
  out(`delta of ${r.bulkDelta.versions} order writes: ${r.bulkDelta.rawBytes} bytes → ${r.bulkDelta.encodedBytes} bytes encoded (${(r.bulkDelta.encodedBytes / r.bulkDelta.rawBytes * 100).toFixed(0)}%)`);
  out(`close(${r.close.closed}): the next write is stamped ${r.close.nextWrite}, above the closed GLT`);
}

export function registerDemo(program: Command): void {
  program
    .command('demo')
    .description('demonstrate the data node store: writes, reads at several GLTs, a delete, changes(from, T], a delta shipped to a replica')
    .action(async (_options: unknown, cmd: Command) => {
      const report = await runDemo();
      if ((cmd.optsWithGlobals() as { json?: boolean }).json) printJson(report);
      else printReport(report);
    });
}
