import { Option, type Command } from 'commander';
import { catchEarlySignals } from '../../cluster/role-runtime.js';
import { LOG_LEVELS, LOG_LEVEL_ENV } from '../../common/log.js';
import { runDatanode } from '../../datanode/process.js';
import { runCoordinator } from '../../kernel/coordinator-process.js';
import { runLeader } from '../../regional/leader.js';
import { loadTopology } from '../../topology/load.js';
import type { Topology } from '../../topology/types.js';
import { globalOptions } from '../program.js';

const roles: readonly { name: string; what: string; run: (topology: Topology, id: string) => Promise<void> }[] = [
  { name: 'datanode', what: 'a data node: its LevelDB shard, served over gRPC to its region\'s leader', run: runDatanode },
  { name: 'leader', what: 'a regional leader candidate: campaigns in its region\'s election and, when elected, serves KV and Snapshots', run: runLeader },
  { name: 'coordinator', what: 'a global coordinator candidate: campaigns in the coordinator election', run: runCoordinator },
];

/** `aetherflow datanode|leader|coordinator --id ID`: one role of the topology, in the foreground (what `up` spawns). */
export function registerRoles(program: Command): void {
  for (const role of roles) {
    program
      .command(role.name)
      .description(`run ${role.what}; logs JSON lines on stdout, serves /metrics and /healthz, stops on SIGTERM`)
      .requiredOption('--id <id>', `the ${role.name}'s id in the topology`)
      .addOption(logLevelOption())
      .action(async (o: { id: string; logLevel?: string }, cmd: Command) => {
        catchEarlySignals();
        if (o.logLevel) process.env[LOG_LEVEL_ENV] = o.logLevel;
        const topology = loadTopology(globalOptions(cmd).topology);
        await role.run(topology, o.id);
      });
  }
}

/** `--log-level`: the level a process starts at; `aetherflow settings set logLevel=…` changes it live. */
export function logLevelOption(): Option {
  return new Option('--log-level <level>', 'log level at start (the etcd setting logLevel changes it live)').choices(LOG_LEVELS);
}
