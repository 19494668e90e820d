import type { Command } from 'commander';
import { printJson, printTable } from '../output.js';
import { gltText, parseCount, withClient } from './client-options.js';

export function registerSnapshots(program: Command): void {
  program
    .command('snapshots')
    .description('committed snapshots, newest first: GLT, members, duration, phases')
    .option('--limit <n>', 'at most N snapshots', parseCount('--limit'), 20)
    .option('--region <name>', "ask this region's leader (default: the first region)")
    .addHelpText(
      'after',
      `
Example:
  aetherflow snapshots --limit 5
  glt                     members                    duration_ms  phases
  1763751000123456789.0   us-east,eu-west,ap-south   41.2         close=3.1 exchange=30.2 commit=7.9`,
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
            ['glt', 'members', 'duration_ms', 'phases'],
            rows.map((r) => [r.glt, r.members.join(','), r.durationMs.toFixed(1), r.phases.map((p) => `${p.name}=${p.ms.toFixed(1)}`).join(' ')]),
          );
      }),
    );
}
