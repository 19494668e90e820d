import test from 'ava';
import { decodePacket, Flag, hasFlag } from '../../transport/packet.js';
import { Random } from '../../common/random.js';
import { B, run, simPair } from './sim.js';

async function counter(c: { get(): Promise<{ values: { value: number }[] }> }): Promise<number> {
  return (await c.get()).values.reduce((sum, v) => sum + v.value, 0);
}

test('FEC rebuilds a single lost packet of a group: no retransmission', async (t) => {
  let dataSeen = 0;
  let droppedSeq: number | undefined;
  const s = simPair(11, { delayMs: 20, jitterMs: 0, loss: 0 }, {
    extra: { fec: { k: 4, flushAfterMs: 5, lossWindowPackets: 100, minParity: 1 } },
    tap: (from, d) => {
      const p = decodePacket(d);
      if (from === 'A' && p.ok && hasFlag(p.packet, Flag.DATA) && ++dataSeen === 3) {
        droppedSeq = p.packet.sequence;
        return [];
      }
      return [d];
    },
  });
  const message = new Random(3).bytes(10_000);
  let resolved = false;
  void s.a.send(B, message).then(() => (resolved = true));
  t.true(await run(s.clock, () => resolved, 10_000));
  t.not(droppedSeq, undefined);
  t.true(s.atB[0]!.data.equals(message));
  t.is(await counter(s.metricsB.fecRecoveries), 1);
  t.is(await counter(s.metricsA.retransmissions), 0);
  t.true((await counter(s.metricsA.fecParitySent)) > 0);
});

test('FEC stays off on a clean link and turns on as loss appears', async (t) => {
  const clean = simPair(12, { delayMs: 10, jitterMs: 0, loss: 0 });
  let resolved = false;
  void clean.a.send(B, new Random(1).bytes(2_000_000)).then(() => (resolved = true));
  t.true(await run(clean.clock, () => resolved, 60_000));
  t.is(await counter(clean.metricsA.fecParitySent), 0);

  const lossy = simPair(13, { delayMs: 10, jitterMs: 0, loss: 0.03 });
  resolved = false;
  void lossy.a.send(B, new Random(1).bytes(2_000_000)).then(() => (resolved = true));
  t.true(await run(lossy.clock, () => resolved, 60_000));
  t.true((await counter(lossy.metricsA.fecParitySent)) > 0);
  t.true((await counter(lossy.metricsB.fecRecoveries)) > 0);
});
