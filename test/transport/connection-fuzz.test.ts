import test from 'ava';
import fc from 'fast-check';
import { Authenticator } from '../../transport/auth.js';
import { Bbr } from '../../transport/bbr.js';
import { Connection } from '../../transport/connection.js';
import { defaultTuning } from '../../transport/endpoint.js';
import { FecDecoder, FecEncoder } from '../../transport/fec.js';
import { LossEstimator } from '../../transport/loss-estimator.js';
import { encodePacket, Flag } from '../../transport/packet.js';
import { defaultStreamLimits } from '../../transport/stream.js';
import { PROTOCOL_VERSION } from '../../proto/protocol.js';

const guuid = Buffer.alloc(16, 7);
const auth = new Authenticator(Buffer.from('fuzz key, fuzz key'));
/** A peer's handshake body: instance id, protocol version. */
const handshake = Buffer.concat([Buffer.alloc(8, 2), Buffer.from([0, 0, 0, PROTOCOL_VERSION])]);

function connection(): Connection {
  return new Connection({
    role: 'responder',
    guuid,
    localInstance: Buffer.alloc(8, 1),
    protocolVersion: PROTOCOL_VERSION,
    nowMs: 0,
    congestion: new Bbr({ mssBytes: 1200, nowMs: 0 }),
    auth,
    limits: { ...defaultStreamLimits, windowBytes: 1_000_000, maxMessageBytes: 100_000, maxStreams: 8 },
    fec: { k: 4, minParity: 1, encoder: new FecEncoder({ k: 4, flushAfterMs: 5, maxShardBytes: 1216 }), decoder: new FecDecoder({ maxGroups: 8, maxShardBytes: 1216 }), lossEstimator: new LossEstimator({ windowPackets: 100 }) },
    ...defaultTuning,
  });
}

/** Well-formed, correctly authenticated datagrams with adversarial contents: what a buggy or hostile key holder could send. */
const arbDatagram = fc
  .record({
    flags: fc.integer({ min: 0, max: 0x7f }),
    sequence: fc.oneof(fc.nat({ max: 20 }), fc.nat({ max: 0xffffffff })),
    ack: fc.nat({ max: 30 }),
    gaps: fc.array(fc.tuple(fc.integer({ min: 1, max: 5 }), fc.integer({ min: 1, max: 5 })), { maxLength: 4 }),
    maxData: fc.nat({ max: 2 ** 48 - 1 }),
    recovered: fc.nat({ max: 0xffffffff }),
    frame: fc.record({ streamId: fc.nat({ max: 20 }), index: fc.nat({ max: 4 }), length: fc.nat({ max: 200_000 }), offset: fc.nat({ max: 200_000 }) }),
    tail: fc.uint8Array({ maxLength: 40 }),
  })
  .map((r) => {
    let at = r.ack;
    const sack = r.gaps.map(([gap, len]) => {
      const start = at + gap;
      at = start + len;
      return { start, end: at };
    });
    const ackSection = Buffer.alloc(10);
    ackSection.writeUIntBE(r.maxData, 0, 6);
    ackSection.writeUInt32BE(r.recovered, 6);
    const frame = Buffer.alloc(16);
    frame.writeUInt32BE(r.frame.streamId, 0);
    frame.writeUInt32BE(r.frame.index, 4);
    frame.writeUInt32BE(r.frame.length, 8);
    frame.writeUInt32BE(r.frame.offset, 12);
    const parts = [(r.flags & Flag.ACK) !== 0 ? ackSection : Buffer.alloc(0), (r.flags & Flag.SYN) !== 0 ? handshake : frame, Buffer.from(r.tail)];
    return auth.seal(encodePacket({ flags: r.flags, guuid, sequence: r.sequence, ack: r.ack, sack, payload: Buffer.concat(parts) }, auth.tagBytes));
  });

test('the connection never throws on authenticated but adversarial datagrams, and keeps its invariants', (t) => {
  fc.assert(
    fc.property(fc.array(fc.tuple(arbDatagram, fc.nat({ max: 50 })), { minLength: 1, maxLength: 60 }), (steps) => {
      const c = connection();
      let now = 0;
      const syn = auth.seal(encodePacket({ flags: Flag.SYN, guuid, sequence: 0, ack: 0, sack: [], payload: handshake }, auth.tagBytes));
      c.onDatagram(now, syn);
      for (const [d, advance] of steps) {
        now += advance;
        const a = c.onDatagram(now, d);
        if (a.deadlineMs !== undefined && a.deadlineMs <= now) c.tick(now);
        c.send(now, 1, 3, Buffer.alloc(10));
        if (c.stats.receiveBufferedCost > 1_000_000) return false;
      }
      c.tick(now + 100_000);
      return true;
    }),
    { numRuns: 300 },
  );
  t.pass();
});
