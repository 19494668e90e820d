import test from 'ava';
import { clusterPaths } from '../../cluster/paths.js';
import { SettingsWatch, defaultSettings, mergeSettings, writeSettings } from '../../cluster/settings.js';
import { parseAssignments } from '../../cli/commands/settings.js';
import { AetherError } from '../../common/errors.js';
import { eventually, startEtcd, type EtcdFixture } from './etcd-fixture.js';

let fx: EtcdFixture;
test.before(async () => {
  fx = await startEtcd();
});
test.after.always(async () => {
  await fx?.stop();
});

const defaults = defaultSettings({
  snapshot: { intervalMs: 50, budgetMs: 50, retentionSec: 600, silenceMs: 300, lagLimitMs: 1000, admission: { maxLagMs: 500, maxUnshippedBytes: 16 << 20, waitMs: 2000 } },
});

test('a change reaches the subscribers of its section only', async (t) => {
  const paths = clusterPaths('test-settings');
  const watch = await SettingsWatch.open(fx.client(), paths, defaults);
  t.deepEqual(watch.current, defaults);
  const intervals: number[] = [];
  const levels: string[] = [];
  watch.subscribe('snapshot', (s) => intervals.push(s.intervalMs));
  watch.subscribe('logLevel', (l) => levels.push(l));

  await writeSettings(fx.client(), paths, defaults, { snapshot: { intervalMs: 100 } });
  await eventually(() => (intervals.length > 0 ? true : undefined), 5000, 'snapshot change');
  t.deepEqual(intervals, [100]);
  t.deepEqual(levels, []);
  t.is(watch.current.snapshot.budgetMs, 50);

  await writeSettings(fx.client(), paths, defaults, { logLevel: 'debug', partitions: [{ from: 'a', to: 'b' }] });
  await eventually(() => (levels.length > 0 ? true : undefined), 5000, 'log level change');
  t.deepEqual(levels, ['debug']);
  t.deepEqual(watch.current.partitions, [{ from: 'a', to: 'b' }]);
  t.is(watch.current.snapshot.intervalMs, 100);
  await watch.close();
});

test('bad values are rejected: the writer writes nothing, a watcher keeps what it has', async (t) => {
  const paths = clusterPaths('test-settings-bad');
  const client = fx.client();
  const watch = await SettingsWatch.open(client, paths, defaults);
  const e1 = await t.throwsAsync(writeSettings(client, paths, defaults, { snapshot: { budgetMs: 0 } }));
  t.is((e1 as AetherError).code, 'INVALID_ARGUMENT');
  const e2 = await t.throwsAsync(writeSettings(client, paths, defaults, { logLevel: 'loud' as 'info' }));
  t.is((e2 as AetherError).code, 'INVALID_ARGUMENT');
  t.is((await client.get(paths.settings).exec()).kvs.length, 0);

  // Someone bypasses the writer; the watcher rejects the document and keeps its settings.
  let changes = 0;
  watch.subscribe('fec', () => changes++);
  await client.put(paths.settings).value(JSON.stringify({ fec: { mode: 'sometimes' } }));
  await client.put(paths.settings).value(JSON.stringify({ fec: { mode: 'off' } }));
  await eventually(() => (changes > 0 ? true : undefined), 5000, 'valid change');
  t.is(changes, 1);
  t.is(watch.current.fec.mode, 'off');
  await watch.close();
});

test('a budget above the interval is valid (the budget is a metric and an alert, not an abort)', (t) => {
  t.is(mergeSettings(defaults, { snapshot: { intervalMs: 200, budgetMs: 150 } }).snapshot.budgetMs, 150);
  t.is(mergeSettings(defaults, { snapshot: { intervalMs: 20 } }).snapshot.budgetMs, 50);
});

test('settings set parses NAME=VALUE and SECTION.NAME=VALUE into one patch', (t) => {
  t.deepEqual(parseAssignments(['snapshot.intervalMs=100', 'snapshot.budgetMs=40', 'logLevel=debug', 'partitions=[{"from":"a","to":"b"}]']), {
    snapshot: { intervalMs: 100, budgetMs: 40 },
    logLevel: 'debug',
    partitions: [{ from: 'a', to: 'b' }],
  });
  const err = t.throws(() => parseAssignments(['nonsense']));
  t.is((err as AetherError).code, 'USAGE');
});
