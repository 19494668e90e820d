// A cluster member in its own process, so a test can kill it the way a real process dies:
// it registers as a leader and campaigns. argv: <endpoints,comma-separated> <deployment name>
// <election name> <id>; prints "registered" once registered and "leader <epoch>" when elected.
import { connectEtcd } from '../../cluster/etcd.js';
import { ElectionCandidate } from '../../cluster/election.js';
import { clusterPaths } from '../../cluster/paths.js';
import { ServiceRegistration } from '../../cluster/registry.js';

const [endpoints, deployment, election, id] = process.argv.slice(2) as [string, string, string, string];
const client = connectEtcd(endpoints.split(','));
const paths = clusterPaths(deployment);
await ServiceRegistration.register(client, paths, { role: 'leader', id, pid: process.pid, startedAt: new Date().toISOString() }, { ttlSec: 1 });
process.stdout.write('registered\n');
const candidate = new ElectionCandidate(client, paths.root, election, { id });
candidate.onChange((state, epoch) => {
  if (state === 'leader') process.stdout.write(`leader ${epoch}\n`);
});
candidate.start();
