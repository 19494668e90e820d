import test from 'ava';
import { Registry } from 'prom-client';
import { silentLogger } from '../../common/log.js';
import { freePort } from '../../topology/local-etcd.js';
import type { Topology } from '../../topology/types.js';
import { glt } from '../../glts/glt.js';
import { COORDINATOR, type Message } from '../../kernel/messages.js';
import { PeerAddresses, type PeerResolver } from '../../kernel/peer-directory.js';
import { COORDINATOR_SIDE, CONTROL_STREAM, PeerTransport, type PeerTransportLimits } from '../../kernel/peer-transport.js';
import { encodeMessage } from '../../kernel/wire.js';
import { Endpoint, type QuantumMessage } from '../../transport/index.js';
import { eventually } from '../cluster/etcd-fixture.js';

// Stream messages over real Quantum endpoints on loopback, addressed by region name,
// delivered only from the elected process of the side they claim.

const address = async () => `127.0.0.1:${await freePort()}`;

/** A directory whose elections the test decides. */
class Elections implements PeerResolver {
  readonly elected = new Map<string, string>();
  resolve(name: string): string | undefined {
    return this.elected.get(name);
  }
}

function topologyOf(regions: Record<string, string[]>, coordinators: string[]): Topology {
  return {
    regions: Object.entries(regions).map(([name, leaders]) => ({ name, leaders: leaders.map((quantum) => ({ quantum })) })),
    coordinators: coordinators.map((quantum) => ({ region: Object.keys(regions)[0], quantum })),
    links: { default: { delayMs: 0, jitterMs: 0, loss: 0 }, overrides: [] },
    storage: { sync: true },
    // Quantum's metrics and peers, not its security, are under test here.
    security: { insecure: true, certsDir: '.aetherflow/certs', quantumKeyFile: null, etcd: { caFile: null, certFile: null, keyFile: null, username: null, passwordFile: null } },
  } as unknown as Topology;
}

async function dropped(registry: Registry): Promise<Record<string, number>> {
  const m = await registry.getSingleMetric('stream_messages_dropped_total')!.get();
  return Object.fromEntries(m.values.filter((v) => v.value > 0).map((v) => [String(v.labels['reason']), v.value]));
}

const T = glt(1_763_751_000_123_456_789n);
const ack = (region: string, origin = 'r1'): Message => ({ type: 'ack', origin, region, applied: T, gap: false });
const progress = (region: string): Message => ({ type: 'progress', region, leaderEpoch: 1n, applied: [{ origin: region, ts: T }], membershipApplied: 1, frontier: T });
const membership = { version: 1, members: ['r1', 'r2'], excluded: [], restamps: [] };
const commit = (epoch: bigint): Message => ({
  type: 'commit',
  epoch,
  record: { T, epoch, members: ['r1', 'r2'], membershipVersion: 1, coordinator: 'c', decideMs: 0, lagMs: 0 },
  membership,
  persistMs: 0,
});
const ship = (origin: string, region: string, delta: Buffer): Message => ({ type: 'ship', origin, region, from: glt(0n), to: T, horizon: glt(0n), delta, count: 1 });

interface Opened {
  readonly transport: PeerTransport;
  readonly registry: Registry;
  readonly got: { m: Message; from: string }[];
}

async function openAll(topology: Topology, directory: PeerResolver, sides: [string, string][], limits?: Partial<PeerTransportLimits>): Promise<Opened[]> {
  return Promise.all(
    sides.map(async ([addr, self]) => {
      const registry = new Registry();
      const transport = await PeerTransport.open({ topology, nodeId: addr, address: addr, self, linkRegion: 'r1', directory, registry, log: silentLogger(), ...(limits ? { limits } : {}) });
      const got: { m: Message; from: string }[] = [];
      transport.onMessage((m, from) => void got.push({ m, from }));
      return { transport, registry, got };
    }),
  );
}

test('messages reach a region by name; a partition with the coordinator side cuts both directions until healed', async (t) => {
  const [a, c] = [await address(), await address()];
  const topology = topologyOf({ r1: [a] }, [c]);
  const directory = new Elections();
  directory.elected.set('r1', a).set(COORDINATOR, c);
  const [leader, coordinator] = await openAll(topology, directory, [
    [a, 'r1'],
    [c, COORDINATOR_SIDE],
  ]);
  t.teardown(async () => {
    await leader!.transport.close();
    await coordinator!.transport.close();
  });
  // Packets (acks of the coordinator's sends too) from r1's leader count as r1 heard.
  const heard: string[] = [];
  coordinator!.transport.onHeard((side) => heard.push(side));
  const commits = (epoch: bigint) => leader!.got.some((g) => g.m.type === 'commit' && g.m.epoch === epoch && g.from === COORDINATOR);
  const progressed = () => coordinator!.got.some((g) => g.m.type === 'progress' && g.from === 'r1');

  t.true(coordinator!.transport.knows('r1'));
  t.false(coordinator!.transport.knows('r2'));
  t.is(coordinator!.transport.send('r2', commit(9n)), 0, 'nobody to send to');
  t.true(coordinator!.transport.send('r1', commit(1n)) > 0);
  await eventually(() => (commits(1n) ? true : undefined), 10_000, 'commit delivered');
  await eventually(() => (heard.includes('r1') ? true : undefined), 10_000, 'r1 heard');
  t.deepEqual([...new Set(heard)], ['r1']);

  const cut = [{ from: 'r1', to: COORDINATOR_SIDE }];
  leader!.transport.applyPartitions(cut);
  coordinator!.transport.applyPartitions(cut);
  coordinator!.transport.send('r1', commit(2n));
  leader!.transport.send(COORDINATOR, progress('r1'));
  await new Promise((resolve) => setTimeout(resolve, 100));
  heard.length = 0;
  await new Promise((resolve) => setTimeout(resolve, 200));
  t.deepEqual(heard, [], 'cut: nothing heard of r1');
  t.false(commits(2n), 'cut: coordinator → leader');
  t.false(progressed(), 'cut: leader → coordinator');

  leader!.transport.applyPartitions([]);
  coordinator!.transport.applyPartitions([]);
  coordinator!.transport.send('r1', commit(3n));
  leader!.transport.send(COORDINATOR, progress('r1'));
  await eventually(() => (commits(3n) ? true : undefined), 15_000, 'healed: coordinator → leader');
  await eventually(() => (progressed() ? true : undefined), 15_000, 'healed: leader → coordinator');
});

test('only the elected process of the side a message claims is heard: standbys, deposed coordinators, impostors and strangers are dropped and counted', async (t) => {
  const [x, a1, a2, b, c1, c2, stranger] = await Promise.all(Array.from({ length: 7 }, address));
  const topology = topologyOf({ r1: [a1!, a2!], r2: [b!], r3: [x!] }, [c1!, c2!]);
  const directory = new Elections();
  directory.elected.set('r1', a1!).set('r2', b!).set('r3', x!).set(COORDINATOR, c1!);
  const opened = await openAll(topology, directory, [
    [x!, 'r3'],
    [a1!, 'r1'],
    [a2!, 'r1'],
    [b!, 'r2'],
    [c1!, COORDINATOR_SIDE],
    [c2!, COORDINATOR_SIDE],
  ]);
  const [atX, leaderA1, standbyA2, leaderB, coord1, coord2] = opened;
  const raw = await Endpoint.bind(stranger!);
  t.teardown(async () => {
    for (const o of opened) await o.transport.close();
    await raw.close();
  });

  // Delivered, with the side it came from.
  leaderA1!.transport.send('r3', ack('r1'));
  leaderB!.transport.send('r3', ship('r1', 'r2', Buffer.from('a relayed batch')));
  coord1!.transport.send('r3', commit(1n));
  // Dropped.
  standbyA2!.transport.send('r3', progress('r1')); // a standby of r1
  coord2!.transport.send('r3', commit(1n)); // a coordinator candidate not elected
  leaderB!.transport.send('r3', ack('r1')); // r2's leader speaking for r1
  leaderB!.transport.send('r3', commit(5n)); // a leader sending a Commit
  await raw.send(x!, encodeMessage(ack('r1'))); // no topology peer
  await raw.send(x!, Buffer.from('not an envelope'));
  const v3 = encodeMessage(ack('r1'));
  v3[1] = 3; // the envelope's protocol field
  await raw.send(x!, v3);

  const expected = { malformed: 1, protocol: 1, unknown_sender: 1, not_elected: 2, wrong_region: 2 };
  const total = (o: Record<string, number>) => Object.values(o).reduce((a, b) => a + b, 0);
  await eventually(async () => (total(await dropped(atX!.registry)) === total(expected) && atX!.got.length === 3 ? true : undefined), 10_000, 'all received');
  t.deepEqual(atX!.got.map((g) => `${g.m.type} from ${g.from}`).sort(), ['ack from r1', 'commit from @coordinator', 'ship from r2']);
  t.deepEqual(await dropped(atX!.registry), expected);

  // Coordinator failover: the deposed coordinator is dropped, the new one heard.
  directory.elected.set(COORDINATOR, c2!);
  coord1!.transport.send('r3', commit(6n));
  coord2!.transport.send('r3', commit(7n));
  await eventually(() => (atX!.got.some((g) => g.m.type === 'commit' && g.m.epoch === 7n) ? true : undefined), 10_000, 'the new coordinator heard');
  await eventually(async () => ((await dropped(atX!.registry))['not_elected'] === 3 ? true : undefined), 10_000, 'the deposed one dropped');
  t.false(atX!.got.some((g) => g.m.type === 'commit' && g.m.epoch === 6n));
});

test('control messages on stream 0, Ships on a stream per origin; one encoded Ship goes to several peers as is; bytes sent are counted per peer', async (t) => {
  const [a, b, c, d] = await Promise.all(Array.from({ length: 4 }, address));
  const topology = topologyOf({ r1: [a!], r2: [b!], r3: [c!] }, [d!]);
  const directory = new Elections();
  directory.elected.set('r1', a!).set('r2', b!).set('r3', c!).set(COORDINATOR, d!);
  const [sender] = await openAll(topology, directory, [[a!, 'r1']]);
  const peers = await Promise.all([b!, c!].map((addr) => Endpoint.bind(addr)));
  const seen: QuantumMessage[][] = peers.map(() => []);
  peers.forEach((p, i) => p.onMessage((qm) => void seen[i]!.push(qm)));
  t.teardown(async () => {
    await sender!.transport.close();
    for (const p of peers) await p.close();
  });

  const own = ship('r1', 'r1', Buffer.alloc(10_000, 1));
  const bytes = encodeMessage(own);
  t.is(sender!.transport.sendEncoded('r2', own, bytes), bytes.length);
  t.is(sender!.transport.sendEncoded('r3', own, bytes), bytes.length);
  const relayed = ship('r3', 'r1', Buffer.alloc(10, 3));
  const relayedBytes = sender!.transport.send('r2', relayed);
  const control = sender!.transport.send('r2', ack('r1', 'r2'));
  t.is(sender!.transport.send('r2', ship('mars', 'r1', Buffer.alloc(1))), 0, 'an origin outside the topology has no stream');
  await eventually(() => (seen[0]!.length === 3 && seen[1]!.length === 1 ? true : undefined), 10_000, 'delivered');
  const streams = (qms: QuantumMessage[]) => Object.fromEntries(qms.map((qm) => [qm.data.length, qm.streamId]));
  t.deepEqual(streams(seen[0]!), { [bytes.length]: 1, [relayedBytes]: 3, [control]: CONTROL_STREAM });
  t.true(seen[1]![0]!.data.equals(bytes));
  const sent = await sender!.registry.getSingleMetric('stream_bytes_sent_total')!.get();
  t.deepEqual(Object.fromEntries(sent.values.map((v) => [String(v.labels['peer']), v.value])), { r2: bytes.length + relayedBytes + control, r3: bytes.length });
});

test('sends in flight are bounded per peer; Ships by bytes too, without holding control messages back', async (t) => {
  const [a, silent] = await Promise.all([address(), address()]);
  const topology = topologyOf({ r1: [a], r2: [silent] }, []);
  const directory = new Elections();
  // Nothing listens at r2's address: no send completes.
  directory.elected.set('r1', a).set('r2', silent);
  const [sender] = await openAll(topology, directory, [[a, 'r1']], { maxInFlight: 3, maxInFlightBytes: 5000 });
  t.teardown(() => sender!.transport.close());
  const s = sender!.transport;
  t.true(s.send('r2', ship('r1', 'r1', Buffer.alloc(4000))) > 0);
  t.true(s.send('r2', ship('r1', 'r1', Buffer.alloc(500))) > 0);
  t.is(s.send('r2', ship('r1', 'r1', Buffer.alloc(1000))), 0, 'over the bytes bound');
  t.true(s.send('r2', ship('r1', 'r1', Buffer.alloc(0))) > 0);
  t.is(s.send('r2', ship('r1', 'r1', Buffer.alloc(0))), 0, 'over the count bound');
  for (let i = 0; i < 3; i++) t.true(s.send('r2', ack('r1', 'r2')) > 0, 'control messages have their own bound');
  t.is(s.send('r2', ack('r1', 'r2')), 0);
});

test('a topology naming hosts: datagrams from the IP a name resolves to count as that peer, again after it moves', async (t) => {
  const [x, b] = [await address(), await address()];
  const bPort = b.split(':')[1]!;
  const named = `r2-leader.example:${bPort}`;
  const topology = topologyOf({ r1: [x], r2: [named] }, []);
  const directory = new Elections();
  directory.elected.set('r1', x).set('r2', named);
  let ip = '127.0.0.2';
  const lookupHost = async (host: string) => (host === 'r2-leader.example' ? [{ address: ip }] : []);
  const registry = new Registry();
  const atX = await PeerTransport.open({ topology, nodeId: x, address: x, self: 'r1', linkRegion: 'r1', directory, registry, log: silentLogger(), lookupHost });
  const got: string[] = [];
  atX.onMessage((m, from) => void got.push(`${m.type} from ${from}`));
  const raw = await Endpoint.bind(b);
  t.teardown(async () => {
    await atX.close();
    await raw.close();
  });
  // Resolved to 127.0.0.2 first: 127.0.0.1 is a stranger, and makes it resolve again (the peer moved).
  ip = '127.0.0.1';
  await raw.send(x, encodeMessage(ack('r2')));
  t.deepEqual(await dropped(registry), { unknown_sender: 1 });
  t.deepEqual(got, []);
  // Once a second has passed, the next stranger's packet has the name resolved again.
  await eventually(async () => {
    await raw.send(x, encodeMessage(ack('r2')));
    return got.length > 0 ? true : undefined;
  }, 5000, 'heard once resolved');
  t.deepEqual(got, ['ack from r2']);
});

test('PeerAddresses: literal addresses are their own source; names resolve at most once a second, a failed lookup keeps the last answer', async (t) => {
  let answer: string[] | Error = ['10.0.0.5', 'fd00::5'];
  let lookups = 0;
  const book = new PeerAddresses(['127.0.0.1:7000', 'leader.example:7001'], silentLogger(), async () => {
    lookups++;
    if (answer instanceof Error) throw answer;
    return answer.map((address) => ({ address }));
  });
  t.is(book.of('127.0.0.1:7000'), '127.0.0.1:7000');
  await book.refresh();
  t.is(book.of('10.0.0.5:7001'), 'leader.example:7001');
  t.is(book.of('[fd00::5]:7001'), 'leader.example:7001');
  t.is(book.of('10.0.0.5:7000'), undefined);
  t.is(lookups, 1);
  await book.refresh();
  t.is(lookups, 1, 'not again within a second');
  answer = new Error('SERVFAIL');
  await new Promise((resolve) => setTimeout(resolve, 1010));
  await book.refresh();
  t.is(lookups, 2);
  t.is(book.of('10.0.0.5:7001'), 'leader.example:7001', 'kept');
  t.is(new PeerAddresses(['127.0.0.1:1']).of('127.0.0.1:1'), '127.0.0.1:1');
});
