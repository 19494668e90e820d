import { resolve } from 'node:path';
import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { toAetherError } from '../../common/errors.js';
import { checkTopologyText } from '../../topology/load.js';
import { globalOptions } from '../program.js';
import { printJson, printTable } from '../../common/output.js';
import { printTopologyWarnings } from '../output.js';

export function registerTopology(program: Command): void {
  const topology = program.command('topology').description('work with topology files');
  topology
    .command('check')
    .description('validate a topology file: lists every problem (path inside the file, code, message) and exits 2 when there is any; warnings (valid, but probably not meant) are printed and do not fail')
    .argument('<file>', 'the topology YAML file')
    .addHelpText(
      'after',
      `
Examples:
  aetherflow topology check topology/wan.yaml
  aetherflow topology check my.yaml --json     {"valid":false,"problems":[{"path":"regions[1].datanodes[0].grpc","code":"bad-address",…}],"warnings":[…]}`,
    )
    .action((fileArg: string, _opts: unknown, cmd: Command) => {
      const opts = globalOptions(cmd);
      const file = resolve(fileArg);
      let text: string;
      try {
        text = readFileSync(file, 'utf8');
      } catch (err) {
        throw toAetherError(err, 'TOPOLOGY_INVALID', `cannot read topology file ${file}`);
      }
      const result = checkTopologyText(text, file);
      if (result.ok) {
        const t = result.topology;
        const summary = {
          valid: true,
          file,
          name: t.name,
          regions: t.regions.map((r) => ({ name: r.name, leaders: r.leaders.length, datanodes: r.datanodes.length })),
          coordinators: t.coordinators.length,
          etcd: t.etcd.endpoints.length > 0 ? t.etcd.endpoints : `local, ${t.etcd.members} member(s)`,
          warnings: t.warnings,
        };
        if (opts.json) printJson(summary);
        else {
          process.stdout.write(`${file}: valid topology "${t.name}": ${t.regions.length} region(s), ${t.coordinators.length} coordinator candidate(s), etcd ${typeof summary.etcd === 'string' ? summary.etcd : summary.etcd.join(',')}\n`);
          printTable(['region', 'leaders', 'datanodes'], summary.regions.map((r) => [r.name, r.leaders, r.datanodes]));
          printTopologyWarnings(t.warnings);
        }
        return;
      }
      if (opts.json) printJson({ valid: false, file, problems: result.problems, warnings: result.warnings });
      else {
        printTable(
          ['path', 'line', 'code', 'problem'],
          result.problems.map((p) => [p.path || '(document)', p.line !== undefined ? `${p.line}:${p.col}` : '-', p.code, p.message]),
        );
        printTopologyWarnings(result.warnings);
        process.stderr.write(`error[TOPOLOGY_INVALID]: ${file}: ${result.problems.length} problem(s)\n`);
      }
      process.exitCode = 2;
    });
}
