/**
 * Child process of crash.test.ts: writes to a LevelStore without end (bounded in count and
 * time) with several writes in flight, and prints `ack <i> <wall> <logical>` once each
 * write resolved, and `mark <wall> <logical>` for each closed mark it took meanwhile.
 * stdout is a pipe, written synchronously on Linux, so a line the parent read is a write
 * the store acknowledged (a mark it returned) before the SIGKILL.
 */
import { LevelStore } from '../../datanode/level-store.js';

const MAX_WRITES = 200_000;
const MAX_RUN_MS = 60_000;
const IN_FLIGHT = 16;

const store = await LevelStore.open({ path: process.argv[2]!, origin: 'crash-node', clock: { maxOffsetMs: 250 } });
const started = Date.now();
let next = 0;

async function writer(): Promise<void> {
  while (next < MAX_WRITES && Date.now() - started < MAX_RUN_MS) {
    const i = next++;
    const key = Buffer.from(`key-${i % 500}`);
    const v = i % 7 === 6 ? await store.delete(key) : await store.put(key, Buffer.from(`value-${i}`));
    process.stdout.write(`ack ${i} ${v.ts.wall} ${v.ts.logical}\n`);
  }
}

async function marker(): Promise<void> {
  while (next < MAX_WRITES && Date.now() - started < MAX_RUN_MS) {
    const c = await store.closedMark();
    process.stdout.write(`mark ${c.wall} ${c.logical}\n`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

await Promise.all([...Array.from({ length: IN_FLIGHT }, writer), marker()]);
await store.shutdown();
