import test from 'ava';
import { SentPacketTracker } from '../../transport/recovery.js';

// Ten packets sent into a blackout; after a probe timeout the oldest is sent again and acknowledged.
function blackout(probe: boolean) {
  const tracker = new SentPacketTracker<undefined>();
  for (let seq = 0; seq < 10; seq++) tracker.onSent(seq, Buffer.alloc(100), undefined, seq, undefined);
  tracker.onRetransmitted(tracker.oldest()!, 1000, undefined, probe);
  const outcome = tracker.onAck(1002, 1, [], 10);
  return { tracker, outcome };
}

test('an ack of a tail-loss probe declares what was sent before it and is still unacknowledged lost', (t) => {
  const { tracker, outcome } = blackout(true);
  t.deepEqual(outcome.acked.map((p) => p.seq), [0]);
  t.deepEqual(outcome.lost.map((p) => p.seq), [1, 2, 3, 4, 5, 6, 7, 8, 9]);
  t.is(outcome.rttSampleMs, undefined, 'no RTT sample from a retransmission (Karn)');
  t.is(tracker.bytesInFlight, 0);
});

test('an ack of an ordinary retransmission is ambiguous: it declares nothing lost', (t) => {
  const { tracker, outcome } = blackout(false);
  t.deepEqual(outcome.lost, []);
  t.is(tracker.bytesInFlight, 900);
});
