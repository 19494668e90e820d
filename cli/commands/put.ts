import type { Command } from 'commander';
import { printJson, printTable } from '../../common/output.js';
import { certsDirOption, gltText, withClient } from './client-options.js';

export function registerPut(program: Command): void {
  program
    .command('put')
    .description('write KEY = VALUE in a region; prints the version written {key, ts, origin}')
    .argument('<key>', 'the key (UTF-8, at most 4 KiB)')
    .argument('<value>', 'the value (UTF-8, at most 1 MiB)')
    .requiredOption('--region <name>', 'the region that takes the write')
    .addOption(certsDirOption())
    .addHelpText(
      'after',
      `
Example:
  aetherflow put user:1 alice --region us-east
  key     ts                       origin
  user:1  1763751000123456789.0    us-east-d2`,
    )
    .action(async (key: string, value: string, o: { region: string }, cmd: Command) =>
      withClient(cmd, async (client, opts) => {
        const w = await client.put(key, value, { region: o.region });
        const row = { key, ts: gltText(w.ts), origin: w.origin };
        if (opts.json) printJson(row);
        else printTable(['key', 'ts', 'origin'], [[row.key, row.ts, row.origin]]);
      }),
    );
}
