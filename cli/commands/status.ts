import type { Command } from 'commander';
import { connectTopologyEtcd } from '../../cluster/etcd.js';
import { loadTopology } from '../../topology/load.js';
import { formatClusterStatus, readClusterStatus } from '../cluster-status.js';
import { printJson } from '../../common/output.js';
import { globalOptions } from '../program.js';
import { parseCount } from './client-options.js';

/** Commit records read for the commit figures (commits/s, lag and decide percentiles): about 5 s at the default interval. */
const STATUS_COMMITS = 100;

/**
 * `aetherflow status`: the coordinator, each region's leader, membership, frontier and
 * stream lags, excluded regions and the last commits — read from etcd, so it answers with
 * any region or the coordinator down. --json: the document cli/cluster-status.ts describes.
 */
export function registerStatus(program: Command): void {
  program
    .command('status')
    .description('coordinator (id, epoch), regions (leader, membership, frontier and its freshness, stream lags, data nodes), excluded regions, the last commits and their figures — as etcd knows them')
    .option('--commits <n>', `commits listed (the figures use the last ${STATUS_COMMITS} or more)`, parseCount('--commits'), 5)
    .addHelpText(
      'after',
      `
fresh ms: how old the region's readable snapshot was (its leader's clock − the frontier's
wall time) when the leader last published its status, about every second.
own lag ms: how far the region's own stream (its closed mark) trails the clock; holds
others: how far behind it holds each other region. A commit's lag: how far its GLT
trailed the coordinator's clock when decided (the slowest member); decide: interval tick
to decision, against the commit budget.`,
    )
    .action(async (o: { commits: number }, cmd: Command) => {
      const opts = globalOptions(cmd);
      const topology = loadTopology(opts.topology);
      const client = connectTopologyEtcd(topology);
      try {
        const status = await readClusterStatus(client, topology, Math.max(STATUS_COMMITS, o.commits));
        if (opts.json) printJson({ ...status, commits: status.commits.slice(0, o.commits) });
        else process.stdout.write(formatClusterStatus(status, o.commits) + '\n');
      } finally {
        client.close();
      }
    });
}
