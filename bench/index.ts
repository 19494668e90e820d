import type { Command } from 'commander';
import { registerAllBench } from './all.js';
import { registerCompareEtcdBench } from './compare-etcd.js';
import { registerQuantumBench } from './quantum.js';
import { registerSecurityBench } from './security-cost.js';
import { registerSnapshotBench } from './snapshot.js';
import { registerStoreBench } from './store.js';

/** A benchmark's entry point: adds `aetherflow bench <name>` to the bench command. */
export type RegisterBench = (bench: Command) => void;

/** Every benchmark, in the order `make bench` runs them (`bench all` adds snapshot on wan.yaml after snapshot, then the drills). */
export const benches: readonly RegisterBench[] = [registerStoreBench, registerQuantumBench, registerSnapshotBench, registerSecurityBench, registerCompareEtcdBench, registerAllBench];
