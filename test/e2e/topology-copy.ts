import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseDocument } from 'yaml';
import { freePort } from '../../topology/local-etcd.js';

/** Round settings a test may relax: the CI machine is shared and loaded, and tests check behaviour, not round time. */
export interface SnapshotOverrides {
  readonly intervalMs?: number;
  readonly budgetMs?: number;
  readonly missThreshold?: number;
}

/**
 * A copy of topology/local.yaml in `dir` with its own free loopback ports and data
 * directories (relative to `dir`, the working directory `up` runs in), so a test never
 * meets a deployment already running on this machine.
 */
export async function copyLocalTopology(dir: string, name = 'e2e', snapshot: SnapshotOverrides = {}): Promise<string> {
  const source = fileURLToPath(new URL('../../topology/local.yaml', import.meta.url));
  const doc = parseDocument(readFileSync(source, 'utf8'));
  const data = doc.toJS() as {
    name: string;
    etcd: { dataDir: string };
    snapshot: Record<string, number>;
    regions: { leaders: Record<string, string>[]; datanodes: Record<string, string>[] }[];
    coordinators: Record<string, string>[];
  };
  data.name = name;
  data.etcd.dataDir = '.aetherflow/etcd';
  data.snapshot = { ...data.snapshot, ...snapshot };
  // freePort may hand out a port twice (it is free again once probed): every address distinct.
  const used = new Set<number>();
  const port = async (): Promise<string> => {
    let p = await freePort();
    while (used.has(p)) p = await freePort();
    used.add(p);
    return `127.0.0.1:${p}`;
  };
  for (const r of data.regions) {
    for (const l of r.leaders) {
      l['grpc'] = await port();
      l['quantum'] = await port();
      l['metrics'] = await port();
    }
    for (const d of r.datanodes) {
      d['grpc'] = await port();
      d['metrics'] = await port();
      d['dataDir'] = `.aetherflow/data/${d['id']}`;
    }
  }
  for (const c of data.coordinators) {
    c['quantum'] = await port();
    c['metrics'] = await port();
  }
  const file = join(dir, 'topology.yaml');
  writeFileSync(file, JSON.stringify(data, null, 2)); // JSON is YAML
  return file;
}
