import type { Command } from 'commander';
import { connectEtcd } from '../../cluster/etcd.js';
import { etcdEndpoints } from '../../topology/local-etcd.js';
import { loadTopology } from '../../topology/load.js';
import { formatClusterStatus, readClusterStatus } from '../cluster-status.js';
import { printJson } from '../output.js';
import { globalOptions } from '../program.js';
import { parseCount } from './client-options.js';

/** Commit records read for the round figures (p50, p99, rounds/s). */
const STATUS_ROUNDS = 100;

/** `aetherflow status`: the coordinator, each region's leader, data nodes and frontier, excluded regions and the last rounds — read from etcd. */
export function registerStatus(program: Command): void {
  program
    .command('status')
    .description('coordinator (id, epoch), regions (leader, data nodes, member or excluded, frontier, lag), excluded regions, last rounds — as etcd knows them')
    .option('--rounds <n>', 'rounds listed (the figures use the last 100)', parseCount('--rounds'), 5)
    .action(async (o: { rounds: number }, cmd: Command) => {
      const opts = globalOptions(cmd);
      const topology = loadTopology(opts.topology);
      const client = connectEtcd(etcdEndpoints(topology));
      try {
        const status = await readClusterStatus(client, topology, Math.max(STATUS_ROUNDS, o.rounds));
        if (opts.json) printJson({ ...status, rounds: status.rounds.slice(0, o.rounds) });
        else process.stdout.write(formatClusterStatus(status, o.rounds) + '\n');
      } finally {
        client.close();
      }
    });
}
