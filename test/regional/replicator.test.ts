import test from 'ava';
import { EMPTY_BATCH } from '../../datanode/delta.js';
import { GLT_ZERO, glt, type Glt } from '../../glts/glt.js';
import type { Ship } from '../../kernel/messages.js';
import { initialMembership } from '../../kernel/records.js';
import { DEFAULT_LIMITS, DEFAULT_TIMING, Replicator, type ReplicatorAction } from '../../regional/replicator.js';

const g = (ms: number): Glt => glt(BigInt(ms) * 1_000_000n);
const shipsTo = (peer: string, out: readonly ReplicatorAction[]): Ship[] => out.flatMap((a) => (a.type === 'send' && a.to === peer && a.msg.type === 'ship' ? [a.msg] : []));

test('a Ship the transport refused is not in flight: the stream to that peer goes again from it, after retryMs', (t) => {
  const r = new Replicator({ region: 'r1', regions: ['r1', 'r2'], originIds: (region) => [`${region}-d1`], timing: DEFAULT_TIMING, limits: DEFAULT_LIMITS });
  const state = { applied: new Map(), appliedFloor: GLT_ZERO, frontier: GLT_ZERO, membershipApplied: 1, horizon: GLT_ZERO };
  r.handle({ type: 'started', nowMs: 0, epoch: 1n, start: g(0), state, membership: initialMembership(['r1', 'r2']), last: undefined });
  r.handle({ type: 'message', nowMs: 0, msg: { type: 'ack', origin: 'r1', region: 'r2', applied: g(0), gap: false } });
  // Two mark-only batches, (0, 10] and (10, 20], each shipped to r2 as it is cut.
  const mark = (nowMs: number, from: number, to: number) => r.handle({ type: 'feed', nowMs, node: 'r1-d1', from: g(from), to: g(to), batch: EMPTY_BATCH });
  const secondAt = 10 + DEFAULT_TIMING.markDelayMs;
  const [first] = shipsTo('r2', mark(10, 0, 10));
  const [second] = shipsTo('r2', mark(secondAt, 10, 20));
  t.deepEqual([first?.from, second?.from], [g(0), g(10)]);

  const refusedAt = secondAt + 1;
  const retryAt = refusedAt + DEFAULT_TIMING.retryMs;
  const out = r.handle({ type: 'refused', nowMs: refusedAt, to: 'r2', ship: first! });
  t.deepEqual(shipsTo('r2', out), [], 'not again at once');
  const wake = out.find((a) => a.type === 'wakeAt');
  t.true(wake !== undefined && wake.atMs <= retryAt, 'a wake-up for the retry');
  t.deepEqual(shipsTo('r2', r.handle({ type: 'tick', nowMs: retryAt - 1 })), []);
  const again = shipsTo('r2', r.handle({ type: 'tick', nowMs: retryAt }));
  t.deepEqual(
    again.map((s) => [s.from, s.to]),
    [
      [g(0), g(10)],
      [g(10), g(20)],
    ],
  );
});

test('a Ship the transport delivered holds off the resend: the stream goes again only resendAfterMs after the last delivery without an Ack', (t) => {
  const r = new Replicator({ region: 'r1', regions: ['r1', 'r2'], originIds: (region) => [`${region}-d1`], timing: DEFAULT_TIMING, limits: DEFAULT_LIMITS });
  const state = { applied: new Map(), appliedFloor: GLT_ZERO, frontier: GLT_ZERO, membershipApplied: 1, horizon: GLT_ZERO };
  r.handle({ type: 'started', nowMs: 0, epoch: 1n, start: g(0), state, membership: initialMembership(['r1', 'r2']), last: undefined });
  r.handle({ type: 'message', nowMs: 0, msg: { type: 'ack', origin: 'r1', region: 'r2', applied: g(0), gap: false } });
  const [first] = shipsTo('r2', r.handle({ type: 'feed', nowMs: 10, node: 'r1-d1', from: g(0), to: g(10), batch: EMPTY_BATCH }));
  t.truthy(first);
  const deliveredAt = 10 + DEFAULT_TIMING.resendAfterMs - 1;
  r.handle({ type: 'delivered', nowMs: deliveredAt, to: 'r2', ship: first! });
  t.deepEqual(shipsTo('r2', r.handle({ type: 'tick', nowMs: 11 + DEFAULT_TIMING.resendAfterMs })), [], 'no Ack yet, but delivered since: not stalled');
  const again = shipsTo('r2', r.handle({ type: 'tick', nowMs: deliveredAt + DEFAULT_TIMING.resendAfterMs + 1 }));
  t.deepEqual(
    again.map((s) => [s.from, s.to]),
    [[g(0), g(10)]],
    'resendAfterMs after the delivery, still no Ack: resent',
  );
});
