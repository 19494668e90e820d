import test from 'ava';
import fc from 'fast-check';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import protobuf from 'protobufjs';
import { LOGICAL_MAX, WALL_MAX, type Glt } from '../../glts/glt.js';
import type { Message } from '../../kernel/messages.js';
import { MAX_REGIONS, MAX_RESTAMP_RULES, type CommitRecord, type MembershipRecord } from '../../kernel/records.js';
import { decodeMessage, encodeMessage } from '../../kernel/wire.js';
import { PROTOCOL_VERSION } from '../../proto/protocol.js';

const g = (wall: bigint, logical = 0): Glt => ({ wall, logical });
const NOW = g(1_763_751_000_123_456_789n, 3);

const arbGlt = fc.record({ wall: fc.bigInt({ min: 0n, max: WALL_MAX }), logical: fc.integer({ min: 0, max: LOGICAL_MAX }) });
const arbU64 = fc.bigInt({ min: 0n, max: WALL_MAX });
/** Names of any characters (UTF-8 on the wire), within the 1..255 bound. */
const arbName = fc.string({ unit: 'grapheme', minLength: 1, maxLength: 20 }).filter((s) => s.length <= 255);
const arbNames = fc.uniqueArray(arbName, { maxLength: 8 });
const arbMs = fc.double({ min: 0, max: 1e9, noNaN: true, noDefaultInfinity: true });
const arbCommitRecord: fc.Arbitrary<CommitRecord> = fc.record({ T: arbGlt, epoch: arbU64, members: arbNames, membershipVersion: fc.maxSafeNat(), coordinator: arbName, decideMs: arbMs, lagMs: arbMs });
const arbMembership: fc.Arbitrary<MembershipRecord> = fc.record({
  version: fc.maxSafeNat(),
  members: arbNames,
  excluded: fc.array(fc.record({ region: arbName, watermark: arbGlt, hiddenAbove: arbGlt }), { maxLength: 4 }),
  restamps: fc.array(fc.record({ version: fc.maxSafeNat(), region: arbName, above: arbGlt, upTo: arbGlt, floor: arbGlt }), { maxLength: 4 }),
});

const arbMessage: Record<Message['type'], fc.Arbitrary<Message>> = {
  ship: fc.record({
    type: fc.constant('ship' as const),
    origin: arbName,
    region: arbName,
    from: arbGlt,
    to: arbGlt,
    horizon: arbGlt,
    delta: fc.uint8Array({ maxLength: 300 }).map((b) => Buffer.from(b)),
    count: fc.integer({ min: 0, max: 0xffff_ffff }),
  }),
  ack: fc.record({ type: fc.constant('ack' as const), origin: arbName, region: arbName, applied: arbGlt, gap: fc.boolean() }),
  relay: fc.record({ type: fc.constant('relay' as const), origin: arbName, region: arbName, from: arbGlt, upTo: arbGlt }),
  progress: fc.record({
    type: fc.constant('progress' as const),
    region: arbName,
    leaderEpoch: arbU64,
    applied: fc.uniqueArray(fc.record({ origin: arbName, ts: arbGlt }), { maxLength: 8, selector: (a) => a.origin }),
    membershipApplied: fc.maxSafeNat(),
    frontier: arbGlt,
  }),
  commit: fc.record({ type: fc.constant('commit' as const), epoch: arbU64, record: arbCommitRecord, membership: arbMembership, persistMs: arbMs }),
  membership: fc.record({ type: fc.constant('membership' as const), epoch: arbU64, record: arbMembership }),
};

const membership: MembershipRecord = {
  version: 3,
  members: ['us-east', 'eu-west'],
  excluded: [{ region: 'ap-south', watermark: NOW, hiddenAbove: NOW }],
  restamps: [{ version: 2, region: 'ap-south', above: g(1n), upTo: g(2n), floor: g(3n) }],
};
const samples: Message[] = [
  { type: 'ship', origin: 'us-east', region: 'eu-west', from: NOW, to: g(NOW.wall + 5_000_000n), horizon: g(0n), delta: Buffer.from('any bytes, not decoded here'), count: 2 },
  { type: 'ack', origin: 'us-east', region: 'eu-west', applied: NOW, gap: true },
  { type: 'relay', origin: 'ap-south', region: 'eu-west', from: g(0n), upTo: NOW },
  { type: 'progress', region: 'eu-west', leaderEpoch: 7n, applied: [{ origin: 'us-east', ts: NOW }, { origin: 'eu-west', ts: NOW }], membershipApplied: 3, frontier: NOW },
  { type: 'commit', epoch: 9n, record: { T: NOW, epoch: 9n, members: ['us-east', 'eu-west'], membershipVersion: 3, coordinator: 'coord-1', decideMs: 0.25, lagMs: 12.5 }, membership, persistMs: 1.5 },
  { type: 'membership', epoch: 9n, record: membership },
];

function codeOf(bytes: Uint8Array): string | undefined {
  const d = decodeMessage(bytes);
  return d.ok ? undefined : d.error.code;
}

test('every message type round-trips, bounds included (wide GLTs and epochs, any UTF-8 names)', (t) => {
  for (const [type, arb] of Object.entries(arbMessage)) {
    fc.assert(
      fc.property(arb, (m) => {
        const d = decodeMessage(encodeMessage(m));
        t.true(d.ok, type);
        if (d.ok) t.deepEqual(d.value, m);
      }),
      { numRuns: 200 },
    );
  }
  for (const m of samples) t.deepEqual(decodeMessage(encodeMessage(m)), { ok: true, value: m });
});

test('garbage, truncation and corruption give coded errors, never exceptions', (t) => {
  const coded = (bytes: Uint8Array) => {
    const d = decodeMessage(bytes);
    return d.ok || d.error.code === 'INVALID_ARGUMENT' || d.error.code === 'PROTOCOL_VERSION';
  };
  fc.assert(fc.property(fc.uint8Array({ maxLength: 200 }), coded), { numRuns: 2000 });
  for (const m of samples) {
    const bytes = encodeMessage(m);
    // The message is one length-delimited field of the envelope: every cut is detected.
    for (let n = 0; n < bytes.length; n++) t.truthy(codeOf(bytes.subarray(0, n)), `${m.type} cut at ${n}`);
    fc.assert(
      fc.property(fc.nat({ max: bytes.length - 1 }), fc.integer({ min: 1, max: 255 }), (at, x) => {
        const c = Buffer.from(bytes);
        c[at] ^= x;
        return coded(c);
      }),
    );
  }
  t.is(codeOf(Buffer.alloc(0)), 'INVALID_ARGUMENT');
});

test('fields out of bounds are INVALID_ARGUMENT naming the field', (t) => {
  const pathOf = (m: Message): unknown => {
    const d = decodeMessage(encodeMessage(m));
    t.false(d.ok, m.type);
    if (d.ok) return undefined;
    t.is(d.error.code, 'INVALID_ARGUMENT');
    return d.error.details['path'];
  };
  const ack = samples[1] as Extract<Message, { type: 'ack' }>;
  t.is(pathOf({ ...ack, origin: '' }), 'ack.origin');
  t.is(pathOf({ ...ack, region: 'r'.repeat(256) }), 'ack.region');
  t.true(decodeMessage(encodeMessage({ ...ack, region: 'r'.repeat(255) })).ok);
  const progress = samples[3] as Extract<Message, { type: 'progress' }>;
  const origins = (n: number) => Array.from({ length: n }, (_, i) => ({ origin: `r${i}`, ts: NOW }));
  t.true(decodeMessage(encodeMessage({ ...progress, applied: origins(MAX_REGIONS) })).ok);
  t.is(pathOf({ ...progress, applied: origins(MAX_REGIONS + 1) }), 'progress.applied');
  t.is(pathOf({ ...progress, applied: [...origins(2), ...origins(1)] }), 'progress.applied');
  t.is(pathOf({ ...progress, membershipApplied: Number.MAX_SAFE_INTEGER + 1 + 2 }), 'progress.membershipApplied');
  const commit = samples[4] as Extract<Message, { type: 'commit' }>;
  const names = (n: number) => Array.from({ length: n }, (_, i) => `r${i}`);
  t.is(pathOf({ ...commit, record: { ...commit.record, members: names(MAX_REGIONS + 1) } }), 'commit.record.members');
  t.is(pathOf({ ...commit, record: { ...commit.record, members: ['a', 'a'] } }), 'commit.record.members');
  t.is(pathOf({ ...commit, record: { ...commit.record, coordinator: '' } }), 'commit.record.coordinator');
  t.is(pathOf({ ...commit, persistMs: Number.NaN }), 'commit.persistMs');
  t.is(pathOf({ ...commit, membership: { ...membership, members: ['x', ''] } }), 'commit.membership.members[1]');
  const rule = membership.restamps[0]!;
  t.is(pathOf({ ...commit, membership: { ...membership, restamps: Array.from({ length: MAX_RESTAMP_RULES + 1 }, () => rule) } }), 'commit.membership.restamps');
  t.is(pathOf({ ...commit, membership: { ...membership, excluded: [{ ...membership.excluded[0]!, region: '' }] } }), 'commit.membership.excluded[0].region');
});

/** The envelope type itself, to write what encodeMessage never would. */
function rawEnvelope(): protobuf.Type {
  const dir = join(fileURLToPath(new URL('.', import.meta.url)), '..', '..', 'proto');
  const root = new protobuf.Root();
  root.resolvePath = (_origin, target) => join(dir, target);
  root.loadSync('aetherflow/internal/v1/stream.proto');
  return root.lookupType('aetherflow.internal.v1.Envelope');
}

test('another protocol version is PROTOCOL_VERSION; a missing version, message or timestamp is INVALID_ARGUMENT naming it', (t) => {
  const E = rawEnvelope();
  const ts = { wall: 5, logical: 0 };
  const ack = { origin: 'a', region: 'b', applied: ts, gap: false };
  const encode = (o: object) => E.encode(o).finish();
  t.is(codeOf(encode({ protocol: PROTOCOL_VERSION, ack })), undefined);
  for (const protocol of [1, PROTOCOL_VERSION + 1]) {
    const d = decodeMessage(encode({ protocol, ack }));
    t.false(d.ok);
    if (!d.ok) {
      t.is(d.error.code, 'PROTOCOL_VERSION');
      t.deepEqual(d.error.details, { ours: PROTOCOL_VERSION, theirs: protocol });
    }
  }
  const path = (o: object) => {
    const d = decodeMessage(encode(o));
    return d.ok ? 'ok' : `${d.error.code} ${String(d.error.details['path'])}`;
  };
  t.is(path({ ack }), 'INVALID_ARGUMENT envelope.protocol');
  t.is(path({ protocol: PROTOCOL_VERSION }), 'INVALID_ARGUMENT envelope');
  t.is(path({ protocol: PROTOCOL_VERSION, ack: { ...ack, applied: null } }), 'INVALID_ARGUMENT ack.applied');
  t.is(path({ protocol: PROTOCOL_VERSION, ship: { origin: 'a', region: 'a', from: ts, to: ts, count: 0, delta: Buffer.alloc(0) } }), 'INVALID_ARGUMENT ship.horizon');
  t.is(path({ protocol: PROTOCOL_VERSION, commit: { epoch: 1, membership: { version: 1 }, persistMs: 0 } }), 'INVALID_ARGUMENT commit.record');
});

test("a Ship is its delta plus a small fixed overhead, and the decoded delta is a view of the received bytes", (t) => {
  const ship = (delta: Buffer): Message => ({ type: 'ship', origin: 'us-east', region: 'us-east', from: NOW, to: g(NOW.wall + 50_000_000n, 12), horizon: g(0n), delta, count: 100 });
  const overheads = [0, 1 << 10, 64 << 10, 1 << 20].map((n) => {
    const delta = Buffer.alloc(n, 0xab);
    const bytes = encodeMessage(ship(delta));
    const d = decodeMessage(bytes);
    t.true(d.ok);
    if (d.ok && d.value.type === 'ship') {
      t.true(d.value.delta.equals(delta));
      if (n > 0) t.is(d.value.delta.buffer, bytes.buffer, 'no copy on decode');
    }
    return bytes.length - n;
  });
  t.log(`Ship overhead (origin and region "us-east", real-clock GLTs, zero horizon), delta of 0 B / 1 KiB / 64 KiB / 1 MiB: ${overheads.join(' / ')} bytes`);
  // Only the two length varints (the Ship's and the delta's) grow with the delta.
  t.true(Math.max(...overheads) - Math.min(...overheads) <= 6);
  // Worst case: 81 bytes (10-byte walls, 5-byte logicals, 4-byte lengths) plus the two names.
  t.true(Math.max(...overheads) <= 81 + 2 * 'us-east'.length);
  const worst = encodeMessage({ type: 'ship', origin: 'o'.repeat(255), region: 'r'.repeat(255), from: g(WALL_MAX, LOGICAL_MAX), to: g(WALL_MAX, LOGICAL_MAX), horizon: g(WALL_MAX, LOGICAL_MAX), delta: Buffer.alloc(1 << 20), count: 0xffff_ffff });
  t.true(worst.length - (1 << 20) <= 81 + 510, `worst case ${worst.length - (1 << 20)}`);
});
