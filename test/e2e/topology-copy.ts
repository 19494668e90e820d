import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { copyTopology } from '../../topology/copy.js';

/** Snapshot settings a test relaxes: the CI machine is shared and loaded, and these tests check behaviour, not speed. */
export interface TestSnapshotSettings {
  readonly intervalMs?: number;
  readonly budgetMs?: number;
  readonly silenceMs?: number;
  readonly lagLimitMs?: number;
}

/** A copy of topology/local.yaml in `dir` (topology/copy.ts): its own ports, etcd and data, under `dir`; `snapshot` overrides its settings. */
export async function copyLocalTopology(dir: string, name = 'e2e', snapshot: TestSnapshotSettings = {}): Promise<string> {
  const file = await copyTopology(fileURLToPath(new URL('../../topology/local.yaml', import.meta.url)), dir, name);
  // The copy is JSON (which is YAML).
  const doc = JSON.parse(readFileSync(file, 'utf8')) as { snapshot: Record<string, unknown> };
  doc.snapshot = { ...doc.snapshot, ...snapshot };
  writeFileSync(file, JSON.stringify(doc, null, 2));
  return file;
}
