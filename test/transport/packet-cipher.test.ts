import { createCipheriv, randomBytes } from 'node:crypto';
import test from 'ava';
import { AssertionFailure } from '../../common/errors.js';
import { AEAD_TAG_BYTES, PacketCipher, type PayloadSpan } from '../../transport/packet-cipher.js';
import { encodePacket, Flag } from '../../transport/packet.js';

const key = randomBytes(32);

function datagram(sequence: number, payload: Buffer): { datagram: Buffer; span: PayloadSpan } {
  const d = encodePacket({ flags: Flag.DATA, guuid: Buffer.alloc(16, 7), sequence, ack: 0, sack: [], payload }, AEAD_TAG_BYTES);
  const end = d.length - AEAD_TAG_BYTES;
  return { datagram: d, span: { start: end - payload.length, end, clearBytes: 0 } };
}

test('the wire format: AES-256-GCM, nonce space ‖ 7 zero bytes ‖ sequence, header as associated data, tag last', (t) => {
  const payload = Buffer.from('the payload of packet 5');
  const { datagram: d, span } = datagram(5, payload);
  const header = Buffer.from(d.subarray(0, span.start));
  new PacketCipher(key).seal(d, span, 'control', 5);
  const nonce = Buffer.from('010000000000000000000005', 'hex');
  const reference = createCipheriv('aes-256-gcm', key, nonce, { authTagLength: AEAD_TAG_BYTES }).setAAD(header);
  const expected = Buffer.concat([header, reference.update(payload), reference.final(), reference.getAuthTag()]);
  t.deepEqual(d, expected);
});

test('a sealed datagram opens to its payload, and with anything changed it does not open', (t) => {
  const payload = randomBytes(1300);
  const { datagram: d, span } = datagram(9, payload);
  new PacketCipher(key).seal(d, span, 'reliable', 9);
  const opener = new PacketCipher(key);
  t.deepEqual(opener.open(d, span, 'reliable', 9), payload);
  t.is(opener.open(d, span, 'reliable', 10), undefined);
  t.is(opener.open(d, span, 'control', 9), undefined);
  t.is(new PacketCipher(randomBytes(32)).open(d, span, 'reliable', 9), undefined);
  for (const at of [0, span.start - 1, span.start, span.end, d.length - 1]) {
    const tampered = Buffer.from(d);
    tampered[at]! ^= 1;
    t.is(opener.open(tampered, span, 'reliable', 9), undefined, `byte ${at} flipped`);
  }
});

test('the clear prefix of a payload is authenticated but not encrypted', (t) => {
  const payload = Buffer.from('clear part, then the secret part');
  const { datagram: d, span } = datagram(0, payload);
  const withClear = { ...span, clearBytes: 10 };
  new PacketCipher(key).seal(d, withClear, 'reliable', 0);
  t.deepEqual(d.subarray(span.start, span.start + 10), payload.subarray(0, 10));
  t.notDeepEqual(d.subarray(span.start + 10, span.end), payload.subarray(10));
  t.deepEqual(new PacketCipher(key).open(d, withClear, 'reliable', 0), payload);
  d[span.start]! ^= 1;
  t.is(new PacketCipher(key).open(d, withClear, 'reliable', 0), undefined);
});

test('a key never seals a sequence of a space twice: a sequence not above the last one sealed in its space is a bug', (t) => {
  const cipher = new PacketCipher(key);
  const seal = (space: 'reliable' | 'control', sequence: number) => {
    const { datagram: d, span } = datagram(sequence, Buffer.from('x'));
    cipher.seal(d, span, space, sequence);
  };
  seal('reliable', 0);
  seal('reliable', 3);
  seal('control', 0);
  t.throws(() => seal('reliable', 3), { instanceOf: AssertionFailure });
  t.throws(() => seal('reliable', 2), { instanceOf: AssertionFailure });
  t.throws(() => seal('control', 0), { instanceOf: AssertionFailure });
  t.notThrows(() => seal('control', 1));
  t.notThrows(() => seal('reliable', 4));
});
