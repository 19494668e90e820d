import test from 'ava';
import fc from 'fast-check';
import { Bbr } from '../../transport/bbr.js';
import { Connection, type ConnectionActions } from '../../transport/connection.js';
import { defaultTuning } from '../../transport/endpoint.js';
import { Handshake, resetToken, resetTokenSecret, type QuantumCredentials } from '../../transport/handshake.js';
import { encodePacket, Flag } from '../../transport/packet.js';
import { Random } from '../../common/random.js';
import { defaultStreamLimits } from '../../transport/stream.js';
import { PROTOCOL_VERSION } from '../../proto/protocol.js';
import { nodeCredentials, testCa } from './test-credentials.js';

// Without the session keys, nothing an attacker sends moves a secure connection: it never
// throws, delivers nothing, and stays established.

const guuid = Buffer.alloc(16, 7);
let nodeA: QuantumCredentials;
let nodeB: QuantumCredentials;
test.before(async () => {
  const ca = await testCa();
  [nodeA, nodeB] = await Promise.all([nodeCredentials(ca, 'node-a'), nodeCredentials(ca, 'node-b')]);
});

function connection(role: 'initiator' | 'responder', credentials: QuantumCredentials, seed: number): Connection {
  return new Connection({
    role,
    guuid,
    localInstance: Buffer.alloc(8, role === 'initiator' ? 1 : 2),
    protocolVersion: PROTOCOL_VERSION,
    nowMs: 0,
    congestion: new Bbr({ mssBytes: 1400, nowMs: 0 }),
    auth: new Handshake({ role, credentials, guuid, resetToken: resetToken(resetTokenSecret(credentials.privateKey), guuid), random: new Random(seed) }),
    limits: defaultStreamLimits,
    ...defaultTuning,
  });
}

/** Carries datagrams between the two until neither has anything to say. */
function exchange(a: Connection, b: Connection, first: ConnectionActions, now: number): number {
  let delivered = 0;
  let toB = first.datagrams;
  for (let rounds = 0; rounds < 20 && toB.length > 0; rounds++) {
    const toA: Buffer[] = [];
    for (const d of toB) {
      const r = b.onDatagram(now, d);
      delivered += r.delivered.length;
      toA.push(...r.datagrams);
    }
    toB = [];
    for (const d of toA) toB.push(...a.onDatagram(now, d).datagrams);
  }
  return delivered;
}

const arbForgery = fc.record({
  flags: fc.integer({ min: 0, max: 0x7f }),
  sequence: fc.oneof(fc.nat({ max: 20 }), fc.nat({ max: 0xffffffff })),
  ack: fc.nat({ max: 30 }),
  payload: fc.uint8Array({ maxLength: 300 }),
  tagged: fc.boolean(),
});

test('established secure connections ignore every datagram not sealed with their keys', (t) => {
  fc.assert(
    fc.property(fc.array(arbForgery, { minLength: 1, maxLength: 40 }), (forgeries) => {
      const a = connection('initiator', nodeA, 1);
      const b = connection('responder', nodeB, 2);
      exchange(a, b, a.open(0), 0);
      if (a.state !== 'ESTABLISHED' || b.state !== 'ESTABLISHED' || b.peerNodeId !== 'node-a') return false;
      for (const f of forgeries) {
        const d = encodePacket({ flags: f.flags, guuid, sequence: f.sequence, ack: f.ack, sack: [], payload: Buffer.from(f.payload) }, f.tagged ? 16 : 0);
        for (const target of [a, b]) {
          const r = target.onDatagram(1, d);
          if (r.delivered.length > 0 || !target.isOpen) return false;
        }
      }
      // Still a working session.
      return exchange(a, b, a.send(2, 1, 0, Buffer.from('after')), 2) === 1;
    }),
    // A clear SYN taking the sequence of the next data packet would make the receiver ack data it never got.
    { numRuns: 100, examples: [[[{ flags: Flag.SYN, sequence: 2, ack: 0, payload: new Uint8Array(0), tagged: false }]]] },
  );
  t.pass();
});
