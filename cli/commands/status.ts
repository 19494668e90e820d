import type { Command } from 'commander';
import { currentLeader } from '../../cluster/election.js';
import { connectEtcd, etcdCall } from '../../cluster/etcd.js';
import { clusterPaths } from '../../cluster/paths.js';
import { listServices } from '../../cluster/registry.js';
import { formatGlt, parseGlt } from '../../glts/glt.js';
import { decodeCommitRecord, decodeMembership } from '../../kernel/records.js';
import { etcdEndpoints } from '../../topology/local-etcd.js';
import { loadTopology } from '../../topology/load.js';
import { printJson, printTable } from '../output.js';
import { globalOptions } from '../program.js';

/** Commit records shown under "last rounds". */
const LAST_ROUNDS = 5;

/** `aetherflow status`: the coordinator, each region's leader, data nodes and frontier, and the last rounds — read from etcd. */
export function registerStatus(program: Command): void {
  program
    .command('status')
    .description('coordinator (id, epoch), regions (leader, data nodes, member or excluded, frontier, lag), last rounds — as etcd knows them')
    .action(async (_o: unknown, cmd: Command) => {
      const opts = globalOptions(cmd);
      const topology = loadTopology(opts.topology);
      const paths = clusterPaths(topology.name);
      const client = connectEtcd(etcdEndpoints(topology));
      try {
        const [coordinator, services, membershipKv, commitKvs] = await Promise.all([
          currentLeader(client, paths.electionPrefix(paths.coordinatorElection)),
          listServices(client, paths),
          etcdCall('read membership', () => client.get(paths.membership).exec()),
          etcdCall('read commits', () => client.getAll().prefix(paths.commitsPrefix).sort('Key', 'Descend').limit(LAST_ROUNDS).exec()),
        ]);
        const membership = membershipKv.kvs[0] ? decodeMembership(membershipKv.kvs[0].value) : undefined;
        const regions = await Promise.all(
          topology.regions.map(async (r) => {
            const leader = await currentLeader(client, paths.electionPrefix(paths.leaderElection(r.name)));
            const leaderService = leader ? services.find((s) => s.role === 'leader' && s.id === leader.value.id) : undefined;
            const frontierText = typeof leaderService?.status?.['frontier'] === 'string' ? leaderService.status['frontier'] : undefined;
            const frontier = frontierText ? parseGlt(frontierText) : undefined;
            const excluded = membership?.ok ? membership.value.excluded.some((e) => e.region === r.name) : false;
            return {
              name: r.name,
              leader: leader ? { id: leader.value.id, epoch: leader.epoch, grpc: leader.value['grpc'] } : null,
              // No record yet: every region is a member (the initial membership).
              membership: membership === undefined ? 'member' : membership.ok ? (excluded ? 'excluded' : 'member') : 'unknown',
              frontier: frontier ? formatGlt(frontier) : null,
              // As the leader measured it when it last published (about once a second).
              lagMs: typeof leaderService?.status?.['lagMs'] === 'number' ? leaderService.status['lagMs'] : null,
              leaders: r.leaders.map((l) => ({ id: l.id, up: services.some((s) => s.role === 'leader' && s.id === l.id) })),
              datanodes: r.datanodes.map((d) => {
                const s = services.find((x) => x.role === 'datanode' && x.id === d.id);
                return { id: d.id, up: s !== undefined, ...(s ? { pid: s.pid } : {}) };
              }),
            };
          }),
        );
        const rounds = commitKvs.kvs.flatMap((kv) => {
          const d = decodeCommitRecord(kv.value);
          return d.ok ? [{ glt: formatGlt(d.value.T), members: d.value.members, epoch: d.value.epoch, coordinator: d.value.coordinator, beginToReadyMs: d.value.beginToReadyMs }] : [];
        });
        const coord = coordinator ? { id: coordinator.value.id, epoch: coordinator.epoch } : null;
        const coordinators = topology.coordinators.map((c) => ({ id: c.id, up: services.some((s) => s.role === 'coordinator' && s.id === c.id) }));
        if (opts.json) {
          printJson({ name: topology.name, coordinator: coord, coordinators, regions, rounds });
          return;
        }
        const upList = (xs: readonly { id: string; up: boolean }[]): string => xs.map((x) => `${x.id}${x.up ? '' : ' (down)'}`).join(', ');
        process.stdout.write(`deployment ${topology.name}: coordinator ${coord ? `${coord.id} (epoch ${coord.epoch})` : 'none elected'}; candidates ${upList(coordinators)}\n\n`);
        printTable(
          ['region', 'leader', 'epoch', 'membership', 'frontier', 'lag ms', 'candidates', 'data nodes'],
          regions.map((r) => [r.name, r.leader?.id ?? 'none', r.leader?.epoch, r.membership, r.frontier, r.lagMs, upList(r.leaders), upList(r.datanodes)]),
        );
        if (rounds.length > 0) {
          process.stdout.write('\nlast rounds\n');
          printTable(['glt', 'members', 'epoch', 'coordinator', 'begin→ready ms'], rounds.map((x) => [x.glt, x.members.join(','), x.epoch, x.coordinator, x.beginToReadyMs]));
        }
      } finally {
        client.close();
      }
    });
}
