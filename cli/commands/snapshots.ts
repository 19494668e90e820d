import type { Command } from 'commander';
import { printJson, printTable } from '../../common/output.js';
import { certsDirOption, gltText, parseCount, withClient } from './client-options.js';

/** The phases a leader reports per snapshot (regional/etcd-snapshot-log.ts); persist only when the coordinator's announcement brought it. */
const PHASES = ['decide', 'persist', 'lag'] as const;

export function registerSnapshots(program: Command): void {
  program
    .command('snapshots')
    .description('committed snapshots, newest first: GLT, members, duration (decide + persist when known), phases (decide, persist, lag)')
    .option('--limit <n>', 'at most N snapshots', parseCount('--limit'), 20)
    .option('--region <name>', "ask this region's leader (default: the first region)")
    .addOption(certsDirOption())
    .addHelpText(
      'after',
      `
decide: the coordinator's interval tick to its decision; persist: the commit record made
durable in etcd (known when the region learnt the commit from the coordinator's
announcement, "-" when from etcd); duration: decide + persist; lag: how far the GLT
trailed the coordinator's clock when decided (the slowest member's lag).

Example:
  aetherflow snapshots --limit 2
  glt                    members                   duration_ms  decide_ms  persist_ms  lag_ms
  1763751000123456789.0  us-east,eu-west,ap-south  6.3          0.4        5.9         52.8
  1763751000073456789.0  us-east,eu-west,ap-south  1.3          1.3        -           58.3`,
    )
    .action(async (o: { limit: number; region?: string }, cmd: Command) =>
      withClient(cmd, async (client, opts) => {
        const list = await client.snapshots({ limit: o.limit, ...(o.region !== undefined ? { region: o.region } : {}) });
        const rows = list.map((s) => ({
          glt: gltText(s.glt),
          members: s.members,
          durationMs: s.durationMs,
          phases: s.phases,
          epoch: s.epoch.toString(),
          committedAtMs: s.committedAtMs,
        }));
        if (opts.json) printJson({ snapshots: rows });
        else
          printTable(
            ['glt', 'members', 'duration_ms', ...PHASES.map((p) => `${p}_ms`)],
            rows.map((r) => [r.glt, r.members.join(','), r.durationMs.toFixed(1), ...PHASES.map((name) => r.phases.find((p) => p.name === name)?.ms.toFixed(1))]),
          );
      }),
    );
}
