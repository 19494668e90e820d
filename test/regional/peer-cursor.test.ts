import test from 'ava';
import type { Glt } from '../../glts/glt.js';
import { PeerCursor } from '../../regional/peer-cursor.js';

const g = (wall: number): Glt => ({ wall: BigInt(wall), logical: 0 });

test('nothing is sent before the peer says where it stands; the window bounds what is in flight', (t) => {
  const c = new PeerCursor(100, 1000);
  t.false(c.canSend());
  c.onAck(g(10), false, 0);
  t.true(c.canSend());
  t.deepEqual(c.sent, g(10));
  c.onSent(g(20), 60, 1);
  c.onSent(g(30), 60, 2);
  t.false(c.canSend(), '120 bytes in flight, window 100');
  c.onAck(g(20), false, 3);
  t.true(c.canSend());
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
