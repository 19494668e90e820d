import type { Command } from 'commander';
import { printJson, printTable } from '../../common/output.js';
import { certsDirOption, gltText, withClient } from './client-options.js';

export function registerDel(program: Command): void {
  program
    .command('del')
    .description('delete KEY in a region (a tombstone version); prints the version written {key, ts, origin}')
    .argument('<key>', 'the key')
    .requiredOption('--region <name>', 'the region that takes the delete')
    .addOption(certsDirOption())
    .addHelpText(
      'after',
      `
Example:
  aetherflow del user:1 --region eu-west`,
    )
    .action(async (key: string, o: { region: string }, cmd: Command) =>
      withClient(cmd, async (client, opts) => {
        const w = await client.delete(key, { region: o.region });
        const row = { key, ts: gltText(w.ts), origin: w.origin };
        if (opts.json) printJson(row);
        else printTable(['key', 'ts', 'origin'], [[row.key, row.ts, row.origin]]);
      }),
    );
}
