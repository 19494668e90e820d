import test from 'ava';
import { Batcher, type Outcome } from '../../common/batcher.js';
import { AetherError } from '../../common/errors.js';

const BOUNDS = { maxBatchItems: 4, maxBatchBytes: 100, maxBatchesInFlight: 1, maxQueuedItems: 8 } as const;

/** A batcher over numbers whose send is answered by hand, so each test controls when batches complete. */
function harness(answer: (items: readonly number[]) => Outcome<string>[] = (items) => items.map((n) => ({ value: `r${n}` }))) {
  const sent: number[][] = [];
  const release: (() => void)[] = [];
  const b = new Batcher<number, string>({
    ...BOUNDS,
    sizeOf: (n) => n,
    send: (items) => {
      sent.push([...items]);
      return new Promise((resolve) => release.push(() => resolve(answer(items))));
    },
  });
  return { b, sent, release };
}

/** A few turns of the event loop: enough for settled batches to schedule and send the next. */
async function turn(): Promise<void> {
  for (let i = 0; i < 3; i++) await new Promise((r) => setImmediate(r));
}

test('writes submitted in one turn share one batch, and each caller gets its own result', async (t) => {
  const { b, sent, release } = harness();
  const results = Promise.all([1, 2, 3].map((n) => b.submit(n)));
  await turn();
  t.deepEqual(sent, [[1, 2, 3]]);
  release.shift()!();
  t.deepEqual(await results, ['r1', 'r2', 'r3']);
});

test('while a batch is in flight the next one grows, bounded by items and bytes', async (t) => {
  const { b, sent, release } = harness();
  const first = b.submit(1);
  await turn();
  const rest = [2, 3, 4, 5, 6, 60, 50].map((n) => b.submit(n));
  await turn();
  t.is(sent.length, 1, 'nothing more is sent while maxBatchesInFlight batches are out');
  release.shift()!();
  await first;
  await turn();
  t.deepEqual(sent[1], [2, 3, 4, 5], 'at most maxBatchItems');
  release.shift()!();
  await turn();
  t.deepEqual(sent[2], [6, 60], 'at most maxBatchBytes (6 + 60 + 50 > 100)');
  release.shift()!();
  await turn();
  t.deepEqual(sent[3], [50]);
  release.shift()!();
  t.is((await Promise.all(rest)).length, 7);
});

test('an item alone larger than maxBatchBytes still goes, alone', async (t) => {
  const { b, sent, release } = harness();
  const p = b.submit(500);
  await turn();
  t.deepEqual(sent, [[500]]);
  release.shift()!();
  t.is(await p, 'r500');
});

test('a per-item error fails only that item; a failed send fails the whole batch', async (t) => {
  const { b, release } = harness((items) => items.map((n) => (n === 2 ? { error: new AetherError('KEY_TOO_LARGE', 'too big') } : { value: `r${n}` })));
  const [ok, bad] = [b.submit(1), b.submit(2)];
  await turn();
  release.shift()!();
  t.is(await ok, 'r1');
  t.is(((await t.throwsAsync(bad)) as AetherError).code, 'KEY_TOO_LARGE');

  const failing = new Batcher<number, string>({ ...BOUNDS, sizeOf: () => 1, send: () => Promise.reject(new AetherError('NOT_LEADER', 'standby')) });
  const all = await Promise.allSettled([failing.submit(1), failing.submit(2)]);
  t.deepEqual(all.map((s) => (s.status === 'rejected' ? (s.reason as AetherError).code : 'ok')), ['NOT_LEADER', 'NOT_LEADER']);
});

test('beyond maxQueuedItems a submit fails with BUFFER_FULL and nothing of it is sent', async (t) => {
  const { b, sent, release } = harness();
  const inFlight = b.submit(1);
  await turn();
  const queued = Array.from({ length: BOUNDS.maxQueuedItems }, (_, i) => b.submit(i + 10));
  const err = await t.throwsAsync(b.submit(99));
  t.is((err as AetherError).code, 'BUFFER_FULL');
  t.is(b.queued, BOUNDS.maxQueuedItems);
  while (sent.flat().length < 1 + BOUNDS.maxQueuedItems) {
    release.shift()?.();
    await turn();
  }
  release.shift()?.();
  await Promise.all([inFlight, ...queued]);
  t.false(sent.flat().includes(99));
});
