import test from 'ava';
import { A, B, run, simPair } from './sim.js';

test('a message crosses a link each way; send resolves only after delivery', async (t) => {
  const s = simPair(1, { delayMs: 10, jitterMs: 0, loss: 0 });
  let deliveredWhenResolved: boolean | undefined;
  void s.a.send(B, Buffer.from('hello')).then(() => (deliveredWhenResolved = s.atB.length === 1));
  t.true(await run(s.clock, () => deliveredWhenResolved !== undefined, 5000));
  t.true(deliveredWhenResolved);
  t.is(s.atB[0]!.data.toString(), 'hello');
  t.is(s.atB[0]!.peer, A);
  let backResolved = false;
  void s.b.send(A, Buffer.from('world')).then(() => (backResolved = s.atA.length === 1));
  t.true(await run(s.clock, () => backResolved, 5000));
  t.is(s.atA[0]!.data.toString(), 'world');
  t.is(s.a.connectionCount, 1);
});
