import test from 'ava';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { parse, stringify } from 'yaml';
import { freePort } from '../../topology/local-etcd.js';
import { eventually } from '../cluster/etcd-fixture.js';
import { RULES_DIR, deployExpressions } from '../deploy/deploy-queries.js';
import { metricReferences } from '../deploy/promql.js';
import { removeDeployment } from './deployment.js';
import { copyLocalTopology } from './topology-copy.js';

// Prometheus end to end: one `up` (from dist/) of a copy of topology/local.yaml, the scrape
// configuration `render prometheus` writes for it, and Debian's prometheus server on it.
// Every target comes up, the frontier staleness alert stays quiet while commits flow,
// fires once both coordinator candidates are frozen (SIGSTOP: `up` restarts a process that
// dies, and a restarted candidate would commit again), and clears when they resume. The
// interval is relaxed (the CI machine is shared and loaded): behaviour is checked, not speed.

const CLI = fileURLToPath(new URL('../../dist/cli/main.js', import.meta.url));
const NAME = 'prom';
const REGIONS = ['us-east', 'eu-west', 'ap-south'];
const ALERT = 'AetherFlowFrontierLagHigh';
/**
 * The rules Prometheus loads are alerts.yml with this alert's `for:` cut from 1m to 5s, so
 * firing and clearing fit the test's time bound; its expression and threshold are the
 * production ones. alerts.test.yml checks the 1m.
 */
const TEST_FOR = '5s';
const run = promisify(execFile);

interface Spec {
  readonly id: string;
  readonly metrics: string;
}
interface TopologyCopy {
  readonly regions: { readonly name: string; readonly leaders: Spec[]; readonly datanodes: Spec[] }[];
  readonly coordinators: Spec[];
}
interface Status {
  readonly coordinator: { readonly id: string } | null;
  readonly regions: { readonly name: string; readonly leader: { readonly id: string } | null; readonly membership: string; readonly datanodes: { readonly up: boolean }[] }[];
  readonly commits: unknown[];
}
interface Target {
  readonly labels: Record<string, string>;
  readonly health: string;
  readonly lastError: string;
}
interface Alert {
  readonly labels: Record<string, string>;
  readonly state: string;
}
interface AlertRule {
  readonly name: string;
  readonly state: string;
  readonly alerts: Alert[];
}

let dir: string;
let file: string;
let topo: TopologyCopy;
let up: ChildProcess | undefined;
let prometheus: ChildProcess | undefined;
let api: string;
/** The current pid of each role process, from `up --json`'s process events. */
const pids = new Map<string, number>();
const stopped = new Set<number>();

const cli = async (...args: string[]): Promise<string> => (await run(process.execPath, [CLI, ...args, '--topology', file], { cwd: dir })).stdout;
const status = async (): Promise<Status> => JSON.parse(await cli('status', '--json')) as Status;
const everyProcess = (): Spec[] => [...topo.regions.flatMap((r) => [...r.leaders, ...r.datanodes]), ...topo.coordinators];

async function query<T>(path: string): Promise<T> {
  const res = await fetch(`${api}${path}`);
  const body = (await res.json()) as { status: string; data: T };
  if (body.status !== 'success') throw new Error(`${path}: ${JSON.stringify(body)}`);
  return body.data;
}

async function frontierRule(): Promise<AlertRule> {
  const data = await query<{ groups: { rules: AlertRule[] }[] }>('/api/v1/rules?type=alert');
  return data.groups.flatMap((g) => g.rules).find((r) => r.name === ALERT)!;
}

async function firing(): Promise<Alert[]> {
  const data = await query<{ alerts: Alert[] }>('/api/v1/alerts');
  return data.alerts.filter((a) => a.labels['alertname'] === ALERT && a.state === 'firing');
}

test.before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'aetherflow-prom-'));
  file = await copyLocalTopology(dir, NAME, { intervalMs: 200, budgetMs: 200, silenceMs: 2000, lagLimitMs: 5000 });
  topo = JSON.parse(readFileSync(file, 'utf8')) as TopologyCopy;
  up = spawn(process.execPath, [CLI, 'up', '--json', '--topology', file], { cwd: dir, stdio: ['ignore', 'pipe', 'ignore'] });
  createInterface({ input: up.stdout! }).on('line', (line) => {
    const e = JSON.parse(line) as { event: string; id?: string; state?: string; pid?: number };
    if (e.event === 'process' && e.id !== undefined && e.pid !== undefined && (e.state === 'starting' || e.state === 'ready')) pids.set(e.id, e.pid);
  });
  await eventually(
    async () => {
      const s = await status().catch(() => undefined);
      return s && s.coordinator && s.commits.length > 0 && s.regions.every((r) => r.leader && r.membership === 'member' && r.datanodes.every((d) => d.up)) ? true : undefined;
    },
    120_000,
    'a coordinator elected, commits made, every region a led member with its data nodes up',
  );

  const rules = parse(readFileSync(join(RULES_DIR, 'alerts.yml'), 'utf8')) as { groups: { rules: { alert: string; for: string }[] }[] };
  rules.groups.flatMap((g) => g.rules).find((r) => r.alert === ALERT)!.for = TEST_FOR;
  writeFileSync(join(dir, 'alerts.yml'), stringify(rules));
  // 1 s scrapes and evaluations: the alert's threshold is 1 s of staleness.
  await cli('render', 'prometheus', '--out', join(dir, 'prometheus.yml'), '--rules', join(dir, 'alerts.yml'), '--interval', '1s');
  const listen = `127.0.0.1:${await freePort()}`;
  api = `http://${listen}`;
  prometheus = spawn(
    'prometheus',
    [`--config.file=${join(dir, 'prometheus.yml')}`, `--storage.tsdb.path=${join(dir, 'tsdb')}`, '--storage.tsdb.retention.time=1h', `--web.listen-address=${listen}`],
    { cwd: dir, stdio: ['ignore', 'ignore', 'ignore'] },
  );
});

test.after.always(async () => {
  for (const pid of stopped) {
    try {
      process.kill(pid, 'SIGCONT');
    } catch {
      // gone already
    }
  }
  if (prometheus && prometheus.exitCode === null) {
    const exited = new Promise((resolve) => prometheus!.once('exit', resolve));
    prometheus.kill('SIGTERM');
    await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 10_000))]);
    if (prometheus.exitCode === null) prometheus.kill('SIGKILL');
  }
  await removeDeployment(up, dir);
});

test.serial('Prometheus scrapes every process of the topology, labelled with its role, id and region', async (t) => {
  t.timeout(60_000);
  const ids = everyProcess().map((s) => s.id).sort();
  const targets = await eventually(
    async () => {
      const data = await query<{ activeTargets: Target[] }>('/api/v1/targets?state=active').catch(() => undefined);
      return data && data.activeTargets.length === ids.length && data.activeTargets.every((x) => x.health === 'up') ? data.activeTargets : undefined;
    },
    45_000,
    `all ${ids.length} targets up`,
  );
  t.deepEqual(targets.map((x) => x.labels['id']).sort(), ids);
  for (const x of targets) {
    t.true(['datanode', 'leader', 'coordinator'].includes(x.labels['role']!), JSON.stringify(x.labels));
    t.true(REGIONS.includes(x.labels['region']!), JSON.stringify(x.labels));
    t.is(x.labels['job'], `aetherflow-${x.labels['role']}`);
  }
});

test.serial("every metric the dashboard and the alerts query is registered by the running processes", async (t) => {
  t.timeout(30_000);
  // `# TYPE` lines name every registered metric, also those without a sample yet (a labelled counter never incremented).
  const registered = new Set<string>();
  for (const s of everyProcess()) {
    const text = await (await fetch(`http://${s.metrics}/metrics`)).text();
    for (const m of text.matchAll(/^# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (\w+)$/gm)) {
      if (m[2] === 'histogram') for (const suffix of ['_bucket', '_sum', '_count']) registered.add(`${m[1]}${suffix}`);
      else registered.add(m[1]!);
    }
  }
  const queried = new Set(deployExpressions().flatMap((e) => metricReferences(e).map((r) => r.name)));
  t.true(queried.size > 20);
  t.deepEqual([...queried].filter((name) => !registered.has(name)), []);
  // And Prometheus has samples of the frontier gauge the staleness alert reads, from every region.
  const series = await eventually(async () => {
    const data = await query<{ result: { metric: Record<string, string> }[] }>('/api/v1/query?query=snapshot_frontier_timestamp_seconds');
    return new Set(data.result.map((r) => r.metric['region'])).size === REGIONS.length ? data.result : undefined;
  }, 20_000, 'the frontier timestamp of every region');
  t.true(series.every((r) => r.metric['role'] === 'leader'));
  // The coordinator's own region label on region_member survives the target's (honor_labels).
  const members = await eventually(async () => {
    const data = await query<{ result: { metric: Record<string, string> }[] }>('/api/v1/query?query=region_member');
    return new Set(data.result.map((r) => r.metric['region'])).size === REGIONS.length ? data.result : undefined;
  }, 20_000, 'region_member of every region');
  t.false(members.some((r) => 'exported_region' in r.metric));
  // Every query is PromQL this Prometheus accepts (Grafana's variables filled in as it would).
  for (const expr of deployExpressions()) {
    const filled = expr.replaceAll('$__rate_interval', '1m').replaceAll('$region', '.*');
    await t.notThrowsAsync(query(`/api/v1/query?query=${encodeURIComponent(filled)}`), expr);
  }
});

test.serial('the frontier staleness alert is quiet while commits flow, fires when the coordinators stop, and clears when they resume', async (t) => {
  t.timeout(120_000);
  await eventually(async () => {
    const rule = await frontierRule();
    return rule.state === 'inactive' ? true : undefined;
  }, 30_000, `${ALERT} inactive`);
  t.deepEqual(await firing(), []);

  const coordinators = topo.coordinators.map((c) => pids.get(c.id)!);
  t.is(coordinators.filter((pid) => pid !== undefined).length, topo.coordinators.length, 'pids of the coordinator candidates from up --json');
  const frozenAt = Date.now();
  for (const pid of coordinators) {
    process.kill(pid, 'SIGSTOP');
    stopped.add(pid);
  }
  const alerts = await eventually(async () => {
    const a = await firing();
    return a.length === REGIONS.length ? a : undefined;
  }, 60_000, `${ALERT} firing for every region`);
  t.deepEqual(alerts.map((a) => a.labels['region']).sort(), [...REGIONS].sort());
  for (const a of alerts) t.is(a.labels['severity'], 'critical');
  t.log(`${ALERT} fired for every region ${((Date.now() - frozenAt) / 1000).toFixed(1)} s after the coordinators stopped`);

  const resumedAt = Date.now();
  for (const pid of coordinators) {
    process.kill(pid, 'SIGCONT');
    stopped.delete(pid);
  }
  await eventually(async () => {
    const rule = await frontierRule();
    return rule.state === 'inactive' && (await firing()).length === 0 ? true : undefined;
  }, 60_000, `${ALERT} cleared`);
  t.log(`${ALERT} cleared ${((Date.now() - resumedAt) / 1000).toFixed(1)} s after the coordinators resumed`);
  t.truthy((await status()).coordinator, 'a coordinator is elected again');
});
