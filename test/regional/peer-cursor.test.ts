import test from 'ava';
import type { Glt } from '../../glts/glt.js';
import { PeerCursor } from '../../regional/peer-cursor.js';

const g = (wall: number): Glt => ({ wall: BigInt(wall), logical: 0 });

test('nothing is sent before the peer says where it stands; the window bounds what is in flight', (t) => {
  const c = new PeerCursor(100, 1000);
  t.false(c.canSend(0));
  c.onAck(g(10), false, 0);
  t.true(c.canSend(0));
  t.deepEqual(c.sent, g(10));
  c.onSent(g(20), 60, 1);
  c.onSent(g(30), 60, 2);
  t.false(c.canSend(2), '120 bytes in flight, window 100');
  c.onAck(g(20), false, 3);
  t.true(c.canSend(3));
  t.deepEqual(c.sent, g(30));
});

test('unacknowledged for resendAfterMs: sent rewinds to acked', (t) => {
  const c = new PeerCursor(1000, 50);
  c.onAck(g(10), false, 0);
  c.onSent(g(20), 10, 0);
  t.false(c.checkStalled(40));
  t.is(c.stallCheckAtMs(), 50);
  t.true(c.checkStalled(60));
  t.deepEqual(c.sent, g(10));
});

test('a batch in flight that the transport delivered is progress: no rewind while the transport keeps delivering; one after it stops', (t) => {
  const c = new PeerCursor(1000, 50);
  c.onAck(g(10), false, 0);
  c.onSent(g(20), 10, 0);
  c.onSent(g(30), 10, 0);
  c.onDelivered(g(20), 45);
  t.false(c.checkStalled(60), 'delivered at 45: the peer applies a backlog, its Ack trails');
  t.is(c.stallCheckAtMs(), 95);
  c.onDelivered(g(25), 80);
  t.is(c.stallCheckAtMs(), 95, 'a batch not in flight (sent before a rewind, other bounds) says nothing');
  t.true(c.checkStalled(96));
  t.deepEqual(c.sent, g(10));
});

test('a gap report moves both positions to where the peer stands, also below what was acknowledged', (t) => {
  const c = new PeerCursor(1000, 50);
  c.onAck(g(30), false, 0);
  c.onSent(g(40), 10, 0);
  c.onAck(g(25), true, 1);
  t.deepEqual(c.acked, g(25));
  t.deepEqual(c.sent, g(25));
  c.onAck(g(20), false, 2);
  t.deepEqual(c.acked, g(25), 'an ordinary ack never moves it back');
});

test('a batch the transport refused is not in flight: sent rewinds to its start, and sending pauses until the retry time', (t) => {
  const c = new PeerCursor(100, 1000);
  c.onAck(g(10), false, 0);
  c.onSent(g(20), 60, 1);
  c.onSent(g(30), 30, 1);
  c.onSent(g(40), 20, 1);
  t.false(c.canSend(1));
  c.onRefused(g(20), 101);
  t.deepEqual(c.sent, g(20), 'the refused batch (20, 30] and the one after it go again');
  t.false(c.canSend(50), 'paused');
  t.is(c.resumeAtMs, 101);
  t.true(c.canSend(101), '60 bytes in flight: (10, 20] only');
  c.onRefused(g(30), 500);
  t.is(c.resumeAtMs, 101, 'a refusal of what was already taken back changes nothing');
  c.onAck(g(20), false, 102);
  t.deepEqual(c.sent, g(20));
  t.false(c.checkStalled(5000), 'nothing left in flight to resend');
});
