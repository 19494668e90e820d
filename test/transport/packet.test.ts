import test from 'ava';
import fc from 'fast-check';
import { Authenticator, ReplayWindow } from '../../transport/auth.js';
import { decodePacket, encodePacket, Flag, MAGIC, MAX_SACK_BLOCKS, type Packet } from '../../transport/packet.js';
import { ReceivedRanges } from '../../transport/sack.js';
import { RttEstimator } from '../../transport/rtt.js';

const arbPacket: fc.Arbitrary<Packet> = fc
  .record({
    flags: fc.integer({ min: 0, max: 0x7f }),
    guuid: fc.uint8Array({ minLength: 16, maxLength: 16 }).map((a) => Buffer.from(a)),
    sequence: fc.nat({ max: 0xffffffff }),
    ack: fc.nat({ max: 0xfff00000 }),
    gaps: fc.array(fc.tuple(fc.integer({ min: 1, max: 1000 }), fc.integer({ min: 1, max: 1000 })), { maxLength: MAX_SACK_BLOCKS }),
    payload: fc.uint8Array({ maxLength: 1500 }).map((a) => Buffer.from(a)),
  })
  .map(({ gaps, ...p }) => {
    let at = p.ack;
    const sack = gaps.map(([gap, len]) => {
      const start = at + gap;
      at = start + len;
      return { start, end: at };
    });
    return { ...p, sack };
  });

test('header layout matches the documented offsets (transport/packet.ts)', (t) => {
  const guuid = Buffer.alloc(16, 0xab);
  const b = encodePacket({ flags: Flag.SYN | Flag.ACK, guuid, sequence: 7, ack: 3, sack: [{ start: 5, end: 6 }], payload: Buffer.from('xy') });
  t.is(b.readUInt32BE(0), MAGIC);
  t.is(b[4], 1);
  t.is(b[5], Flag.SYN | Flag.ACK);
  t.deepEqual(b.subarray(6, 22), guuid);
  t.is(b.readUInt32BE(22), 7);
  t.is(b.readUInt32BE(26), 3);
  t.is(b[30], 1);
  t.is(b.readUInt32BE(31), 5);
  t.is(b.readUInt32BE(35), 6);
  t.is(b.readUInt16BE(39), 2);
  t.is(b.subarray(41).toString(), 'xy');
});

test('encode/decode round-trips, with and without a tag', (t) => {
  const auth = new Authenticator(Buffer.from('k'.repeat(32)));
  fc.assert(
    fc.property(arbPacket, (p) => {
      const plain = decodePacket(encodePacket(p));
      const sealed = auth.open(auth.seal(encodePacket(p, auth.tagBytes)));
      return plain.ok && sealed.ok && plain.packet.sequence === p.sequence && plain.packet.payload.equals(p.payload) && JSON.stringify(sealed.packet.sack) === JSON.stringify(p.sack);
    }),
  );
  t.pass();
});

test('decoding never throws: random bytes and mutated packets are results or drop reasons', (t) => {
  const auth = new Authenticator(Buffer.from('secret'));
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 400 }), (bytes) => {
      const r = decodePacket(Buffer.from(bytes));
      const a = auth.open(Buffer.from(bytes));
      return typeof r.ok === 'boolean' && a.ok === false;
    }),
    { numRuns: 2000 },
  );
  fc.assert(
    fc.property(arbPacket, fc.array(fc.tuple(fc.nat(), fc.nat({ max: 255 })), { minLength: 1, maxLength: 8 }), fc.integer({ min: -20, max: 20 }), (p, flips, cut) => {
      const b = Buffer.from(auth.seal(encodePacket(p, auth.tagBytes)));
      for (const [i, v] of flips) b[i % b.length] = v;
      const mutated = cut < 0 ? b.subarray(0, Math.max(0, b.length + cut)) : Buffer.concat([b, Buffer.alloc(cut)]);
      const r = auth.open(mutated);
      decodePacket(mutated);
      return !r.ok || r.packet.payload.length <= mutated.length;
    }),
    { numRuns: 2000 },
  );
  t.pass();
});

test('malformed headers are dropped with their reason', (t) => {
  const good = encodePacket({ flags: Flag.ACK, guuid: Buffer.alloc(16), sequence: 1, ack: 1, sack: [], payload: Buffer.alloc(4) });
  const mutate = (f: (b: Buffer) => void): Buffer => {
    const b = Buffer.from(good);
    f(b);
    return b;
  };
  const reason = (b: Buffer): string | undefined => {
    const r = decodePacket(b);
    return r.ok ? undefined : r.reason;
  };
  t.is(reason(good.subarray(0, 10)), 'short');
  t.is(reason(mutate((b) => b.writeUInt32BE(0, 0))), 'bad_magic');
  t.is(reason(mutate((b) => (b[4] = 9))), 'bad_version');
  t.is(reason(mutate((b) => (b[5] = 0x80))), 'bad_flags');
  t.is(reason(mutate((b) => (b[30] = 200))), 'bad_sack');
  t.is(reason(mutate((b) => (b[30] = 3))), 'bad_length');
  t.is(reason(Buffer.concat([good, Buffer.alloc(1)])), 'bad_length');
  t.is(reason(good.subarray(0, good.length - 1)), 'bad_length');
});

test('a wrong tag or key is bad_mac', (t) => {
  const a = new Authenticator(Buffer.from('one key'));
  const b = new Authenticator(Buffer.from('another key'));
  const d = a.seal(encodePacket({ flags: Flag.PING, guuid: Buffer.alloc(16), sequence: 0, ack: 0, sack: [], payload: Buffer.alloc(0) }, a.tagBytes));
  t.true(a.open(d).ok);
  t.deepEqual(b.open(d), { ok: false, reason: 'bad_mac' });
  const flipped = Buffer.from(d);
  flipped[flipped.length - 1]! ^= 1;
  t.deepEqual(a.open(flipped), { ok: false, reason: 'bad_mac' });
});

test('replay window admits each sequence once and refuses the too old', (t) => {
  const w = new ReplayWindow(64);
  t.true(w.accept(5));
  t.false(w.accept(5));
  t.true(w.accept(3));
  t.true(w.accept(100));
  t.false(w.accept(3));
  t.true(w.accept(60));
  t.false(w.accept(36));
  t.true(w.accept(37));
  fc.assert(
    fc.property(fc.array(fc.nat({ max: 300 }), { maxLength: 200 }), (seqs) => {
      const win = new ReplayWindow(1024);
      const seen = new Set<number>();
      return seqs.every((s) => {
        const ok = win.accept(s);
        const fresh = !seen.has(s);
        seen.add(s);
        return ok === fresh;
      });
    }),
  );
});

test('received ranges match a set model; SACK blocks lie above the cumulative ack and are bounded', (t) => {
  fc.assert(
    fc.property(fc.array(fc.nat({ max: 200 }), { maxLength: 300 }), fc.integer({ min: 1, max: 8 }), (seqs, maxBlocks) => {
      const r = new ReceivedRanges(0, { maxRanges: 1000, maxAheadPackets: 1000 });
      const model = new Set<number>();
      for (const s of seqs) {
        const v = r.add(s);
        if ((v === 'duplicate') !== model.has(s)) return false;
        model.add(s);
      }
      let cum = 0;
      while (model.has(cum)) cum++;
      if (r.cumulative !== cum) return false;
      const blocks = r.blocks(maxBlocks);
      if (blocks.length > maxBlocks) return false;
      return blocks.every((b) => b.start > cum && [...Array(b.end - b.start).keys()].every((i) => model.has(b.start + i)) && !model.has(b.start - 1) && !model.has(b.end));
    }),
  );
  const bounded = new ReceivedRanges(0, { maxRanges: 2, maxAheadPackets: 100 });
  t.is(bounded.add(2), 'new');
  t.is(bounded.add(4), 'new');
  t.is(bounded.add(6), 'too_many_ranges');
  t.is(bounded.add(100), 'too_far');
  t.is(bounded.add(3), 'new');
  t.is(bounded.rangeCount, 1);
});

test('RTO floor is far below 200 ms and backs off to the cap', (t) => {
  const rtt = new RttEstimator({ initialRttMs: 100, rtoMinMs: 15, rtoMaxMs: 1000, granularityMs: 1 });
  for (let i = 0; i < 20; i++) rtt.onSample(2);
  t.true(rtt.ptoMs(0) < 20);
  t.true(rtt.ptoMs(0) >= 15);
  t.is(rtt.ptoMs(20), 1000);
  t.true(rtt.lossDelayMs() >= (9 / 8) * 2);
});
