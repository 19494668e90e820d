import * as grpc from '@grpc/grpc-js';
import { GLT_ZERO, formatGlt, type Glt } from '../../glts/glt.js';
import type { GetRequest__Output } from '../../proto/generated/aetherflow/v1/GetRequest.js';
import type { WriteRequest__Output } from '../../proto/generated/aetherflow/v1/WriteRequest.js';
import { KvService, type KVHandlers, type ScanRequest__Output, type Timestamp__Output } from '../../proto/load.js';
import { startServer } from '../../proto/server.js';
import { fromTimestamp, toTimestamp } from '../../proto/timestamp.js';
import { SCAN_GLT_KEY } from '../../regional/kv-service.js';
import type { Topology } from '../../topology/types.js';
import { testNodeSecurity, testSecuritySpec } from '../security/fixture.js';
import { testTopology } from './cluster.js';

/** A Write call the leader holds until the test answers it. */
export interface HeldWrite {
  readonly request: WriteRequest__Output;
  /** Acknowledges every mutation of the call with version `ts`. */
  answer(ts: Glt): void;
}

/**
 * A region leader that records the reads it is asked for, so a test sees exactly which
 * glt, min_glt and wait_ms the client sent, and holds each Write call until the test
 * answers it, so the test picks the versions and the order acknowledgements arrive in.
 * Reads are answered at once, not found, at the GLT asked for (glt, else min_glt, else
 * GLT_ZERO); scans with no rows.
 */
export interface RecordingLeader {
  readonly topology: Topology;
  readonly gets: readonly GetRequest__Output[];
  readonly scans: readonly ScanRequest__Output[];
  readonly writes: readonly HeldWrite[];
  close(): Promise<void>;
}

export async function startRecordingLeader(region = 'r1'): Promise<RecordingLeader> {
  const id = `${region}-recording`;
  const gets: GetRequest__Output[] = [];
  const scans: ScanRequest__Output[] = [];
  const writes: HeldWrite[] = [];
  const servedAt = (r: { readonly glt: Timestamp__Output | null; readonly min_glt: Timestamp__Output | null }): Glt => fromTimestamp(r.glt ?? r.min_glt) ?? GLT_ZERO;
  const handlers: Pick<KVHandlers, 'Write' | 'Get' | 'Scan'> = {
    Write: (call, cb) => {
      writes.push({
        request: call.request,
        answer: (ts) => cb(null, { outcomes: call.request.mutations.map(() => ({ result: { ts: toTimestamp(ts), origin: `${region}-d1` } })) }),
      });
    },
    Get: (call, cb) => {
      gets.push(call.request);
      cb(null, { found: false, glt: toTimestamp(servedAt(call.request)) });
    },
    Scan: (call) => {
      scans.push(call.request);
      const md = new grpc.Metadata();
      md.set(SCAN_GLT_KEY, formatGlt(servedAt(call.request)));
      call.sendMetadata(md);
      call.end();
    },
  };
  const server = await startServer('127.0.0.1:0', [[KvService, handlers as grpc.UntypedServiceImplementation]], { security: await testNodeSecurity(id) });
  return {
    topology: testTopology(region, [{ id, grpc: server.address }], [], await testSecuritySpec([id])),
    gets,
    scans,
    writes,
    close: () => server.close(0),
  };
}
