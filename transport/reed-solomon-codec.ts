/**
 * A synchronous face on @ronomon/reed-solomon. The addon only offers an asynchronous
 * encode (libuv threadpool + callback), but FEC sits inside the sans-IO connection,
 * which must return parity and recovered packets from the same call. So one worker
 * thread owns the addon; the caller copies shards into shared memory, posts the job
 * and blocks on Atomics.wait until the worker's callback flags completion (~35 µs per
 * group on this machine). The worker is unref'd: it never keeps a process alive.
 */
import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';
import { AetherError, assert } from '../common/errors.js';

/** The addon's limits (binding.c MAX_K, MAX_M). */
export const RS_MAX_DATA_SHARDS = 24;
export const RS_MAX_PARITY_SHARDS = 6;
/** The addon requires shard sizes that are multiples of 8 bytes. */
export const RS_SHARD_ALIGN_BYTES = 8;
/** Upper bound on one job's shared memory: (24 + 6) shards of at most 64 KiB. */
const MAX_JOB_BYTES = (RS_MAX_DATA_SHARDS + RS_MAX_PARITY_SHARDS) * 65536;
const JOB_TIMEOUT_MS = 5000;

const CONTROL_IDLE = 0;
const CONTROL_DONE = 1;
const CONTROL_FAILED = 2;

const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const ReedSolomon = require(workerData.modulePath);
const control = new Int32Array(workerData.control);
const contexts = new Map();
const finish = (state) => { Atomics.store(control, 0, state); Atomics.notify(control, 0); };
parentPort.on('message', (job) => {
  try {
    let context = contexts.get(job.k * 64 + job.m);
    if (context === undefined) { context = ReedSolomon.create(job.k, job.m); contexts.set(job.k * 64 + job.m, context); }
    const data = Buffer.from(job.memory);
    const dataBytes = job.shardBytes * job.k;
    ReedSolomon.encode(context, job.sources, job.targets, data, 0, dataBytes, data, dataBytes, job.shardBytes * job.m,
      (error) => finish(error ? ${CONTROL_FAILED} : ${CONTROL_DONE}));
  } catch {
    finish(${CONTROL_FAILED});
  }
});
`;

export class ReedSolomonCodec {
  private static instance: ReedSolomonCodec | undefined;
  private readonly worker: Worker;
  private readonly control = new Int32Array(new SharedArrayBuffer(4));
  private memory = new SharedArrayBuffer(64 * 1024);

  private constructor() {
    const modulePath = createRequire(import.meta.url).resolve('@ronomon/reed-solomon');
    this.worker = new Worker(WORKER_SOURCE, {
      eval: true,
      execArgv: [],
      workerData: { modulePath, control: this.control.buffer },
    });
    this.worker.unref();
    this.worker.on('error', () => {
      // A dead worker surfaces as a timeout in reconstruct(); nothing to do here.
    });
  }

  /**
   * One codec per process, created on first use: the worker and its contexts are shared
   * by every connection, and a process whose links never lose a packet never starts it.
   */
  static shared(): ReedSolomonCodec {
    ReedSolomonCodec.instance ??= new ReedSolomonCodec();
    return ReedSolomonCodec.instance;
  }

  /**
   * Computes the missing shards `targets` (indices into data 0..k-1 then parity
   * k..k+m-1) from the present ones. `shards` has k+m entries, each shardBytes long or
   * undefined when missing; at least k must be present and at most m targeted. Returns
   * the targeted shards in the order of `targets`.
   */
  reconstruct(k: number, m: number, shardBytes: number, shards: readonly (Buffer | undefined)[], targets: readonly number[]): Buffer[] {
    assert(k >= 1 && k <= RS_MAX_DATA_SHARDS && m >= 1 && m <= RS_MAX_PARITY_SHARDS, 'k, m within the addon limits');
    assert(shards.length === k + m, 'one entry per shard');
    assert(shardBytes > 0 && shardBytes % RS_SHARD_ALIGN_BYTES === 0, 'shard size aligned');
    assert(targets.length >= 1 && targets.length <= m, 'at most m targets');
    const totalBytes = shardBytes * (k + m);
    assert(totalBytes <= MAX_JOB_BYTES, 'job within shared memory bound');
    if (this.memory.byteLength < totalBytes) this.memory = new SharedArrayBuffer(totalBytes);
    const view = Buffer.from(this.memory, 0, totalBytes);
    let sources = 0;
    let targetMask = 0;
    for (const t of targets) targetMask |= 1 << t;
    for (let i = 0; i < k + m; i++) {
      const shard = shards[i];
      if (shard !== undefined && (targetMask & (1 << i)) === 0) {
        assert(shard.length === shardBytes, 'present shards are shardBytes long');
        shard.copy(view, i * shardBytes);
        sources |= 1 << i;
      } else {
        view.fill(0, i * shardBytes, (i + 1) * shardBytes);
      }
    }
    Atomics.store(this.control, 0, CONTROL_IDLE);
    this.worker.postMessage({ k, m, shardBytes, sources, targets: targetMask, memory: this.memory });
    const waited = Atomics.wait(this.control, 0, CONTROL_IDLE, JOB_TIMEOUT_MS);
    const state = Atomics.load(this.control, 0);
    if (waited === 'timed-out' || state !== CONTROL_DONE) {
      throw new AetherError('INTERNAL', `reed-solomon worker ${waited === 'timed-out' ? 'timed out' : 'failed'}`, {
        details: { k, m, shardBytes },
      });
    }
    return targets.map((t) => Buffer.from(view.subarray(t * shardBytes, (t + 1) * shardBytes)));
  }
}
