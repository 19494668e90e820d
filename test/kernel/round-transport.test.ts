import test from 'ava';
import { Registry } from 'prom-client';
import { silentLogger } from '../../common/log.js';
import { freePort } from '../../topology/local-etcd.js';
import type { Topology } from '../../topology/types.js';
import { glt } from '../../glts/glt.js';
import { COORDINATOR, type Message } from '../../kernel/messages.js';
import type { PeerDirectory } from '../../kernel/peer-directory.js';
import { COORDINATOR_SIDE, RoundTransport } from '../../kernel/round-transport.js';
import { eventually } from '../cluster/etcd-fixture.js';

// Round messages over real Quantum endpoints on loopback, addressed by region name; the
// settings' partitions cut and heal the links between sides.

test('messages reach a region by name; a partition with the coordinator side cuts both directions until healed', async (t) => {
  const [a, c] = [`127.0.0.1:${await freePort()}`, `127.0.0.1:${await freePort()}`];
  const topology = {
    regions: [{ name: 'r1', leaders: [{ quantum: a }] }],
    coordinators: [{ region: 'r1', quantum: c }],
    links: { default: { delayMs: 0, jitterMs: 0, loss: 0 }, overrides: [] },
    security: { quantumKeyFile: null },
  } as unknown as Topology;
  const names = new Map([['r1', a], [COORDINATOR, c]]);
  const directory = { resolve: (n: string) => names.get(n) } as unknown as PeerDirectory;
  const open = (address: string, self: string) => RoundTransport.open({ topology, address, self, linkRegion: 'r1', directory, registry: new Registry(), log: silentLogger() });
  const leader = await open(a, 'r1');
  const coordinator = await open(c, COORDINATOR_SIDE);
  t.teardown(async () => {
    await leader.close();
    await coordinator.close();
  });
  const atLeader: Message[] = [];
  const atCoordinator: Message[] = [];
  leader.onMessage((m) => atLeader.push(m));
  coordinator.onMessage((m) => atCoordinator.push(m));
  // Packets (acks of the coordinator's sends too) from r1's leader count as r1 heard.
  const heard: string[] = [];
  coordinator.onHeard((side) => heard.push(side));
  const abort = (roundId: number): Message => ({ type: 'abort', epoch: 1n, roundId, T: glt(BigInt(roundId)) });
  const join = (): Message => ({ type: 'join', region: 'r1', frontier: glt(0n) });

  t.true(coordinator.knows('r1'));
  t.false(coordinator.knows('r2'));
  t.is(coordinator.send('r2', abort(9)), 0, 'nobody to send to');
  t.true(coordinator.send('r1', abort(1)) > 0);
  await eventually(() => (atLeader.some((m) => m.type === 'abort' && m.roundId === 1) ? true : undefined), 10_000, 'abort delivered');
  await eventually(() => (heard.includes('r1') ? true : undefined), 10_000, 'r1 heard');
  t.deepEqual([...new Set(heard)], ['r1']);

  const cut = [{ from: 'r1', to: COORDINATOR_SIDE }];
  leader.applyPartitions(cut);
  coordinator.applyPartitions(cut);
  coordinator.send('r1', abort(2));
  leader.send(COORDINATOR, join());
  await new Promise((resolve) => setTimeout(resolve, 100));
  heard.length = 0;
  await new Promise((resolve) => setTimeout(resolve, 200));
  t.deepEqual(heard, [], 'cut: nothing heard of r1');
  t.false(atLeader.some((m) => m.type === 'abort' && m.roundId === 2), 'cut: coordinator → leader');
  t.false(atCoordinator.some((m) => m.type === 'join'), 'cut: leader → coordinator');

  leader.applyPartitions([]);
  coordinator.applyPartitions([]);
  coordinator.send('r1', abort(3));
  leader.send(COORDINATOR, join());
  await eventually(() => (atLeader.some((m) => m.type === 'abort' && m.roundId === 3) ? true : undefined), 15_000, 'healed: coordinator → leader');
  await eventually(() => (atCoordinator.some((m) => m.type === 'join') ? true : undefined), 15_000, 'healed: leader → coordinator');
});
