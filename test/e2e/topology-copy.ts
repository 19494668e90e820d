import { fileURLToPath } from 'node:url';
import { copyTopology, type SnapshotOverrides } from '../../topology/copy.js';

/** A copy of topology/local.yaml in `dir` (topology/copy.ts): its own ports, etcd and data, under `dir`. */
export function copyLocalTopology(dir: string, name = 'e2e', snapshot: SnapshotOverrides = {}): Promise<string> {
  return copyTopology(fileURLToPath(new URL('../../topology/local.yaml', import.meta.url)), dir, name, snapshot);
}
