import test from 'ava';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Supervisor, processAlive, type ProcessEvent } from '../../topology/supervisor.js';
import { eventually } from './etcd-fixture.js';

test('restarts a child that dies, with backoff; stop leaves no process behind', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'aetherflow-sup-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const events: ProcessEvent[] = [];
  const sup = new Supervisor({ restartBaseMs: 50, stopGraceMs: 2000, onEvent: (e) => events.push(e) });
  // A child that ignores SIGTERM: stop must fall back to SIGKILL.
  const script = "process.on('SIGTERM', () => {}); console.log('ready ' + process.pid); setInterval(() => {}, 1000);";
  sup.add({ id: 'c1', command: process.execPath, args: ['-e', script], logFile: join(dir, 'logs', 'c1.log'), readyLine: /^ready/ });
  await sup.allReady();
  const first = sup.pids().get('c1')!;
  process.kill(first, 'SIGKILL');
  await eventually(() => (sup.state('c1') === 'ready' && sup.pids().get('c1') !== first ? true : undefined), 10_000, 'restarted');
  t.deepEqual(
    events.filter((e) => e.id === 'c1').map((e) => e.state),
    ['starting', 'ready', 'exited', 'backing-off', 'starting', 'ready'],
  );
  t.is(events.at(-1)!.restarts, 1);
  await sup.stop();
  t.is(sup.state('c1'), 'stopped');
  const stopped = events.at(-1)!;
  t.is(stopped.signal, 'SIGKILL');
  t.true(stopped.stopMs! >= 2000, `stopMs ${stopped.stopMs}`);
  t.deepEqual(sup.allPids().filter(processAlive), []);
  t.regex(readFileSync(join(dir, 'logs', 'c1.log'), 'utf8'), /ready \d+\nready \d+/);
});
