import type { Command } from 'commander';
import { AetherError } from '../../common/errors.js';
import { printJson, printTable } from '../../common/output.js';
import { certsDirOption, gltText, parseCount, withClient } from './client-options.js';

export function registerScan(program: Command): void {
  program
    .command('scan')
    .description('range read in a region at one GLT, in key order: a prefix, or [start, end)')
    .requiredOption('--region <name>', 'the region to read in')
    .option('--prefix <p>', 'keys starting with P')
    .option('--start <k>', 'first key (inclusive)')
    .option('--end <k>', 'last key (exclusive)')
    .option('--glt <glt>', 'read at this GLT or "latest" (default: the frontier)')
    .option('--limit <n>', 'at most N rows (0: all)', parseCount('--limit'), 100)
    .addOption(certsDirOption())
    .addHelpText(
      'after',
      `
Examples:
  aetherflow scan --region us-east --prefix user: --limit 10
  aetherflow scan --region eu-west --start a --end m --glt 1763751000123456789.3 --json`,
    )
    .action(async (o: { region: string; prefix?: string; start?: string; end?: string; glt?: string; limit: number }, cmd: Command) =>
      withClient(cmd, async (client, opts) => {
        if (o.prefix !== undefined && (o.start !== undefined || o.end !== undefined)) throw new AetherError('USAGE', 'give --prefix or --start/--end, not both');
        const { glt, rows } = await client.scan({
          region: o.region,
          limit: o.limit,
          ...(o.prefix !== undefined ? { prefix: o.prefix } : {}),
          ...(o.start !== undefined ? { start: o.start } : {}),
          ...(o.end !== undefined ? { end: o.end } : {}),
          ...(o.glt !== undefined ? { glt: o.glt } : {}),
        });
        const out: { key: string; value: string; version: string | undefined; origin: string }[] = [];
        for await (const r of rows) out.push({ key: r.key.toString('utf8'), value: r.value.toString('utf8'), version: gltText(r.version), origin: r.origin });
        if (opts.json) printJson({ glt: gltText(glt), rows: out });
        else {
          printTable(['key', 'value', 'version', 'origin'], out.map((r) => [r.key, r.value, r.version, r.origin]));
          process.stdout.write(`${out.length} row(s) at GLT ${gltText(glt)}\n`);
        }
      }),
    );
}
