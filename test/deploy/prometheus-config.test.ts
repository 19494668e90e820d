import test from 'ava';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { parse } from 'yaml';
import { AetherError } from '../../common/errors.js';
import { run } from '../../cli/program.js';
import { loadTopology } from '../../topology/load.js';
import { DEFAULT_SCRAPE_INTERVAL, defaultRulesFile, prometheusConfig, prometheusConfigYaml } from '../../topology/prometheus-config.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const rules = join(root, 'deploy', 'prometheus', 'alerts.yml');
const execFileAsync = promisify(execFile);

interface ScrapeConfig {
  readonly job_name: string;
  readonly honor_labels: boolean;
  readonly static_configs: { readonly targets: string[]; readonly labels: Record<string, string> }[];
}
interface Config {
  readonly global: { readonly scrape_interval: string; readonly evaluation_interval: string };
  readonly rule_files: string[];
  readonly scrape_configs: ScrapeConfig[];
}

for (const name of ['local', 'wan']) {
  test(`every process of topology/${name}.yaml is a target of its role's job, labelled with its role, id and region`, (t) => {
    const topology = loadTopology(join(root, 'topology', `${name}.yaml`));
    const config = parse(prometheusConfigYaml(topology, { rulesFile: rules })) as Config;
    const expected = [
      ...topology.regions.flatMap((r) => [
        ...r.datanodes.map((d) => ({ job: 'aetherflow-datanode', target: d.metrics, labels: { role: 'datanode', id: d.id, region: r.name } })),
        ...r.leaders.map((l) => ({ job: 'aetherflow-leader', target: l.metrics, labels: { role: 'leader', id: l.id, region: r.name } })),
      ]),
      ...topology.coordinators.map((c) => ({ job: 'aetherflow-coordinator', target: c.metrics, labels: { role: 'coordinator', id: c.id, region: c.region } })),
    ];
    const rendered = config.scrape_configs.flatMap((j) => j.static_configs.map((s) => ({ job: j.job_name, target: s.targets.join(','), labels: s.labels })));
    t.deepEqual(
      rendered.sort((a, b) => a.labels.id.localeCompare(b.labels.id)),
      expected.sort((a, b) => a.labels.id.localeCompare(b.labels.id)),
    );
    // The processes' own region labels (region_member, the frontier gauges) must win over the targets'.
    for (const j of config.scrape_configs) t.true(j.honor_labels, j.job_name);
    t.deepEqual(config.rule_files, [rules]);
    t.is(config.global.scrape_interval, DEFAULT_SCRAPE_INTERVAL);
    t.is(config.global.evaluation_interval, DEFAULT_SCRAPE_INTERVAL);
  });
}

test("the default rules are the repository's alerts.yml, and a missing rules file or a bad interval is USAGE", (t) => {
  t.is(defaultRulesFile(), rules);
  const topology = loadTopology(join(root, 'topology', 'local.yaml'));
  t.is(t.throws(() => prometheusConfig(topology, { rulesFile: join(root, 'no-such-alerts.yml') }), { instanceOf: AetherError })?.code, 'USAGE');
  t.is(t.throws(() => prometheusConfig(topology, { rulesFile: rules, interval: '2 seconds' }), { instanceOf: AetherError })?.code, 'USAGE');
});

test('aetherflow render prometheus --out writes a configuration promtool accepts, with the rules and the interval given', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'aetherflow-prom-config-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'prometheus.yml');
  const code = await run(['render', 'prometheus', '--topology', join(root, 'topology', 'local.yaml'), '--out', file, '--rules', rules, '--interval', '1s', '--json']);
  t.is(code, 0);
  const config = parse(readFileSync(file, 'utf8')) as Config;
  t.is(config.global.scrape_interval, '1s');
  t.deepEqual(config.rule_files, [rules]);
  // promtool also loads and checks the rule files the configuration names.
  const { stdout } = await execFileAsync('promtool', ['check', 'config', file], { timeout: 60_000 });
  t.regex(stdout, /SUCCESS: 14 rules found/);
});
