import test from 'ava';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Registry } from 'prom-client';
import { parse } from 'yaml';
import { silentLogger } from '../../common/log.js';
import { METRIC_NAMES, createAetherMetrics } from '../../common/metrics.js';
import { PeerTransport } from '../../kernel/peer-transport.js';
import { freePort } from '../../topology/local-etcd.js';
import type { Topology } from '../../topology/types.js';
import { RULES_DIR, alertRules, dashboards, deployExpressions } from './deploy-queries.js';
import { metricReferences } from './promql.js';

const run = promisify(execFile);

/** promtool comes from Debian's prometheus package (`make deps` installs it). */
async function promtool(t: { log: (s: string) => void }, args: string[]): Promise<void> {
  const { stdout, stderr } = await run('promtool', args, { cwd: RULES_DIR, timeout: 60_000 });
  t.log(`${stdout.trim()}\n${stderr.trim()}`);
}

test('promtool check rules: alerts.yml is valid', async (t) => {
  await t.notThrowsAsync(promtool(t, ['check', 'rules', 'alerts.yml']));
});

test('promtool test rules: the alerts fire (and stay quiet) as alerts.test.yml expects', async (t) => {
  await t.notThrowsAsync(promtool(t, ['test', 'rules', 'alerts.test.yml']));
});

/** The v2 alerts operators rely on (deploy/README.md lists them), each unit-tested in alerts.test.yml. */
const ALERTS = [
  'AetherFlowFrontierLagHigh',
  'AetherFlowCommitsOverBudget',
  'AetherFlowNoCommits',
  'AetherFlowRegionExcluded',
  'AetherFlowReplicationLagHigh',
  'AetherFlowWritesRefused',
  'AetherFlowStreamSenderRejected',
  'AetherFlowStreamMessagesUnreadable',
  'AetherFlowEventLoopStalls',
  'AetherFlowEventLoopStallNearLease',
  'AetherFlowNoCoordinator',
  'AetherFlowNoRegionLeader',
  'AetherFlowQuantumLossHigh',
  'AetherFlowQuantumDrops',
];

test('every alert has for:, a severity and summary/description annotations, and is one of the v2 alerts, each tested', (t) => {
  const rules = alertRules();
  for (const r of rules) {
    t.truthy(r.alert, r.expr);
    t.regex(r.for ?? '', /^[0-9]+[smh]$/, `${r.alert} for:`);
    t.true(['warning', 'critical'].includes(r.labels?.['severity'] ?? ''), `${r.alert} severity`);
    t.truthy(r.annotations?.['summary'], `${r.alert} summary`);
    t.truthy(r.annotations?.['description'], `${r.alert} description`);
  }
  t.deepEqual(rules.map((r) => r.alert).sort(), [...ALERTS].sort());
  // Each alert is expected to fire somewhere in the unit tests, not only to stay quiet.
  const tests = parse(readFileSync(join(RULES_DIR, 'alerts.test.yml'), 'utf8')) as { tests: { alert_rule_test: { alertname: string; exp_alerts: unknown[] }[] }[] };
  const fired = new Set(tests.tests.flatMap((x) => x.alert_rule_test.filter((a) => a.exp_alerts.length > 0).map((a) => a.alertname)));
  for (const a of ALERTS) t.true(fired.has(a), `${a} never fires in alerts.test.yml`);
});

test("the frontier lag alert needs no coordinator and no clock of Prometheus's: it reads the leaders' lag gauge, computed when scraped", (t) => {
  const rule = alertRules().find((r) => r.alert === 'AetherFlowFrontierLagHigh')!;
  t.deepEqual(metricReferences(rule.expr), [{ name: 'snapshot_frontier_lag_seconds', labels: [] }]);
  // time() minus a sample counts the sample's age (up to a scrape interval) as staleness.
  t.notRegex(rule.expr, /time\(\)/);
});

/**
 * name → the labels a series of it may carry (its own, the registry's defaults, le for
 * buckets): the catalog's, and the stream transport's and Quantum's as a real transport on
 * loopback registers them.
 */
async function exported(): Promise<Map<string, Set<string>>> {
  const registry = new Registry();
  const metrics = createAetherMetrics(registry, { budgetMs: 50 });
  const address = `127.0.0.1:${await freePort()}`;
  const topology = {
    regions: [{ name: 'r1', leaders: [{ quantum: address }] }],
    coordinators: [],
    links: { default: { delayMs: 0, jitterMs: 0, loss: 0 }, overrides: [] },
    storage: { sync: true },
    // Quantum's metrics and peers, not its security, are under test here.
    security: { insecure: true, certsDir: '.aetherflow/certs', quantumKeyFile: null, etcd: { caFile: null, certFile: null, keyFile: null, username: null, passwordFile: null } },
  } as unknown as Topology;
  const transport = await PeerTransport.open({ topology, nodeId: 'r1-l1', address, self: 'r1', linkRegion: 'r1', directory: { resolve: () => undefined }, registry, log: silentLogger() });
  try {
    const names = new Map<string, Set<string>>();
    const defaults = ['role', 'id', 'region'];
    for (const m of await registry.getMetricsAsJSON()) {
      const own = (registry.getSingleMetric(m.name) as unknown as { labelNames: readonly string[] }).labelNames;
      const labels = new Set([...own, ...defaults]);
      if (String(m.type) === 'histogram') {
        names.set(`${m.name}_bucket`, new Set([...labels, 'le']));
        names.set(`${m.name}_sum`, labels);
        names.set(`${m.name}_count`, labels);
      } else names.set(m.name, labels);
    }
    return names;
  } finally {
    await transport.close();
    metrics.close();
  }
}

test('every metric and label the dashboards and the rules query is one the catalog, the stream transport or Quantum exports', async (t) => {
  const names = await exported();
  const exprs = deployExpressions();
  t.true(exprs.length > 20);
  const referenced = new Set<string>();
  for (const expr of exprs) {
    const refs = metricReferences(expr);
    t.true(refs.length > 0, `no metric in ${expr}`);
    for (const ref of refs) {
      referenced.add(ref.name);
      const labels = names.get(ref.name);
      t.truthy(labels, `${ref.name} (in ${expr}) is not exported`);
      for (const l of ref.labels) t.true(labels?.has(l), `label ${l} of ${ref.name} (in ${expr}) is not exported`);
    }
  }
  for (const { file, dashboard } of dashboards()) {
    for (const v of dashboard.templating.list.filter((x) => x.type === 'query')) {
      const m = /^label_values\(([a-zA-Z_:][a-zA-Z0-9_:]*),\s*([a-zA-Z_][a-zA-Z0-9_]*)\)$/.exec(v.definition ?? '');
      t.truthy(m, `${file}: variable ${v.name}`);
      t.true(names.get(m![1]!)?.has(m![2]!), `${file}: variable ${v.name}: ${v.definition}`);
    }
  }
  // The dashboard and rules together watch the whole catalog, the stream transport and Quantum's key series.
  const histograms = new Set(['snapshot_commit_seconds', 'quantum_rtt_seconds']);
  const transport = ['stream_messages_dropped_total', 'stream_bytes_sent_total', 'quantum_rtt_seconds', 'quantum_cwnd_bytes', 'quantum_fec_recoveries_total', 'quantum_retransmissions_total', 'quantum_drops_total'];
  for (const name of [...METRIC_NAMES, ...transport]) {
    t.true(referenced.has(histograms.has(name) ? `${name}_bucket` : name), `${name} is never shown`);
  }
});

test('each dashboard queries through its Prometheus datasource variable', (t) => {
  const all = dashboards();
  t.true(all.some((d) => d.file === 'aetherflow.json'));
  for (const { file, text, dashboard } of all) {
    t.true(dashboard.templating.list.some((v) => v.name === 'datasource' && v.type === 'datasource'), file);
    const uids = [...text.matchAll(/"uid": "([^"]*)"/g)].map((m) => m[1]);
    t.true(uids.filter((u) => u !== 'aetherflow' && u !== '-- Grafana --').every((u) => u === '${datasource}'), file);
  }
});

test('the PromQL tokenizer finds selectors and their labels, not functions, keywords or label lists', (t) => {
  t.deepEqual(
    metricReferences('histogram_quantile(0.99, sum by (le, phase) (rate(foo_bucket{phase!="total", le=~"a{b"}[$__rate_interval]))) / on (id) group_left (role) bar offset 5m > bool 1 and max without (x) (baz)'),
    [
      { name: 'foo_bucket', labels: ['phase', 'le'] },
      { name: 'bar', labels: [] },
      { name: 'baz', labels: [] },
    ],
  );
  t.deepEqual(metricReferences('(max(election_state{role="coordinator"}) or vector(0)) < 1'), [{ name: 'election_state', labels: ['role'] }]);
});
