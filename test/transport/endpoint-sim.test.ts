import test from 'ava';
import { Random } from '../../transport/random.js';
import { A, B, run, simPair } from './sim.js';

test('a message crosses a perfect link and send resolves after delivery', async (t) => {
  const s = simPair(1, { delayMs: 10, jitterMs: 0, loss: 0 });
  let deliveredWhenResolved = false;
  const sent = s.a.send(B, Buffer.from('hello')).then(() => {
    deliveredWhenResolved = s.atB.length === 1;
  });
  t.true(await run(s.clock, () => deliveredWhenResolved, 5000));
  await sent;
  t.is(s.atB[0]!.data.toString(), 'hello');
  t.is(s.atB[0]!.peer, A);
  const back = s.b.send(A, Buffer.from('world'));
  t.true(await run(s.clock, () => s.atA.length === 1, 5000));
  await back;
  t.is(s.atA[0]!.data.toString(), 'world');
  void new Random(1);
});
