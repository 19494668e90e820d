// A role process whose shutdown cannot finish on its own: one cleanup never settles and
// one handle is never closed. argv: <topology file> <etcd endpoints, comma-separated>.
// Logs JSON lines on stdout like every role; prints "ready" once registered.
import { RoleRuntime } from '../../cluster/role-runtime.js';
import { loadTopology } from '../../topology/load.js';

const [file, endpoints] = process.argv.slice(2) as [string, string];
const loaded = loadTopology(file);
const topology = { ...loaded, etcd: { ...loaded.etcd, endpoints: endpoints.split(',') } };
const coordinator = topology.coordinators[0]!;
const rt = await RoleRuntime.open(topology, { role: 'coordinator', id: coordinator.id, metrics: coordinator.metrics });
const stopped = rt.untilShutdown();
rt.onShutdown('stuck step', () => new Promise<void>(() => {}));
setInterval(() => {}, 1000);
await rt.ready();
process.stdout.write('ready\n');
await stopped;
