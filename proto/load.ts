import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import type { ProtoGrpcType as KvProto } from './generated/kv.js';
import type { ProtoGrpcType as SnapshotsProto } from './generated/snapshots.js';
import type { ProtoGrpcType as DataNodeProto } from './generated/datanode.js';

/**
 * The options the types in proto/generated were generated with (package.json "gen"):
 * snake_case field names as in the .proto files, uint64 as decimal strings (a wall clock
 * in ns does not fit a double), defaults filled so absent messages read as null.
 */
const LOADER_OPTIONS: protoLoader.Options = { keepCase: true, longs: String, enums: String, defaults: true, oneofs: true };

/** The directory holding the .proto files, found from this module whether it runs from the sources or from dist/. */
function protoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    const pkg = join(dir, 'package.json');
    if (existsSync(pkg) && (JSON.parse(readFileSync(pkg, 'utf8')) as { name?: string }).name === 'aetherflow') return join(dir, 'proto');
    dir = dirname(dir);
  }
  throw new Error('cannot find the aetherflow package root (proto files) above ' + fileURLToPath(import.meta.url));
}

function load<T>(file: string): T {
  const root = protoRoot();
  const def = protoLoader.loadSync(file, { ...LOADER_OPTIONS, includeDirs: [root] });
  return grpc.loadPackageDefinition(def) as unknown as T;
}

const kv = load<KvProto>('aetherflow/v1/kv.proto');
const snapshots = load<SnapshotsProto>('aetherflow/v1/snapshots.proto');
const datanode = load<DataNodeProto>('aetherflow/internal/v1/datanode.proto');

/** Client constructors (`new KvClient(address, credentials)`) and service definitions (`KvService`) for servers. */
export const KvClient = kv.aetherflow.v1.KV;
export const KvService = kv.aetherflow.v1.KV.service;
export const SnapshotsClient = snapshots.aetherflow.v1.Snapshots;
export const SnapshotsService = snapshots.aetherflow.v1.Snapshots.service;
export const DataNodeClient = datanode.aetherflow.internal.v1.DataNode;
export const DataNodeService = datanode.aetherflow.internal.v1.DataNode.service;

export type { KVClient, KVHandlers } from './generated/aetherflow/v1/KV.js';
export type { SnapshotsClient as SnapshotsClientType, SnapshotsHandlers } from './generated/aetherflow/v1/Snapshots.js';
export type { DataNodeClient as DataNodeClientType, DataNodeHandlers } from './generated/aetherflow/internal/v1/DataNode.js';
export type { Timestamp, Timestamp__Output } from './generated/aetherflow/v1/Timestamp.js';
export type { SnapshotInfo, SnapshotInfo__Output } from './generated/aetherflow/v1/SnapshotInfo.js';
export type { KeyValue, KeyValue__Output } from './generated/aetherflow/v1/KeyValue.js';
export type { ScanRequest, ScanRequest__Output } from './generated/aetherflow/v1/ScanRequest.js';
export type { Version as WireVersion, Version__Output as WireVersion__Output } from './generated/aetherflow/internal/v1/Version.js';
export type { FeedBatch as WireFeedBatch, FeedBatch__Output as WireFeedBatch__Output } from './generated/aetherflow/internal/v1/FeedBatch.js';
export type { ApplyResponse__Output as WireApplyResponse__Output } from './generated/aetherflow/internal/v1/ApplyResponse.js';
export type { ChangesResponse__Output as WireChangesResponse__Output } from './generated/aetherflow/internal/v1/ChangesResponse.js';
export type { StreamStateResponse__Output as WireStreamStateResponse__Output } from './generated/aetherflow/internal/v1/StreamStateResponse.js';
export type { ChunkResponse__Output as WireChunkResponse__Output } from './generated/aetherflow/internal/v1/ChunkResponse.js';
export type { WriteResponse__Output } from './generated/aetherflow/v1/WriteResponse.js';
export type { GetResponse__Output } from './generated/aetherflow/v1/GetResponse.js';
export type { ListResponse__Output } from './generated/aetherflow/v1/ListResponse.js';
