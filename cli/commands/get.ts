import type { Command } from 'commander';
import { printJson, printTable } from '../../common/output.js';
import { certsDirOption, gltText, parseCount, withClient } from './client-options.js';

export function registerGet(program: Command): void {
  program
    .command('get')
    .description("read KEY in a region at a GLT (default: the region's frontier); prints the value, its version and the GLT read at")
    .argument('<key>', 'the key')
    .requiredOption('--region <name>', 'the region to read in')
    .option('--glt <glt>', 'read at this GLT (<wall ns>.<logical>) or "latest" (the frontier)')
    .option('--min-glt <glt>', 'read at the frontier once it has reached this GLT')
    .option('--wait <ms>', 'how long to wait for the frontier to reach --glt or --min-glt', parseCount('--wait'), 0)
    .addOption(certsDirOption())
    .addHelpText(
      'after',
      `
A GLT above the frontier after the wait fails with SNAPSHOT_NOT_READY; one below the
retention horizon with SNAPSHOT_COLLECTED.

Examples:
  aetherflow get user:1 --region eu-west
  aetherflow get user:1 --region eu-west --glt 1763751000123456789.3
  aetherflow get user:1 --region ap-south --min-glt 1763751000123456789.3 --wait 200`,
    )
    .action(async (key: string, o: { region: string; glt?: string; minGlt?: string; wait: number }, cmd: Command) =>
      withClient(cmd, async (client, opts) => {
        const r = await client.get(key, { region: o.region, ...(o.glt !== undefined ? { glt: o.glt } : {}), ...(o.minGlt !== undefined ? { minGlt: o.minGlt } : {}), waitMs: o.wait });
        const row = { key, found: r.found, value: r.value?.toString('utf8'), version: gltText(r.version), origin: r.origin, glt: gltText(r.glt) };
        if (opts.json) printJson(row);
        else printTable(['key', 'found', 'value', 'version', 'origin', 'glt'], [[row.key, row.found, row.value, row.version, row.origin, row.glt]]);
      }),
    );
}
