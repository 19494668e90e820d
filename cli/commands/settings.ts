import type { Command } from 'commander';
import { connectTopologyEtcd, etcdCall } from '../../cluster/etcd.js';
import { clusterPaths } from '../../cluster/paths.js';
import { defaultSettings, mergeSettings, writeSettings, type Settings, type SettingsPatch } from '../../cluster/settings.js';
import { AetherError } from '../../common/errors.js';
import { loadTopology } from '../../topology/load.js';
import { printJson, printTable } from '../../common/output.js';
import { globalOptions } from '../program.js';

/** `snapshot.intervalMs=100` → { snapshot: { intervalMs: 100 } }; values are JSON when they parse as JSON, else strings. */
export function parseAssignments(assignments: readonly string[]): SettingsPatch {
  const patch: Record<string, unknown> = {};
  for (const a of assignments) {
    const m = /^([A-Za-z]+)(?:\.([A-Za-z]+))?=(.*)$/s.exec(a);
    if (!m) throw new AetherError('USAGE', `expected NAME=VALUE or SECTION.NAME=VALUE, got ${JSON.stringify(a)}`);
    const [, section, field, text] = m as unknown as [string, string, string | undefined, string];
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch {
      value = text;
    }
    if (field === undefined) patch[section] = value;
    else patch[section] = { ...(patch[section] as object | undefined), [field]: value };
  }
  return patch as SettingsPatch;
}

function rows(s: Settings): string[][] {
  return [
    ['snapshot.intervalMs', String(s.snapshot.intervalMs)],
    ['snapshot.budgetMs', String(s.snapshot.budgetMs)],
    ['fec.mode', s.fec.mode],
    ['fec.dataShards', String(s.fec.dataShards)],
    ['fec.parityShards', String(s.fec.parityShards)],
    ['logLevel', s.logLevel],
    ['partitions', JSON.stringify(s.partitions)],
  ];
}

/** `aetherflow settings [set NAME=VALUE…]`: the dynamic settings every process watches in etcd. */
export function registerSettings(program: Command): void {
  const settings = program
    .command('settings')
    .description('show the dynamic settings (snapshot interval and budget, FEC policy, log level, partitions), applied by every process without a restart')
    .action(async (_o: unknown, cmd: Command) => {
      const opts = globalOptions(cmd);
      const topology = loadTopology(opts.topology);
      const paths = clusterPaths(topology.name);
      const client = connectTopologyEtcd(topology);
      try {
        const kv = (await etcdCall('read settings', () => client.get(paths.settings).exec())).kvs[0];
        let stored: unknown = {};
        if (kv) {
          try {
            stored = JSON.parse(kv.value.toString('utf8'));
          } catch (err) {
            throw new AetherError('INVALID_ARGUMENT', 'the stored settings are not JSON; `aetherflow settings set` replaces them', { cause: err });
          }
        }
        const effective = mergeSettings(defaultSettings(topology), stored);
        if (opts.json) printJson(effective);
        else printTable(['setting', 'value'], rows(effective));
      } finally {
        client.close();
      }
    });
  settings
    .command('set')
    .description('change settings: NAME=VALUE or SECTION.NAME=VALUE (JSON values); validated as a whole, nothing is written when invalid')
    .argument('<assignments...>', 'e.g. snapshot.intervalMs=100 logLevel=debug \'partitions=[{"from":"us-east","to":"eu-west"}]\'')
    .action(async (assignments: string[], _o: unknown, cmd: Command) => {
      const opts = globalOptions(cmd);
      const topology = loadTopology(opts.topology);
      const client = connectTopologyEtcd(topology);
      try {
        const effective = await writeSettings(client, clusterPaths(topology.name), defaultSettings(topology), parseAssignments(assignments));
        if (opts.json) printJson(effective);
        else printTable(['setting', 'value'], rows(effective));
      } finally {
        client.close();
      }
    });
}
