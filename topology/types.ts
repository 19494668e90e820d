import type { TopologyProblem } from './problem.js';

/**
 * The validated topology file, version 1. Produced only by
 * topology/load.ts after schema validation, so every field here is present and checked.
 */
export interface Topology {
  readonly version: 1;
  readonly name: string;
  /** Absolute path of the file it was loaded from; relative dataDirs resolve against its directory's parent project root (the cwd of `up`). */
  readonly file: string;
  readonly etcd: EtcdSpec;
  readonly clock: { readonly maxOffsetMs: number };
  readonly snapshot: SnapshotSpec;
  readonly regions: readonly RegionSpec[];
  readonly coordinators: readonly CoordinatorSpec[];
  readonly links: LinksSpec;
  readonly storage: StorageSpec;
  readonly security: SecuritySpec;
  /** What is valid but probably not meant (printed by `topology check` and `up`). */
  readonly warnings: readonly TopologyProblem[];
}

export interface SecuritySpec {
  /** Plaintext gRPC and unauthenticated Quantum: throwaway setups only. */
  readonly insecure: boolean;
  /** CA, client and node certificates (security/certs-dir.ts); relative paths resolve against the cwd, like dataDirs. */
  readonly certsDir: string;
  /** Quantum's pre-shared key; null: `quantum.key` in certsDir (unless insecure). */
  readonly quantumKeyFile: string | null;
  readonly etcd: EtcdSecuritySpec;
}

export interface EtcdSpec {
  /** External etcd; empty means `up` starts a local one. */
  readonly endpoints: readonly string[];
  /** Local members when endpoints is empty: 1 or 3. */
  readonly members: 1 | 3;
  readonly dataDir: string;
}

/** How the data nodes keep what they acknowledge. */
export interface StorageSpec {
  /** Acknowledge a write (and count an apply) only once its batch is synced to disk. */
  readonly sync: boolean;
}

/**
 * How processes and the CLI authenticate to an external etcd. Files are read where
 * they are named (relative paths from the working directory, like dataDirs); unused
 * with the local etcd of `up`, which listens in plaintext on loopback.
 */
export interface EtcdSecuritySpec {
  /** CA bundle that signs the etcd servers' certificates: with it, clients dial TLS. */
  readonly caFile: string | null;
  /** Client certificate and its key, for etcd's --client-cert-auth. */
  readonly certFile: string | null;
  readonly keyFile: string | null;
  /** etcd user (auth enabled), with the password in passwordFile. */
  readonly username: string | null;
  readonly passwordFile: string | null;
}

export interface SnapshotSpec {
  readonly intervalMs: number;
  /** What one commit should take (a metric and an alert); above intervalMs it only warns. */
  readonly budgetMs: number;
  readonly retentionSec: number;
  /** v1's setting: accepted, ignored. */
  readonly missThreshold?: number;
  readonly silenceMs: number;
  readonly lagLimitMs: number;
  readonly admission: AdmissionSpec;
}

/** When `KV.Write` waits for the region's own stream, and for how long. */
export interface AdmissionSpec {
  readonly maxLagMs: number;
  readonly maxUnshippedBytes: number;
  readonly waitMs: number;
}

export interface RegionSpec {
  readonly name: string;
  /** Candidates; one is elected. */
  readonly leaders: readonly LeaderSpec[];
  readonly datanodes: readonly DatanodeSpec[];
}

/** host:port */
export type Address = string;

export interface LeaderSpec {
  readonly id: string;
  readonly grpc: Address;
  readonly quantum: Address;
  readonly metrics: Address;
}

export interface DatanodeSpec {
  readonly id: string;
  readonly grpc: Address;
  readonly dataDir: string;
  readonly metrics: Address;
}

export interface CoordinatorSpec {
  readonly id: string;
  readonly region: string;
  readonly quantum: Address;
  readonly metrics: Address;
}

export interface LinkSpec {
  readonly delayMs: number;
  readonly jitterMs: number;
  readonly loss: number;
}

export interface LinksSpec {
  readonly default: LinkSpec;
  readonly overrides: readonly (LinkSpec & { readonly from: string; readonly to: string })[];
}
