import test from 'ava';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { connect, type AetherClient, type SnapshotSummary } from '../../client/client.js';
import { compareGlt, formatGlt } from '../../glts/glt.js';
import { eventually } from '../cluster/etcd-fixture.js';
import { copyLocalTopology } from './topology-copy.js';
import { removeDeployment } from './deployment.js';

// Commits end to end: `up` (from dist/) runs a copy of topology/local.yaml with a real
// local etcd; one deployment for every case. The interval is relaxed and exclusion slow
// (the CI machine is shared and loaded): these tests check behaviour, not speed.

const CLI = fileURLToPath(new URL('../../dist/cli/main.js', import.meta.url));
const REGIONS = ['us-east', 'eu-west', 'ap-south'];
const INTERVAL_MS = 200;

let dir: string;
let up: ChildProcess | undefined;
let client: AetherClient;

test.before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'aetherflow-commit-'));
  const file = await copyLocalTopology(dir, 'commit', { intervalMs: INTERVAL_MS, budgetMs: INTERVAL_MS, silenceMs: 5000, lagLimitMs: 10_000 });
  up = spawn(process.execPath, [CLI, 'up', '--json', '--topology', file], { cwd: dir, stdio: ['ignore', 'ignore', 'ignore'] });
  client = connect({ topologyFile: file });
  // Every region a member of a commit.
  await eventually(
    async () => {
      const s = await client.snapshots({ region: 'us-east', limit: 1 }).catch(() => []);
      return s[0] && REGIONS.every((r) => s[0]!.members.includes(r)) ? true : undefined;
    },
    120_000,
    'a commit with every region',
  );
});

test.after.always(async () => {
  client?.close();
  await removeDeployment(up, dir);
});

test.serial('commits happen: Snapshots.List grows with strictly increasing GLTs, the same in every region', async (t) => {
  t.timeout(60_000);
  const first = await client.snapshots({ region: 'eu-west', limit: 1000 });
  const later = await eventually(
    async () => {
      const s = await client.snapshots({ region: 'eu-west', limit: 1000 });
      return s[0] && first[0] && compareGlt(s[0].glt, first[0].glt) > 0 && s.length > first.length ? s : undefined;
    },
    30_000,
    'more snapshots',
  );
  // Newest first: strictly decreasing down the list.
  for (let i = 1; i < later.length; i++) t.true(compareGlt(later[i - 1]!.glt, later[i]!.glt) > 0);
  // Every region reports the same committed snapshots.
  const newest = later[0]!;
  for (const region of REGIONS) {
    const s: SnapshotSummary[] = await eventually(async () => {
      const l = await client.snapshots({ region, limit: 1000 });
      return l.some((x) => compareGlt(x.glt, newest.glt) === 0) ? l : undefined;
    }, 10_000, `${region} knows ${formatGlt(newest.glt)}`);
    const mine = s.find((x) => compareGlt(x.glt, newest.glt) === 0)!;
    t.deepEqual([...mine.members].sort(), [...newest.members].sort());
    t.is(mine.epoch, newest.epoch);
    t.true(mine.phases.length > 0);
  }
});

test.serial('a write acknowledged in one region is readable in every region at the first commit above it', async (t) => {
  t.timeout(60_000);
  const w = await client.put('commit:a', 'alpha', { region: 'ap-south' });
  // A commit T at or above the write's ts, with its region a member, holds it: every member had applied ap-south's versions up to T.
  const snap = await eventually(async () => {
    const s = await client.snapshots({ region: 'us-east', limit: 1 });
    return s[0] && compareGlt(s[0].glt, w.ts) >= 0 && s[0].members.includes('ap-south') ? s[0] : undefined;
  }, 30_000, 'a commit above the write');
  for (const region of REGIONS) {
    const atCommit = await client.get('commit:a', { region, glt: snap.glt, waitMs: 10_000 });
    t.is(atCommit.value?.toString(), 'alpha', `${region} at ${formatGlt(snap.glt)}`);
    t.is(atCommit.version && formatGlt(atCommit.version), formatGlt(w.ts));
    t.is(atCommit.origin, w.origin);
    const ownRead = await client.get('commit:a', { region, minGlt: w.ts, waitMs: 10_000 });
    t.is(ownRead.value?.toString(), 'alpha', `${region} with min_glt`);
  }
  // A delete in another region: every region agrees at a later commit, and the older GLT still reads the value.
  const d = await client.delete('commit:a', { region: 'eu-west' });
  for (const region of REGIONS) {
    const gone = await client.get('commit:a', { region, minGlt: d.ts, waitMs: 10_000 });
    t.false(gone.found, `${region} after the delete`);
    const before = await client.get('commit:a', { region, glt: snap.glt });
    t.is(before.value?.toString(), 'alpha', `${region} still reads the older snapshot`);
  }
});
