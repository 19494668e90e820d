import test from 'ava';
import { Registry } from 'prom-client';
import { METRIC_NAMES, ROUND_SECONDS_BUCKETS, createAetherMetrics } from '../../common/metrics.js';

const expected: Record<string, { type: string; labels: readonly string[] }> = {
  snapshot_round_seconds: { type: 'histogram', labels: ['phase'] },
  snapshot_rounds_total: { type: 'counter', labels: ['result'] },
  snapshot_frontier_lag_seconds: { type: 'gauge', labels: ['region'] },
  delta_bytes_total: { type: 'counter', labels: [] },
  delta_versions_total: { type: 'counter', labels: [] },
  mvcc_versions: { type: 'gauge', labels: [] },
  gc_collected_total: { type: 'counter', labels: [] },
  writes_total: { type: 'counter', labels: [] },
  reads_total: { type: 'counter', labels: ['result'] },
  election_state: { type: 'gauge', labels: ['role', 'id'] },
  region_member: { type: 'gauge', labels: ['region'] },
  snapshot_budget_seconds: { type: 'gauge', labels: [] },
};

test('the catalog registers exactly the metrics of issue 7, with their types and labels', async (t) => {
  const registry = new Registry();
  createAetherMetrics(registry, { budgetMs: 50 });
  const json = await registry.getMetricsAsJSON();
  t.deepEqual(json.map((m) => m.name).sort(), Object.keys(expected).sort());
  t.deepEqual([...METRIC_NAMES].sort(), Object.keys(expected).sort());
  for (const m of json) {
    t.is(String(m.type), expected[m.name]!.type, m.name);
    const metric = registry.getSingleMetric(m.name) as unknown as { labelNames: readonly string[] };
    t.deepEqual([...metric.labelNames], [...expected[m.name]!.labels], m.name);
  }
});

test('round buckets resolve the 50 ms budget exactly', (t) => {
  t.true(ROUND_SECONDS_BUCKETS.includes(0.05));
  t.deepEqual([...ROUND_SECONDS_BUCKETS], [...ROUND_SECONDS_BUCKETS].sort((a, b) => a - b));
});

test('several roles in one process each have their own registry, and the setters move the series', async (t) => {
  const coordinator = new Registry();
  coordinator.setDefaultLabels({ role: 'coordinator', id: 'coord-1', region: 'us-east' });
  const leader = new Registry();
  const c = createAetherMetrics(coordinator, { budgetMs: 40 });
  const l = createAetherMetrics(leader, { budgetMs: 40 });

  c.observeRoundPhase('total', 12);
  c.roundDecided('committed');
  c.roundDecided('aborted');
  c.setMember('eu-west', false);
  c.setElected('coordinator', 'coord-1', true);
  l.writes.inc();
  l.read('found');
  l.deltaSent(100, 3);
  l.setFrontierLag('us-east', -5);

  const text = await coordinator.metrics();
  const who = { role: 'coordinator', id: 'coord-1' };
  t.is(sample(text, 'snapshot_round_seconds_bucket', { le: '0.015', phase: 'total', ...who, region: 'us-east' }), 1);
  t.is(sample(text, 'snapshot_round_seconds_bucket', { le: '0.01', phase: 'total', ...who }), 0);
  t.is(sample(text, 'snapshot_rounds_total', { result: 'aborted', ...who }), 1);
  t.is(sample(text, 'snapshot_rounds_total', { result: 'committed', ...who }), 1);
  // The metric's own region label wins over the registry's default one.
  t.is(sample(text, 'region_member', { region: 'eu-west', ...who }), 0);
  t.is(sample(text, 'election_state', { ...who, region: 'us-east' }), 1);
  t.is(sample(text, 'snapshot_budget_seconds', who), 0.04);
  t.is(sample(text, 'writes_total', who), 0);

  const ltext = await leader.metrics();
  t.is(sample(ltext, 'writes_total', {}), 1);
  t.is(sample(ltext, 'reads_total', { result: 'found' }), 1);
  t.is(sample(ltext, 'delta_bytes_total', {}), 100);
  t.is(sample(ltext, 'delta_versions_total', {}), 3);
  t.is(sample(ltext, 'snapshot_frontier_lag_seconds', { region: 'us-east' }), 0);

  c.clearCoordinatorView();
  t.is(sample(await coordinator.metrics(), 'region_member', { region: 'eu-west' }), undefined);
});

/** The value of the first sample of `name` whose labels include `labels`, from Prometheus text. */
function sample(text: string, name: string, labels: Record<string, string>): number | undefined {
  for (const line of text.split('\n')) {
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const have = new Map([...(m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)].map((x) => [x[1]!, x[2]!]));
    if (Object.entries(labels).every(([k, v]) => have.get(k) === v)) return Number(m[3]);
  }
  return undefined;
}
