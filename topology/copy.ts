import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseDocument } from 'yaml';
import { assert } from '../common/errors.js';
import { loadTopology } from './load.js';
import { PORT_BLOCK_SIZE, reservePortBlock } from './port-block.js';
import type { Topology } from './types.js';

/** What a copy may change beside its ports and directories. */
export interface CopyOverrides {
  /** The local etcd's size (3 for drills that fail its leader); default as in the source. */
  readonly etcdMembers?: 1 | 3;
  /** `security.insecure` and `storage.sync`: `bench security` runs the same load with and without them. */
  readonly insecure?: boolean;
  readonly sync?: boolean;
}

interface TopologyDoc {
  name: string;
  etcd: { endpoints?: string[]; dataDir?: string; [k: string]: unknown };
  regions: { name: string; leaders: Record<string, string>[]; datanodes: Record<string, string>[] }[];
  coordinators: Record<string, string>[];
  security?: Record<string, unknown>;
  storage?: Record<string, unknown>;
}

/**
 * A copy of a topology in `dir` with its own free loopback ports (a block reserved for this
 * process, topology/port-block.ts), a local etcd, data directories and a certificates
 * directory under `dir` (absolute): a benchmark or a test starts from empty state and
 * never meets a deployment already running on this machine. Links, regions and the rest
 * stay as they are. Returns the copy's file.
 */
export async function copyTopology(source: string, dir: string, name: string, overrides: CopyOverrides = {}): Promise<string> {
  const data = parseDocument(readFileSync(source, 'utf8')).toJS() as TopologyDoc;
  const root = resolve(dir);
  data.name = name;
  data.etcd = { ...data.etcd, endpoints: [], dataDir: join(root, '.aetherflow', 'etcd'), ...(overrides.etcdMembers ? { members: overrides.etcdMembers } : {}) };
  // Certificates name the copy's own ports' hosts, and a copy starts without any: `up` makes them here.
  data.security = { ...data.security, certsDir: join(root, '.aetherflow', 'certs'), ...(overrides.insecure !== undefined ? { insecure: overrides.insecure } : {}) };
  if (overrides.sync !== undefined) data.storage = { ...data.storage, sync: overrides.sync };
  const ports = await reservePortBlock();
  const port = (): string => {
    const p = ports.shift();
    assert(p !== undefined, `a copy needs at most ${PORT_BLOCK_SIZE} ports`);
    return `127.0.0.1:${p}`;
  };
  for (const r of data.regions) {
    for (const l of r.leaders) for (const k of ['grpc', 'quantum', 'metrics']) l[k] = port();
    for (const d of r.datanodes) {
      for (const k of ['grpc', 'metrics']) d[k] = port();
      d['dataDir'] = join(root, '.aetherflow', 'data', d['id']!);
    }
  }
  for (const c of data.coordinators) for (const k of ['quantum', 'metrics']) c[k] = port();
  const file = join(root, 'topology.yaml');
  writeFileSync(file, JSON.stringify(data, null, 2)); // JSON is YAML
  return file;
}

/**
 * Runs `fn` on a fresh copy of `topology` (copyTopology, named `<name>-<suffix>`) in a new
 * temp dir, removed afterwards: a benchmark or a demo starts from empty state, not from
 * whatever an earlier run or an `up` of the topology left behind, and never meets one
 * running.
 */
export async function withScratchCopy<T>(topology: Topology, suffix: string, fn: (copy: Topology) => Promise<T>, overrides: CopyOverrides = {}): Promise<T> {
  const scratch = mkdtempSync(join(tmpdir(), `aetherflow-${suffix}-`));
  try {
    return await fn(loadTopology(await copyTopology(topology.file, scratch, `${topology.name}-${suffix}`, overrides)));
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}
