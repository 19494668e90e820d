import test from 'ava';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AetherError } from '../../common/errors.js';
import type { Topology } from '../../topology/types.js';
import { loadQuantumKey, topologyLinks } from '../../transport/topology-links.js';

const topology = {
  regions: [
    { name: 'us-east', leaders: [{ quantum: '127.0.0.1:7201' }], datanodes: [] },
    { name: 'eu-west', leaders: [{ quantum: '127.0.0.1:7202' }], datanodes: [] },
  ],
  coordinators: [{ id: 'c', region: 'us-east', quantum: '127.0.0.1:7401' }],
  links: { default: { delayMs: 0, jitterMs: 0, loss: 0 }, overrides: [{ from: 'us-east', to: 'eu-west', delayMs: 35, jitterMs: 2, loss: 0.001 }] },
} as unknown as Topology;

test('links from the topology: overrides by region pair, perfect links not emulated', (t) => {
  const fromUs = topologyLinks(topology, 'us-east');
  t.deepEqual(fromUs('127.0.0.1:7202'), { delayMs: 35, jitterMs: 2, loss: 0.001 });
  t.is(fromUs('127.0.0.1:7401'), undefined);
  t.is(fromUs('10.9.9.9:1'), undefined);
  t.is(topologyLinks(topology, 'eu-west')('127.0.0.1:7201'), undefined);
});

test('the key file: read, trailing newline dropped, too short refused', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'quantum-key-'));
  try {
    writeFileSync(join(dir, 'good'), 'an-adequately-long-key\n');
    writeFileSync(join(dir, 'short'), 'short');
    t.is((await loadQuantumKey(join(dir, 'good')))?.toString(), 'an-adequately-long-key');
    t.is(await loadQuantumKey(null), null);
    const short = await t.throwsAsync(loadQuantumKey(join(dir, 'short')), { instanceOf: AetherError });
    t.is(short?.code, 'TOPOLOGY_INVALID');
    const missing = await t.throwsAsync(loadQuantumKey(join(dir, 'missing')), { instanceOf: AetherError });
    t.is(missing?.code, 'TOPOLOGY_INVALID');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
