import test from 'ava';
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Level } from 'level';
import { CHANGE_TAG, VERSION_TAG, decodeChangeKey, decodeVersionKey } from '../../datanode/keys.js';
import { allChanges } from './conformance.js';
import { LevelStore } from '../../datanode/level-store.js';
import { compareGlt, formatGlt, type Glt } from '../../glts/glt.js';

const WRITER = fileURLToPath(new URL('./crash-writer.ts', import.meta.url));
const ACKS_BEFORE_KILL = 2000;
const KILL_AFTER_MS = 20_000;

test('after SIGKILL mid-writes, every acknowledged write is there, versions and change entries match, and no stamp falls at or below a returned closed mark', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'aetherflow-crash-'));
  try {
    const child = spawn(process.execPath, ['--import', 'tsx', WRITER, dir], { stdio: ['ignore', 'pipe', 'inherit'] });
    const acks = new Map<number, Glt>();
    let lastMark: Glt | undefined;
    let buffered = '';
    const exited = new Promise<NodeJS.Signals | null>((resolve) => child.on('exit', (_code, signal) => resolve(signal)));
    const timer = setTimeout(() => child.kill('SIGKILL'), KILL_AFTER_MS);
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (chunk: string) => {
      buffered += chunk;
      const lines = buffered.split('\n');
      buffered = lines.pop()!;
      for (const line of lines) {
        const parts = line.split(' ');
        if (parts[0] === 'mark') lastMark = { wall: BigInt(parts[1]!), logical: Number(parts[2]) };
        else acks.set(Number(parts[1]), { wall: BigInt(parts[2]!), logical: Number(parts[3]) });
      }
      if (acks.size >= ACKS_BEFORE_KILL) child.kill('SIGKILL');
    });
    t.is(await exited, 'SIGKILL', 'the writer was killed mid-run');
    clearTimeout(timer);
    t.true(acks.size >= 1, `the writer acknowledged ${acks.size} writes before the kill`);

    const store = await LevelStore.open({ path: dir, origin: 'crash-node', clock: { maxOffsetMs: 250 } });
    try {
      const changes = await allChanges(store, 'crash-node');
      const byTs = new Map(changes.map((v) => [formatGlt(v.ts), v]));
      let missing = 0;
      for (const [i, ts] of acks) {
        const v = byTs.get(formatGlt(ts));
        const want = i % 7 === 6 ? null : `value-${i}`;
        if (!v || v.key.toString() !== `key-${i % 500}` || (v.value === null ? null : v.value.toString()) !== want) missing++;
        else {
          const read = await store.get(v.key, ts);
          if ((read ? read.value.toString() : null) !== want) missing++;
        }
      }
      t.is(missing, 0, 'acknowledged writes missing after the crash');
      t.truthy(lastMark, 'the writer returned closed marks');
      const after = await store.put(Buffer.from('after'), Buffer.from('x'));
      t.true(compareGlt(after.ts, lastMark!) > 0, 'a stamp after the restart is above every returned mark');
    } finally {
      await store.shutdown();
    }

    // Raw check of the layout: every version has its change entry, every change entry its version.
    const db = new Level<Buffer, Buffer>(dir, { keyEncoding: 'buffer', valueEncoding: 'buffer' });
    try {
      const ids = async (tag: number, decode: (k: Buffer) => { key: Buffer; ts: { wall: bigint; logical: number }; origin: string }) => {
        const out = new Map<string, string>();
        for await (const [k, v] of db.iterator({ gte: Buffer.of(tag), lt: Buffer.of(tag + 1) })) {
          const d = decode(k);
          out.set(`${d.key.toString('hex')}@${formatGlt(d.ts)}/${d.origin}`, v.toString('hex'));
        }
        return out;
      };
      const versions = await ids(VERSION_TAG, decodeVersionKey);
      const changeEntries = await ids(CHANGE_TAG, decodeChangeKey);
      t.true(versions.size >= acks.size);
      t.deepEqual([...versions.entries()].sort(), [...changeEntries.entries()].sort());
    } finally {
      await db.close();
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
