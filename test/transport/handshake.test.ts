import test from 'ava';
import { randomBytes } from 'node:crypto';
import type { KeyPairPem } from '../../security/certificates.js';
import { Handshake, resetToken, resetTokenSecret, type QuantumCredentials } from '../../transport/handshake.js';
import { nodeCredentials, testCa } from './test-credentials.js';

// The handshake alone (transport/handshake.ts), fed the bodies the connection would carry.

const BASE_I = Buffer.alloc(12, 1);
const BASE_R = Buffer.alloc(12, 2);
const DAY_MS = 86_400_000;

let ca: KeyPairPem;
let otherCa: KeyPairPem;
let nodeI: QuantumCredentials;
let nodeR: QuantumCredentials;
test.before(async () => {
  [ca, otherCa] = await Promise.all([testCa('ca'), testCa('another ca')]);
  [nodeI, nodeR] = await Promise.all([nodeCredentials(ca, 'node-i'), nodeCredentials(ca, 'node-r')]);
});

function side(role: 'initiator' | 'responder', credentials: QuantumCredentials, guuid: Buffer, o: { expectedPeer?: string; wallClockMs?: () => number } = {}): Handshake {
  return new Handshake({ role, credentials, guuid, resetToken: resetToken(resetTokenSecret(credentials.privateKey), guuid), ...o });
}

function pair(i: QuantumCredentials = nodeI, r: QuantumCredentials = nodeR, o: { expectedPeer?: string; clockI?: () => number; clockR?: () => number } = {}) {
  const guuid = randomBytes(16);
  return {
    guuid,
    i: side('initiator', i, guuid, { ...(o.expectedPeer ? { expectedPeer: o.expectedPeer } : {}), ...(o.clockI ? { wallClockMs: o.clockI } : {}) }),
    r: side('responder', r, guuid, o.clockR ? { wallClockMs: o.clockR } : {}),
  };
}

/** The exchange up to the initiator's verdict on the response; `alter` may change the SYN body in flight. */
function exchange(i: Handshake, r: Handshake, alter: (hello: Buffer) => Buffer = (h) => h) {
  const hello = i.hello(BASE_I);
  const response = r.respond(alter(Buffer.from(hello)), BASE_R);
  if (!response.ok) throw new Error(`respond failed: ${response.reason}`);
  if (!i.onResponseClear(response.value.clear)) throw new Error('response clear part refused');
  return { hello, response: response.value, auth: i.onResponseIdentity(response.value.identity) };
}

test('success: both sides prove their node ids and agree on mirrored per-direction keys', (t) => {
  const { i, r } = pair(nodeI, nodeR, { expectedPeer: 'node-r' });
  const { auth } = exchange(i, r);
  if (!auth.ok) return t.fail(auth.reason);
  const done = r.onAuth(auth.value);
  if (!done.ok) return t.fail(done.reason);
  t.is(i.state, 'DONE');
  t.is(r.state, 'DONE');
  t.is(i.peer?.nodeId, 'node-r');
  t.is(done.value.nodeId, 'node-i');
  t.deepEqual(i.peer?.resetToken, r.resetToken);
  t.deepEqual(r.peer?.resetToken, i.resetToken);
  t.deepEqual(i.appKeys!.send, r.appKeys!.receive);
  t.deepEqual(i.appKeys!.receive, r.appKeys!.send);
  t.notDeepEqual(i.appKeys!.send, i.appKeys!.receive);
  t.notDeepEqual(i.appKeys!.send, i.handshakeKeys!.send);
});

test('every connection has fresh keys: the same two nodes never derive the same session keys twice', (t) => {
  const keys = [pair(), pair()].map(({ i, r }) => {
    const { auth } = exchange(i, r);
    if (auth.ok) r.onAuth(auth.value);
    return i.appKeys!.send.toString('hex');
  });
  t.not(keys[0], keys[1]);
});

test('a certificate of another CA is untrusted, on either side', async (t) => {
  const stranger = await nodeCredentials(otherCa, 'node-r');
  const asResponder = pair(nodeI, stranger);
  t.deepEqual(exchange(asResponder.i, asResponder.r).auth, { ok: false, reason: 'untrusted' });
  t.is(asResponder.i.state, 'FAILED');
  t.is(asResponder.i.appKeys, undefined);

  // An initiator of another CA that trusts ours, so that the exchange reaches the responder's check.
  const trusting = await nodeCredentials(otherCa, 'node-i', { trust: ca });
  const p = pair(trusting, nodeR);
  const a = exchange(p.i, p.r).auth;
  if (!a.ok) return t.fail(a.reason);
  t.deepEqual(p.r.onAuth(a.value), { ok: false, reason: 'untrusted' });
  t.is(p.r.state, 'FAILED');
  t.is(p.r.appKeys, undefined);
});

test('a responder proving another node id than the one dialled is wrong_node', (t) => {
  const { i, r } = pair(nodeI, nodeR, { expectedPeer: 'node-x' });
  t.deepEqual(exchange(i, r).auth, { ok: false, reason: 'wrong_node' });
});

test('a certificate outside its validity dates is expired (judged by the wall clock given)', (t) => {
  const later = pair(nodeI, nodeR, { clockI: () => Date.now() + 400 * DAY_MS });
  t.deepEqual(exchange(later.i, later.r).auth, { ok: false, reason: 'expired' });
  const earlier = pair(nodeI, nodeR, { clockR: () => Date.now() - DAY_MS });
  const { auth } = exchange(earlier.i, earlier.r);
  if (!auth.ok) return t.fail(auth.reason);
  t.deepEqual(earlier.r.onAuth(auth.value), { ok: false, reason: 'expired' });
});

test('a tampered transcript fails the signature: the SYN altered in flight, or the identity message', (t) => {
  // The initiator's nonce changed on the way: the responder signs a transcript the initiator never saw.
  const nonce = pair();
  t.deepEqual(exchange(nonce.i, nonce.r, (h) => ((h[h.length - 1]! ^= 1), h)).auth, { ok: false, reason: 'bad_signature' });
  // The instance id (clear, before the keys) changed.
  const base = pair();
  t.deepEqual(exchange(base.i, base.r, (h) => ((h[0]! ^= 1), h)).auth, { ok: false, reason: 'bad_signature' });
  // The initiator's signature altered.
  const sig = pair();
  const { auth } = exchange(sig.i, sig.r);
  if (!auth.ok) return t.fail(auth.reason);
  const altered = Buffer.from(auth.value);
  altered[altered.length - 1]! ^= 1;
  t.deepEqual(sig.r.onAuth(altered), { ok: false, reason: 'bad_signature' });
  // Garbage where the identity should be.
  const junk = pair();
  exchange(junk.i, junk.r);
  t.deepEqual(junk.r.onAuth(randomBytes(40)), { ok: false, reason: 'malformed' });
});

test('a replayed first message never establishes: the new responder answers with fresh values, and the recorded AUTH does not verify against them', (t) => {
  const { i, r, guuid } = pair();
  const { hello, auth } = exchange(i, r);
  if (!auth.ok) return t.fail(auth.reason);
  t.true(r.onAuth(auth.value).ok);

  const replayTarget = side('responder', nodeR, guuid);
  const response = replayTarget.respond(hello, BASE_R);
  t.true(response.ok);
  t.deepEqual(replayTarget.onAuth(auth.value), { ok: false, reason: 'bad_signature' });
  t.is(replayTarget.state, 'FAILED');
  t.is(replayTarget.appKeys, undefined);
});

test('a replayed second message does not verify for another initiator, even on the same GUUID', (t) => {
  const { i, r, guuid } = pair();
  const { response } = exchange(i, r);
  const other = side('initiator', nodeI, guuid);
  other.hello(BASE_I);
  t.true(other.onResponseClear(response.clear));
  t.deepEqual(other.onResponseIdentity(response.identity), { ok: false, reason: 'bad_signature' });
  t.is(other.appKeys, undefined);
});

test('a malformed response: a low-order ephemeral key fails the key exchange, calls out of order are refused', (t) => {
  const { i } = pair();
  i.hello(BASE_I);
  t.false(i.onResponseClear(Buffer.concat([BASE_R, Buffer.alloc(32), randomBytes(32)])));
  const { r } = pair();
  t.deepEqual(r.onAuth(Buffer.alloc(10)), { ok: false, reason: 'malformed' });
});
