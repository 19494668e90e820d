import test from 'ava';
import { Registry } from 'prom-client';
import { COMMIT_SECONDS_BUCKETS, METRIC_NAMES, createAetherMetrics } from '../../common/metrics.js';

const expected: Record<string, { type: string; labels: readonly string[] }> = {
  snapshot_commit_seconds: { type: 'histogram', labels: ['phase'] },
  snapshot_commits_total: { type: 'counter', labels: [] },
  snapshot_frontier_timestamp_seconds: { type: 'gauge', labels: ['region'] },
  snapshot_frontier_lag_seconds: { type: 'gauge', labels: ['region'] },
  replication_lag_seconds: { type: 'gauge', labels: ['origin'] },
  replication_shipped_bytes_total: { type: 'counter', labels: ['peer'] },
  replication_shipped_versions_total: { type: 'counter', labels: ['peer'] },
  restamp_pending_versions: { type: 'gauge', labels: [] },
  writes_backpressured_total: { type: 'counter', labels: ['outcome'] },
  eventloop_longest_task_seconds: { type: 'gauge', labels: [] },
  mvcc_versions: { type: 'gauge', labels: [] },
  gc_collected_total: { type: 'counter', labels: [] },
  store_sync_batches_total: { type: 'counter', labels: [] },
  store_synced_writes_total: { type: 'counter', labels: [] },
  writes_total: { type: 'counter', labels: [] },
  reads_total: { type: 'counter', labels: ['result'] },
  election_state: { type: 'gauge', labels: ['role', 'id'] },
  region_member: { type: 'gauge', labels: ['region'] },
  snapshot_budget_seconds: { type: 'gauge', labels: [] },
};

test('the catalog registers exactly the v2 metrics, with their types and labels', async (t) => {
  const registry = new Registry();
  const m = createAetherMetrics(registry, { budgetMs: 50 });
  t.teardown(() => m.close());
  const json = await registry.getMetricsAsJSON();
  t.deepEqual(json.map((x) => x.name).sort(), Object.keys(expected).sort());
  t.deepEqual([...METRIC_NAMES].sort(), Object.keys(expected).sort());
  for (const x of json) {
    t.is(String(x.type), expected[x.name]!.type, x.name);
    const metric = registry.getSingleMetric(x.name) as unknown as { labelNames: readonly string[] };
    t.deepEqual([...metric.labelNames], [...expected[x.name]!.labels], x.name);
  }
});

test('commit buckets resolve the 50 ms budget exactly', (t) => {
  t.true(COMMIT_SECONDS_BUCKETS.includes(0.05));
  t.deepEqual([...COMMIT_SECONDS_BUCKETS], [...COMMIT_SECONDS_BUCKETS].sort((a, b) => a - b));
});

test('several roles in one process each have their own registry, and the setters move the series', async (t) => {
  const coordinator = new Registry();
  coordinator.setDefaultLabels({ role: 'coordinator', id: 'coord-1', region: 'us-east' });
  const leader = new Registry();
  const c = createAetherMetrics(coordinator, { budgetMs: 40 });
  const l = createAetherMetrics(leader, { budgetMs: 40 });
  t.teardown(() => {
    c.close();
    l.close();
  });

  c.observeCommit('total', 12);
  c.observeCommit('persist', 9);
  c.commits.inc();
  c.setMember('eu-west', false);
  c.setElected('coordinator', 'coord-1', true);
  l.writes.inc();
  l.read('found');
  l.shipped('eu-west', 100, 3);
  l.backpressured.inc({ outcome: 'refused' });

  const text = await coordinator.metrics();
  const who = { role: 'coordinator', id: 'coord-1' };
  t.is(sample(text, 'snapshot_commit_seconds_bucket', { le: '0.015', phase: 'total', ...who, region: 'us-east' }), 1);
  t.is(sample(text, 'snapshot_commit_seconds_bucket', { le: '0.01', phase: 'total', ...who }), 0);
  t.is(sample(text, 'snapshot_commit_seconds_bucket', { le: '0.01', phase: 'persist', ...who }), 1);
  t.is(sample(text, 'snapshot_commits_total', who), 1);
  // The metric's own region label wins over the registry's default one.
  t.is(sample(text, 'region_member', { region: 'eu-west', ...who }), 0);
  t.is(sample(text, 'election_state', { ...who, region: 'us-east' }), 1);
  t.is(sample(text, 'snapshot_budget_seconds', who), 0.04);
  t.is(sample(text, 'writes_total', who), 0);

  const ltext = await leader.metrics();
  t.is(sample(ltext, 'writes_total', {}), 1);
  t.is(sample(ltext, 'reads_total', { result: 'found' }), 1);
  t.is(sample(ltext, 'replication_shipped_bytes_total', { peer: 'eu-west' }), 100);
  t.is(sample(ltext, 'replication_shipped_versions_total', { peer: 'eu-west' }), 3);
  t.is(sample(ltext, 'writes_backpressured_total', { outcome: 'refused' }), 1);
  // Scrape-time gauges without a source (not the elected leader, not a data node) export nothing.
  t.is(sample(ltext, 'snapshot_frontier_lag_seconds', {}), undefined);
  t.is(sample(ltext, 'replication_lag_seconds', {}), undefined);

  c.clearCoordinatorView();
  t.is(sample(await coordinator.metrics(), 'region_member', { region: 'eu-west' }), undefined);
});

test('frontier staleness is computed when scraped: it keeps growing while the frontier stands still, and is never negative', async (t) => {
  const registry = new Registry();
  const m = createAetherMetrics(registry, { budgetMs: 50 });
  t.teardown(() => m.close());
  let nowNs = 1_000_500_000_000n;
  m.live.nowNs = () => nowNs;
  m.live.frontier = () => ({ region: 'us-east', wallNs: 1_000_000_000_000n });
  m.live.replicationLagMs = () => new Map([['eu-west', 250]]);
  m.live.hiddenVersions = () => 7;

  let text = await registry.metrics();
  t.is(sample(text, 'snapshot_frontier_timestamp_seconds', { region: 'us-east' }), 1000);
  t.is(sample(text, 'snapshot_frontier_lag_seconds', { region: 'us-east' }), 0.5);
  t.is(sample(text, 'replication_lag_seconds', { origin: 'eu-west' }), 0.25);
  t.is(sample(text, 'restamp_pending_versions', {}), 7);
  // Commits stopped: no one sets anything, the lag still grows.
  nowNs += 2_000_000_000n;
  t.is(sample(await registry.metrics(), 'snapshot_frontier_lag_seconds', { region: 'us-east' }), 2.5);
  // A frontier ahead of this process's clock (skew) is fresh, not negative.
  nowNs = 999_000_000_000n;
  t.is(sample(await registry.metrics(), 'snapshot_frontier_lag_seconds', { region: 'us-east' }), 0);
  // Losing the election: the series go away with the source.
  m.live.frontier = () => undefined;
  text = await registry.metrics();
  t.is(sample(text, 'snapshot_frontier_lag_seconds', {}), undefined);
  t.is(sample(text, 'snapshot_frontier_timestamp_seconds', {}), undefined);
});

test('the longest task shows a stall once, in the scrape after it, without the probe period added', async (t) => {
  const registry = new Registry();
  const m = createAetherMetrics(registry, { budgetMs: 50 });
  t.teardown(() => m.close());
  const longest = async () => sample(await registry.metrics(), 'eventloop_longest_task_seconds', {})!;
  await longest();
  const until = performance.now() + 120;
  while (performance.now() < until); // a 120 ms task, scraped before the probe fires again
  t.true((await longest()) >= 0.1);
  await new Promise((resolve) => setTimeout(resolve, 100));
  // Idle since: the stall is not counted a second time when the overdue probe fires.
  t.true((await longest()) < 0.1);
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

test('the store reports synced batches and the client writes they carried; unsynced batches are not counted', async (t) => {
  const registry = new Registry();
  const m = createAetherMetrics(registry, { budgetMs: 50 });
  t.teardown(() => m.close());
  m.batchWritten({ writes: 40, synced: true });
  m.batchWritten({ writes: 0, synced: true });
  m.batchWritten({ writes: 7, synced: false });
  const value = async (name: string) => (await registry.getSingleMetric(name)!.get()).values[0]?.value;
  t.is(await value('store_sync_batches_total'), 2);
  t.is(await value('store_synced_writes_total'), 40);
});
