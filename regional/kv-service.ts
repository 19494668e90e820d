import * as grpc from '@grpc/grpc-js';
import { AetherError, SnapshotNotReadyError, toAetherError } from '../common/errors.js';
import type { AetherMetrics, ReadResult as ReadOutcome } from '../common/metrics.js';
import { keyRangeOf } from '../datanode/service.js';
import type { KeyRange, ReadResult } from '../datanode/store.js';
import type { Version } from '../datanode/version.js';
import { compareGlt, formatGlt, type Glt } from '../glts/glt.js';
import type { KVHandlers, KeyValue, ScanRequest__Output } from '../proto/load.js';
import { toServiceError } from '../proto/status.js';
import { fromTimestamp, toTimestamp } from '../proto/timestamp.js';
import { drained } from '../proto/drained.js';
import type { AdmissionGate } from './admission.js';
import { DEFAULT_API_LIMITS, type ApiLimits } from './api-limits.js';
import { CallSlots } from './call-slots.js';
import type { DataNodeConnection } from './datanode-connection.js';
import type { Frontier } from './frontier.js';
import { requireElected, type Leadership } from './leadership.js';
import type { Router } from './router.js';

/** Initial metadata of a Scan: the GLT it reads at. */
export const SCAN_GLT_KEY = 'aetherflow-glt';
/** Trailing metadata of a Scan that stopped at the end of a page with rows left: the key the next page starts at. */
export const SCAN_RESUME_KEY = 'aetherflow-scan-resume-bin';

export interface KvServiceOptions {
  readonly region: string;
  readonly router: Router;
  /** One connection per data node id of the router. */
  readonly datanodes: ReadonlyMap<string, DataNodeConnection>;
  readonly frontier: Frontier;
  readonly leadership: () => Leadership;
  readonly limits?: ApiLimits;
  /** writes_total and reads_total{result}, counted once per request answered (not the NOT_LEADER answers of a standby). */
  readonly metrics?: KvMetrics;
  /** Holds writes back while the region's own stream is behind (regional/admission.ts). */
  readonly admission?: AdmissionGate;
}

export type KvMetrics = Pick<AetherMetrics, 'writes' | 'read'>;

/** Who a read is for: the client connection its slots count against, and a signal that aborts when the client cancels the call. */
export interface Caller {
  readonly peer: string;
  readonly signal: AbortSignal;
}

function callerOf(call: grpc.ServerUnaryCall<unknown, unknown> | grpc.ServerWritableStream<unknown, unknown>): Caller {
  const cancelled = new AbortController();
  call.once('cancelled', () => cancelled.abort());
  return { peer: call.getPeer(), signal: cancelled.signal };
}

/** How a failed read is counted: the frontier not there yet, history collected, or anything else. */
function failedReadOutcome(err: unknown): ReadOutcome | undefined {
  const code = toAetherError(err).code;
  if (code === 'NOT_LEADER') return undefined;
  return code === 'SNAPSHOT_NOT_READY' ? 'not_ready' : code === 'SNAPSHOT_COLLECTED' ? 'collected' : 'error';
}

/**
 * The public KV service (aetherflow.v1.KV) of a region's elected leader: each key goes to
 * its data node by the router; reads are served at a GLT no higher than the frontier.
 * Every request is validated before anything is sent to a data node, so a rejected
 * request writes nothing.
 */
export class KvService {
  private readonly limits: ApiLimits;
  private readonly waitingReads: CallSlots;
  private readonly openScans: CallSlots;

  constructor(private readonly o: KvServiceOptions) {
    this.limits = o.limits ?? DEFAULT_API_LIMITS;
    this.waitingReads = new CallSlots('reads waiting for the frontier', this.limits.maxWaitingReadsPerPeer, this.limits.maxWaitingReads);
    this.openScans = new CallSlots('scans', this.limits.maxOpenScansPerPeer, this.limits.maxOpenScans);
    for (const id of o.router.nodes) if (!o.datanodes.has(id)) throw new AetherError('INVALID_ARGUMENT', `no connection to data node ${id}`);
  }

  private checkKey(key: Buffer, field = 'key', allowEmpty = false): void {
    if (key.length === 0 && !allowEmpty) throw new AetherError('INVALID_ARGUMENT', `${field} must not be empty`);
    if (key.length > this.limits.maxKeyBytes) {
      throw new AetherError('KEY_TOO_LARGE', `${field} of ${key.length} bytes exceeds ${this.limits.maxKeyBytes}`, { details: { bytes: key.length, max: this.limits.maxKeyBytes } });
    }
  }

  private node(key: Buffer): DataNodeConnection {
    return this.o.datanodes.get(this.o.router.route(key))!;
  }

  async put(key: Buffer, value: Buffer): Promise<Version> {
    requireElected(this.o.leadership(), this.o.region);
    this.checkKey(key);
    this.checkValue(value);
    await this.o.admission?.admit();
    return this.node(key).put(key, value);
  }

  async delete(key: Buffer): Promise<Version> {
    requireElected(this.o.leadership(), this.o.region);
    this.checkKey(key);
    await this.o.admission?.admit();
    return this.node(key).delete(key);
  }

  private checkValue(value: Buffer): void {
    if (value.length > this.limits.maxValueBytes) {
      throw new AetherError('VALUE_TOO_LARGE', `value of ${value.length} bytes exceeds ${this.limits.maxValueBytes}`, { details: { bytes: value.length, max: this.limits.maxValueBytes } });
    }
  }

  /** One mutation of an admitted Write call: checked on its own, so a bad one fails alone. */
  private async mutate(m: { readonly key: Buffer; readonly value: Buffer; readonly delete: boolean }): Promise<Version> {
    this.checkKey(m.key);
    if (m.delete) return this.node(m.key).delete(m.key);
    this.checkValue(m.value);
    return this.node(m.key).put(m.key, m.value);
  }

  /**
   * The GLT a read is served at: `glt` when given (after waiting up to waitMs for the
   * frontier to reach it), else the frontier (once it reaches `minGlt`, when given). A
   * read that has to wait takes one of its connection's waiting-read slots meanwhile, and
   * stops waiting when its caller cancels.
   */
  async readGlt(glt: Glt | undefined, minGlt: Glt | undefined, waitMs: number, caller: Caller): Promise<Glt> {
    if (!Number.isInteger(waitMs) || waitMs < 0 || waitMs > this.limits.maxWaitMs) {
      throw new AetherError('INVALID_ARGUMENT', `wait_ms must be 0..${this.limits.maxWaitMs}`);
    }
    if (glt !== undefined && minGlt !== undefined) throw new AetherError('INVALID_ARGUMENT', 'give glt or min_glt, not both');
    const target = glt ?? minGlt;
    if (target !== undefined && !(await this.frontierReaches(target, waitMs, caller))) {
      throw new SnapshotNotReadyError(formatGlt(target), formatGlt(this.o.frontier.current()), waitMs);
    }
    return glt ?? this.o.frontier.current();
  }

  private async frontierReaches(target: Glt, waitMs: number, caller: Caller): Promise<boolean> {
    if (waitMs === 0 || compareGlt(target, this.o.frontier.current()) <= 0) return this.o.frontier.waitFor(target, 0);
    const release = this.waitingReads.acquire(caller.peer);
    try {
      return await this.o.frontier.waitFor(target, waitMs, caller.signal);
    } finally {
      release();
    }
  }

  async get(key: Buffer, glt: Glt | undefined, minGlt: Glt | undefined, waitMs: number, caller: Caller): Promise<{ found: ReadResult | undefined; glt: Glt }> {
    requireElected(this.o.leadership(), this.o.region);
    this.checkKey(key);
    const at = await this.readGlt(glt, minGlt, waitMs, caller);
    return { found: await this.node(key).get(key, at), glt: at };
  }

  checkRange(range: KeyRange): void {
    if ('prefix' in range) this.checkKey(range.prefix, 'prefix');
    else {
      this.checkKey(range.start, 'start', true);
      if (range.end) this.checkKey(range.end, 'end', true);
    }
  }

  /**
   * Live versions ≤ at in key order over every data node: a k-way merge of the nodes'
   * ordered streams (their keys are disjoint), at most `limit` (0: all).
   */
  async *scan(range: KeyRange, at: Glt, limit: number): AsyncGenerator<ReadResult> {
    const streams = [...this.o.datanodes.values()].map((d) => d.scan(range, at, limit));
    try {
      const heads = await Promise.all(streams.map((s) => s.next()));
      let sent = 0;
      while (limit === 0 || sent < limit) {
        let best = -1;
        for (let i = 0; i < heads.length; i++) {
          const h = heads[i]!;
          if (h.done) continue;
          if (best < 0 || Buffer.compare(h.value.key, (heads[best]!.value as ReadResult).key) < 0) best = i;
        }
        if (best < 0) return;
        yield heads[best]!.value as ReadResult;
        sent++;
        heads[best] = await streams[best]!.next();
      }
    } finally {
      await Promise.all(streams.map((s) => s.return(undefined)));
    }
  }

  /**
   * One Scan call: one page of rows at the GLT it chose. A page ends after scanPageRows
   * rows or once scanPageBytes of keys and values went out (so at least one row), or
   * at the request's `limit` when that comes first: an over-large limit, or none (0), is
   * capped to a page rather than refused. When the page ended with rows left, the
   * trailing metadata names the key the next page starts at (SCAN_RESUME_KEY); the
   * caller continues from it with start = that key, at the same GLT.
   */
  private async servePage(call: grpc.ServerWritableStream<ScanRequest__Output, KeyValue>): Promise<void> {
    const r = call.request;
    const range = keyRangeOf(r);
    this.checkRange(range);
    const at = await this.readGlt(fromTimestamp(r.glt), fromTimestamp(r.min_glt), r.wait_ms, callerOf(call));
    const md = new grpc.Metadata();
    md.set(SCAN_GLT_KEY, formatGlt(at));
    call.sendMetadata(md);
    const wanted = r.limit === 0 ? Infinity : r.limit;
    const pageRows = Math.min(wanted, this.limits.scanPageRows);
    // One row past a page the cap cuts short is read, to learn whether any is left and where the next page starts.
    const rowsToRead = wanted > pageRows ? pageRows + 1 : pageRows;
    let rows = 0;
    let bytes = 0;
    let resume: Buffer | undefined;
    for await (const row of this.scan(range, at, rowsToRead)) {
      if (call.cancelled) return;
      if (rows === pageRows || bytes >= this.limits.scanPageBytes) {
        resume = row.key;
        break;
      }
      rows++;
      bytes += row.key.length + row.value.length;
      if (!call.write({ key: row.key, value: row.value, version: toTimestamp(row.ts), origin: row.origin }) && !(await drained(call))) return;
    }
    this.o.metrics?.read(rows > 0 ? 'found' : 'not_found');
    const trailers = new grpc.Metadata();
    if (resume) trailers.set(SCAN_RESUME_KEY, resume);
    call.end(trailers);
  }

  private written(v: Version): { ts: ReturnType<typeof toTimestamp>; origin: string } {
    this.o.metrics?.writes.inc();
    return { ts: toTimestamp(v.ts), origin: v.origin };
  }

  private readFailed(err: unknown): ReturnType<typeof toServiceError> {
    const outcome = failedReadOutcome(err);
    if (outcome) this.o.metrics?.read(outcome);
    return toServiceError(err);
  }

  handlers(): KVHandlers {
    return {
      Put: (call, cb) => {
        this.put(call.request.key, call.request.value).then((v) => cb(null, this.written(v)), (err: unknown) => cb(toServiceError(err)));
      },
      Delete: (call, cb) => {
        this.delete(call.request.key).then((v) => cb(null, this.written(v)), (err: unknown) => cb(toServiceError(err)));
      },
      Write: (call, cb) => {
        const mutations = call.request.mutations;
        (async () => {
          requireElected(this.o.leadership(), this.o.region);
          if (mutations.length > this.limits.maxWriteMutations) {
            throw new AetherError('INVALID_ARGUMENT', `a Write of ${mutations.length} mutations exceeds ${this.limits.maxWriteMutations}`);
          }
          // Admitted as a whole: one waiter per call, and a refusal fails the call with its details.
          await this.o.admission?.admit();
          const settled = await Promise.allSettled(mutations.map((m) => this.mutate(m)));
          return {
            outcomes: settled.map((s) => {
              if (s.status === 'fulfilled') return { result: this.written(s.value) };
              const e = toAetherError(s.reason);
              return { code: e.code, message: e.message };
            }),
          };
        })().then((res) => cb(null, res), (err: unknown) => cb(toServiceError(err)));
      },
      Get: (call, cb) => {
        const r = call.request;
        (async () => this.get(r.key, fromTimestamp(r.glt), fromTimestamp(r.min_glt), r.wait_ms, callerOf(call)))().then(
          ({ found, glt }) => {
            this.o.metrics?.read(found ? 'found' : 'not_found');
            cb(null, found ? { found: true, value: found.value, version: toTimestamp(found.ts), origin: found.origin, glt: toTimestamp(glt) } : { found: false, glt: toTimestamp(glt) });
          },
          (err: unknown) => cb(this.readFailed(err)),
        );
      },
      Scan: (call) => {
        let release = () => {};
        (async () => {
          requireElected(this.o.leadership(), this.o.region);
          release = this.openScans.acquire(call.getPeer());
          await this.servePage(call);
        })()
          .catch((err: unknown) => {
            if (!call.cancelled) call.emit('error', this.readFailed(err));
          })
          .finally(() => release());
      },
    };
  }
}

/** The GLT of a Scan, from its initial metadata. */
export function scanGltOf(md: grpc.Metadata): string | undefined {
  const v = md.get(SCAN_GLT_KEY)[0];
  return typeof v === 'string' ? v : undefined;
}

