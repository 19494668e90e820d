import test from 'ava';
import fc from 'fast-check';
import { FecDecoder, FecEncoder, decodeFecParity, encodeFecParity, type FecParity } from '../../transport/fec.js';
import { LossEstimator } from '../../transport/loss-estimator.js';

const SHARD_MAX = 1500;

function packets(seed: number, count: number): Buffer[] {
  // Deterministic, varied lengths (1..1200) so padding and length recovery are exercised.
  const out: Buffer[] = [];
  let s = seed >>> 0;
  const next = () => (s = (Math.imul(s, 1664525) + 1013904223) >>> 0);
  for (let i = 0; i < count; i++) {
    const b = Buffer.alloc(1 + (next() % 1200));
    for (let j = 0; j < b.length; j++) b[j] = next() & 0xff;
    out.push(b);
  }
  return out;
}

function encodeGroup(k: number, m: number, firstSeq: number, data: readonly Buffer[]): FecParity[] {
  const enc = new FecEncoder({ k, flushAfterMs: 5, maxShardBytes: SHARD_MAX });
  enc.setParityCount(m);
  const parity: FecParity[] = [];
  data.forEach((p, i) => parity.push(...enc.add(0, (firstSeq + i) >>> 0, p)));
  return parity;
}

/** Delivers the group minus `lost` (indices into data then parity), parity last; returns what the decoder rebuilt. */
function deliver(k: number, firstSeq: number, data: readonly Buffer[], parity: readonly FecParity[], lost: ReadonlySet<number>): Buffer[] {
  const dec = new FecDecoder({ maxGroups: 8, maxShardBytes: SHARD_MAX });
  data.forEach((p, i) => {
    if (!lost.has(i)) dec.onData((firstSeq + i) >>> 0, p);
  });
  const rebuilt: Buffer[] = [];
  parity.forEach((p, j) => {
    if (!lost.has(k + j)) rebuilt.push(...dec.onParity(decodeFecParity(encodeFecParity(p))!));
  });
  return rebuilt;
}

test('any ≤ m losses among the k + m packets of a group are recovered byte-exactly', (t) => {
  fc.assert(
    fc.property(
      fc.integer({ min: 1, max: 16 }),
      fc.integer({ min: 1, max: 4 }),
      fc.integer({ min: 0, max: 0xffffffff }),
      fc.integer(),
      fc.array(fc.nat(), { maxLength: 4 }),
      (k, m, firstSeq, seed, picks) => {
        const data = packets(seed, k);
        const parity = encodeGroup(k, m, firstSeq, data);
        if (parity.length !== m) return false;
        const lost = new Set(picks.slice(0, m).map((x) => x % (k + m)));
        const rebuilt = deliver(k, firstSeq, data, parity, lost);
        const hex = (bs: readonly Buffer[]) => bs.map((b) => b.toString('hex')).sort();
        const expected = [...lost].filter((i) => i < k).map((i) => data[i]!);
        return JSON.stringify(hex(rebuilt)) === JSON.stringify(hex(expected));
      },
    ),
    { numRuns: 150 },
  );
  t.pass();
});

test('more than m losses: nothing is recovered and nothing wrong is returned', (t) => {
  fc.assert(
    fc.property(fc.integer({ min: 2, max: 12 }), fc.integer({ min: 1, max: 3 }), fc.integer(), (k, m, seed) => {
      const data = packets(seed, k);
      const parity = encodeGroup(k, m, 100, data);
      // m + 1 data packets lost, every parity packet arrives.
      const lost = new Set(Array.from({ length: Math.min(k, m + 1) }, (_, i) => i));
      if (lost.size <= m) return true;
      return deliver(k, 100, data, parity, lost).length === 0;
    }),
    { numRuns: 60 },
  );
  t.pass();
});

test('a partial group is closed by the timer and still recovers its losses', (t) => {
  const enc = new FecEncoder({ k: 10, flushAfterMs: 5, maxShardBytes: SHARD_MAX });
  enc.setParityCount(2);
  const data = packets(9, 3);
  t.deepEqual(enc.add(100, 7, data[0]!), []);
  t.deepEqual(enc.add(101, 8, data[1]!), []);
  t.deepEqual(enc.add(102, 9, data[2]!), []);
  t.is(enc.nextDeadlineMs(), 105);
  t.deepEqual(enc.poll(104), []);
  const parity = enc.poll(105);
  t.is(parity.length, 2);
  t.true(parity.every((p) => p.k === 3 && p.m === 2 && p.firstSeq === 7));
  t.is(enc.nextDeadlineMs(), undefined);
  const rebuilt = deliver(3, 7, data, parity, new Set([0, 2]));
  t.is(rebuilt.length, 2);
  t.true(rebuilt.some((b) => b.equals(data[0]!)) && rebuilt.some((b) => b.equals(data[2]!)));
});

test('a partial group gets the parity its own size needs: at 1 % loss a lone packet none, a full group one', (t) => {
  const estimator = new LossEstimator({ windowPackets: 1000 });
  estimator.onSent(1000);
  estimator.onLost(10);
  const enc = new FecEncoder({ k: 20, flushAfterMs: 5, maxShardBytes: SHARD_MAX, parityFor: (n) => estimator.parityFor(n) });
  enc.setParityCount(estimator.parityFor(20));
  t.is(enc.parityCount, 1, '1 % loss: one parity packet per full group');
  const data = packets(1, 20);
  t.deepEqual(enc.add(100, 1, data[0]!), []);
  t.deepEqual(enc.poll(105), [], 'one packet closed by the timer: no parity at 1 % loss');
  const full = data.flatMap((d, i) => enc.add(200, 10 + i, d));
  t.is(full.length, 1);
});

test('a gap in sequence numbers closes the open group; parity count 0 sends nothing', (t) => {
  const enc = new FecEncoder({ k: 4, flushAfterMs: 5, maxShardBytes: SHARD_MAX });
  const data = packets(3, 4);
  t.deepEqual(enc.add(0, 1, data[0]!), []);
  enc.setParityCount(1);
  t.deepEqual(enc.add(0, 1, data[0]!), []);
  t.deepEqual(enc.add(0, 2, data[1]!), []);
  const closed = enc.add(0, 10, data[2]!);
  t.is(closed.length, 1);
  t.is(closed[0]!.firstSeq, 1);
  t.is(closed[0]!.k, 2);
  enc.setParityCount(0);
  t.deepEqual(enc.add(0, 11, data[3]!), []);
  t.deepEqual(enc.poll(1000), []);
});

test('packets too long to protect travel unprotected without breaking groups', (t) => {
  const enc = new FecEncoder({ k: 2, flushAfterMs: 5, maxShardBytes: 64 });
  enc.setParityCount(1);
  t.deepEqual(enc.add(0, 1, Buffer.alloc(10, 1)), []);
  const closed = enc.add(0, 2, Buffer.alloc(100, 2));
  t.is(closed.length, 1);
  t.is(closed[0]!.k, 1);
  t.is(enc.nextDeadlineMs(), undefined);
});

test('the decoder keeps at most maxGroups groups and ignores parity beyond its shard bound', (t) => {
  const dec = new FecDecoder({ maxGroups: 2, maxShardBytes: 64 });
  t.deepEqual(dec.onParity({ firstSeq: 1, k: 2, m: 1, index: 0, shard: Buffer.alloc(72) }), []);
  for (let g = 0; g < 5; g++) dec.onParity({ firstSeq: g * 10, k: 2, m: 2, index: 0, shard: Buffer.alloc(16) });
  t.is((dec as unknown as { groups: Map<number, unknown> }).groups.size, 2);
});

test('decodeFecParity never throws on random input, and round-trips what encodeFecParity wrote', (t) => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 300 }), (bytes) => {
      const p = decodeFecParity(Buffer.from(bytes));
      if (p === undefined) return true;
      return encodeFecParity(p).equals(Buffer.from(bytes));
    }),
    { numRuns: 2000 },
  );
  t.is(decodeFecParity(Buffer.alloc(0)), undefined);
  const p: FecParity = { firstSeq: 0xfffffffe, k: 24, m: 6, index: 5, shard: Buffer.alloc(16, 7) };
  t.deepEqual(decodeFecParity(encodeFecParity(p)), p);
});
