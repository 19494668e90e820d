import test from 'ava';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Registry } from 'prom-client';
import { silentLogger } from '../../common/log.js';
import { glt } from '../../glts/glt.js';
import { COORDINATOR, type Message } from '../../kernel/messages.js';
import type { PeerResolver } from '../../kernel/peer-directory.js';
import { COORDINATOR_SIDE, PeerTransport } from '../../kernel/peer-transport.js';
import { encodeMessage } from '../../kernel/wire.js';
import { ensureCertificates } from '../../security/certs-dir.js';
import { freePort } from '../../topology/local-etcd.js';
import type { Topology } from '../../topology/types.js';
import { Endpoint, loadQuantumCredentials } from '../../transport/index.js';
import { eventually } from '../cluster/etcd-fixture.js';

// Secure by default: stream messages are judged by the node id their sender proved in
// Quantum's handshake, whatever address its datagrams come from.

const address = async () => `127.0.0.1:${await freePort()}`;

class Elections implements PeerResolver {
  readonly elected = new Map<string, string>();
  resolve(name: string): string | undefined {
    return this.elected.get(name);
  }
}

async function dropped(registry: Registry): Promise<Record<string, number>> {
  const m = await registry.getSingleMetric('stream_messages_dropped_total')!.get();
  return Object.fromEntries(m.values.filter((v) => v.value > 0).map((v) => [String(v.labels['reason']), v.value]));
}

const T = glt(1_763_751_000_123_456_789n);
const ack = (region: string, origin = 'r1'): Message => ({ type: 'ack', origin, region, applied: T, gap: false });
const progress = (region: string): Message => ({ type: 'progress', region, leaderEpoch: 1n, applied: [{ origin: region, ts: T }], membershipApplied: 1, frontier: T });
const commit = (epoch: bigint): Message => ({
  type: 'commit',
  epoch,
  record: { T, epoch, members: ['r1', 'r2'], membershipVersion: 1, coordinator: 'c', decideMs: 0, lagMs: 0 },
  membership: { version: 1, members: ['r1', 'r2'], excluded: [], restamps: [] },
  persistMs: 0,
});

test('secure: only the elected node of the claimed side is heard, by its proven id — its address alone proves nothing', async (t) => {
  const [x, a1, a2, c1, elsewhere] = await Promise.all(Array.from({ length: 5 }, address));
  const certsDir = await mkdtemp(join(tmpdir(), 'aetherflow-certs-'));
  const leader = (id: string, quantum: string) => ({ id, quantum, grpc: '127.0.0.1:1', metrics: '127.0.0.1:2' });
  const topology = {
    name: 'secure-test',
    regions: [
      { name: 'r1', leaders: [leader('r1-l1', a1!), leader('r1-l2', a2!)], datanodes: [] },
      { name: 'r3', leaders: [leader('r3-l1', x!)], datanodes: [] },
    ],
    coordinators: [{ id: 'c1', region: 'r1', quantum: c1!, metrics: '127.0.0.1:3' }],
    links: { default: { delayMs: 0, jitterMs: 0, loss: 0 }, overrides: [] },
    security: { insecure: false, certsDir, quantumKeyFile: null },
  } as unknown as Topology;
  await ensureCertificates(certsDir, topology);
  const directory = new Elections();
  directory.elected.set('r1', a1!).set('r3', x!).set(COORDINATOR, c1!);
  const open = async (nodeId: string, at: string, self: string) => {
    const registry = new Registry();
    const transport = await PeerTransport.open({ topology, nodeId, address: at, self, linkRegion: 'r1', directory, registry, log: silentLogger() });
    const got: string[] = [];
    transport.onMessage((m, from) => void got.push(`${m.type} from ${from}`));
    return { transport, registry, got };
  };
  const atX = await open('r3-l1', x!, 'r3');
  const elected = await open('r1-l1', a1!, 'r1');
  const coordinator = await open('c1', c1!, COORDINATOR_SIDE);
  // The standby r1-l2, with its own valid certificate, bound at the elected leader's address... after that one moves away.
  const standbyCredentials = (await loadQuantumCredentials(topology, 'r1-l2'))!;
  const electedCredentials = (await loadQuantumCredentials(topology, 'r1-l1'))!;
  // The elected leader's own key, from an address no topology peer has.
  const roaming = await Endpoint.bind(elsewhere!, { credentials: electedCredentials });
  // No certificate at all.
  const plain = await Endpoint.bind(await address());
  t.teardown(async () => {
    for (const o of [atX, elected, coordinator]) await o.transport.close();
    await roaming.close();
    await plain.close();
    await rm(certsDir, { recursive: true, force: true });
  });

  elected.transport.send('r3', ack('r1'));
  coordinator.transport.send('r3', commit(1n));
  await eventually(() => (atX.got.length === 2 ? true : undefined), 10_000, 'elected senders heard');

  // Proven r1-l1 from a stranger's address: heard (the id is what counts).
  await roaming.send(x!, encodeMessage(progress('r1')));
  await eventually(() => (atX.got.includes('progress from r1') ? true : undefined), 10_000, 'the proven node heard from anywhere');

  // The elected leader's address taken over by the standby's certificate: not elected.
  await elected.transport.close();
  const impostor = await Endpoint.bind(a1!, { credentials: standbyCredentials });
  t.teardown(() => impostor.close());
  await impostor.send(x!, encodeMessage(ack('r1')));
  // A leader's certificate claiming the coordinator's Commit: wrong side.
  await impostor.send(x!, encodeMessage(commit(2n)));
  await eventually(async () => {
    const d = await dropped(atX.registry);
    return d['not_elected'] === 1 && d['wrong_region'] === 1 ? true : undefined;
  }, 10_000, 'impostor dropped');

  // Without a certificate, no connection: nothing arrives, nothing to count as a stream message.
  await t.throwsAsync(plain.send(x!, encodeMessage(ack('r1'))), { code: 'CONNECTION_RESET' });
  t.deepEqual(atX.got.sort(), ['ack from r1', 'commit from @coordinator', 'progress from r1']);
  t.deepEqual(await dropped(atX.registry), { not_elected: 1, wrong_region: 1 });
});

test('secure: a node without its certificate in certsDir cannot open its transport (CERTIFICATE)', async (t) => {
  const certsDir = await mkdtemp(join(tmpdir(), 'aetherflow-certs-'));
  t.teardown(() => rm(certsDir, { recursive: true, force: true }));
  const topology = {
    regions: [{ name: 'r1', leaders: [{ id: 'l1', quantum: await address() }], datanodes: [] }],
    coordinators: [],
    links: { default: { delayMs: 0, jitterMs: 0, loss: 0 }, overrides: [] },
    security: { insecure: false, certsDir, quantumKeyFile: null },
  } as unknown as Topology;
  await t.throwsAsync(
    PeerTransport.open({ topology, nodeId: 'l1', address: topology.regions[0]!.leaders[0]!.quantum, self: 'r1', linkRegion: 'r1', directory: new Elections(), registry: new Registry(), log: silentLogger() }),
    { code: 'CERTIFICATE' },
  );
});
