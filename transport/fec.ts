/**
 * Forward error correction for Quantum: whole data packets (their wire bytes) are
 * protected in groups of k consecutive sequence numbers [firstSeq, firstSeq+k) by m
 * Reed-Solomon parity shards, so the receiver rebuilds up to m lost packets of a group
 * without waiting a round trip for a retransmission.
 *
 * A shard is a packet prefixed with its 2-byte length and zero-padded to the group's
 * longest packet (rounded up to 8 bytes, as the codec needs), so recovered packets come
 * back at their exact length. A partial group (fewer than k packets) is closed by a
 * timer so a quiet sender's last packets are protected too.
 */
import { assert } from '../common/errors.js';
import { RS_MAX_DATA_SHARDS, RS_MAX_PARITY_SHARDS, RS_SHARD_ALIGN_BYTES, ReedSolomonCodec } from './reed-solomon-codec.js';

export { RS_MAX_DATA_SHARDS as FEC_MAX_K, RS_MAX_PARITY_SHARDS as FEC_MAX_M } from './reed-solomon-codec.js';

export interface FecParity {
  /** sequence number of the group's first data packet */
  readonly firstSeq: number;
  /** data packets in the group (fewer than configured for a partial group) */
  readonly k: number;
  /** parity shards in the group */
  readonly m: number;
  /** which parity shard this is, 0..m-1 */
  readonly index: number;
  readonly shard: Buffer;
}

const LENGTH_PREFIX_BYTES = 2;
/** firstSeq u32, k u8, m u8, index u8 */
const PARITY_HEADER_BYTES = 7;
const SEQ_MODULUS = 2 ** 32;

function seqAt(firstSeq: number, offset: number): number {
  return (firstSeq + offset) % SEQ_MODULUS;
}

function shardBytesFor(longestPacketBytes: number): number {
  return Math.ceil((longestPacketBytes + LENGTH_PREFIX_BYTES) / RS_SHARD_ALIGN_BYTES) * RS_SHARD_ALIGN_BYTES;
}

function toShard(packet: Buffer, shardBytes: number): Buffer {
  const shard = Buffer.alloc(shardBytes);
  shard.writeUInt16BE(packet.length, 0);
  packet.copy(shard, LENGTH_PREFIX_BYTES);
  return shard;
}

/** The packet inside a recovered shard, or undefined when its length prefix cannot be right. */
function fromShard(shard: Buffer): Buffer | undefined {
  const length = shard.readUInt16BE(0);
  if (length === 0 || length > shard.length - LENGTH_PREFIX_BYTES) return undefined;
  return Buffer.from(shard.subarray(LENGTH_PREFIX_BYTES, LENGTH_PREFIX_BYTES + length));
}

/** The payload of a packet with the FEC flag. */
export function encodeFecParity(p: FecParity): Buffer {
  const out = Buffer.allocUnsafe(PARITY_HEADER_BYTES + p.shard.length);
  out.writeUInt32BE(p.firstSeq >>> 0, 0);
  out.writeUInt8(p.k, 4);
  out.writeUInt8(p.m, 5);
  out.writeUInt8(p.index, 6);
  p.shard.copy(out, PARITY_HEADER_BYTES);
  return out;
}

/** Parses a parity payload; anything that does not fit the codec's limits is undefined. Never throws. */
export function decodeFecParity(b: Buffer): FecParity | undefined {
  if (!Buffer.isBuffer(b) || b.length <= PARITY_HEADER_BYTES) return undefined;
  const k = b.readUInt8(4);
  const m = b.readUInt8(5);
  const index = b.readUInt8(6);
  const shardBytes = b.length - PARITY_HEADER_BYTES;
  if (k < 1 || k > RS_MAX_DATA_SHARDS || m < 1 || m > RS_MAX_PARITY_SHARDS || index >= m) return undefined;
  if (shardBytes % RS_SHARD_ALIGN_BYTES !== 0 || shardBytes > 0xffff + LENGTH_PREFIX_BYTES + RS_SHARD_ALIGN_BYTES) return undefined;
  return { firstSeq: b.readUInt32BE(0), k, m, index, shard: Buffer.from(b.subarray(PARITY_HEADER_BYTES)) };
}

export interface FecEncoderOptions {
  /** data packets per full group, 1..24 */
  readonly k: number;
  /** a partial group this old is closed and its parity sent */
  readonly flushAfterMs: number;
  /** longest shard (packet + 2); longer packets travel unprotected */
  readonly maxShardBytes: number;
  /**
   * Parity for a group of n data packets at the measured loss. A partial group flushed by
   * the timer (light traffic: one or two packets) needs less than a full one — at 0.1 %
   * loss none — or parity would double the packets of a quiet link. Without it, every
   * group gets the count set for a full one.
   */
  readonly parityFor?: (n: number) => number;
}

export class FecEncoder {
  private readonly k: number;
  private readonly flushAfterMs: number;
  private readonly maxShardBytes: number;
  private readonly parityFor: ((n: number) => number) | undefined;
  /** 0 = FEC off; parity count of a full group (a partial one may get fewer, see parityFor) */
  private m = 0;
  /** the open group: packets of consecutive sequence numbers from firstSeq, fewer than k */
  private group: { firstSeq: number; startedMs: number; packets: Buffer[] } | undefined;
  /** counters for metrics */
  groupsEncoded = 0;
  paritySent = 0;

  constructor(options: FecEncoderOptions) {
    assert(Number.isInteger(options.k) && options.k >= 1 && options.k <= RS_MAX_DATA_SHARDS, 'FEC k within 1..24');
    assert(options.flushAfterMs >= 0, 'flushAfterMs non-negative');
    assert(options.maxShardBytes > LENGTH_PREFIX_BYTES, 'maxShardBytes holds a packet');
    this.k = options.k;
    this.flushAfterMs = options.flushAfterMs;
    this.maxShardBytes = options.maxShardBytes;
    this.parityFor = options.parityFor;
  }

  get parityCount(): number {
    return this.m;
  }

  /** m parity packets per group, clamped to 0..6; 0 turns FEC off and forgets the open group. */
  setParityCount(m: number): void {
    this.m = Math.max(0, Math.min(RS_MAX_PARITY_SHARDS, Math.floor(m)));
    if (this.m === 0) this.group = undefined;
    // Start the codec's worker as soon as FEC is wanted, so it boots before the group closes.
    else ReedSolomonCodec.shared();
  }

  /** Records a data packet just sent; returns parity when its group completes (or when a gap closed the previous one). */
  add(nowMs: number, seq: number, packet: Buffer): FecParity[] {
    if (this.m === 0) return [];
    const out: FecParity[] = [];
    const g = this.group;
    if (g !== undefined && seq !== seqAt(g.firstSeq, g.packets.length)) out.push(...this.close());
    if (packet.length === 0 || packet.length + LENGTH_PREFIX_BYTES > this.maxShardBytes) {
      // Too long to protect: close the open group so groups stay runs of consecutive numbers.
      out.push(...this.close());
      return out;
    }
    this.group ??= { firstSeq: seq, startedMs: nowMs, packets: [] };
    // A reference, not a copy: the packet's wire bytes are immutable once sent (retransmissions resend them as they are).
    this.group.packets.push(packet);
    if (this.group.packets.length >= this.k) out.push(...this.close());
    return out;
  }

  /** Closes a partial group older than flushAfterMs. */
  poll(nowMs: number): FecParity[] {
    if (this.group === undefined || nowMs - this.group.startedMs < this.flushAfterMs) return [];
    return this.close();
  }

  nextDeadlineMs(): number | undefined {
    return this.group === undefined ? undefined : this.group.startedMs + this.flushAfterMs;
  }

  private close(): FecParity[] {
    const g = this.group;
    this.group = undefined;
    if (g === undefined || g.packets.length === 0 || this.m === 0) return [];
    const k = g.packets.length;
    const m = k < this.k && this.parityFor ? Math.min(this.m, Math.max(0, Math.floor(this.parityFor(k)))) : this.m;
    if (m === 0) return [];
    const shardBytes = shardBytesFor(Math.max(...g.packets.map((p) => p.length)));
    const shards: (Buffer | undefined)[] = g.packets.map((p) => toShard(p, shardBytes));
    for (let i = 0; i < m; i++) shards.push(undefined);
    const targets = Array.from({ length: m }, (_, i) => k + i);
    const parity = ReedSolomonCodec.shared().reconstruct(k, m, shardBytes, shards, targets);
    this.groupsEncoded++;
    this.paritySent += m;
    return parity.map((shard, index) => ({ firstSeq: g.firstSeq, k, m, index, shard }));
  }
}

export interface FecDecoderOptions {
  /** groups whose parity is kept, oldest forgotten first */
  readonly maxGroups: number;
  /** parity shards longer than this are ignored */
  readonly maxShardBytes: number;
}

interface GroupState {
  readonly k: number;
  readonly m: number;
  readonly shardBytes: number;
  readonly parity: (Buffer | undefined)[];
  /** recovered, complete, or found inconsistent: nothing more to do */
  done: boolean;
}

export class FecDecoder {
  private readonly maxGroups: number;
  private readonly maxShardBytes: number;
  private readonly maxDataPackets: number;
  /**
   * Recently received data packets in a ring indexed by sequence modulo its size: O(1)
   * per packet on the hot receive path, and a newer sequence simply evicts an older one.
   */
  private readonly ringSeqs: Int32Array;
  private readonly ringPackets: (Buffer | undefined)[];
  /** groups by firstSeq, insertion-ordered, at most maxGroups */
  private readonly groups = new Map<number, GroupState>();
  /** counters for metrics */
  recovered = 0;
  parityReceived = 0;

  constructor(options: FecDecoderOptions) {
    assert(options.maxGroups >= 1, 'maxGroups positive');
    this.maxGroups = options.maxGroups;
    this.maxShardBytes = options.maxShardBytes;
    // Data must outlive its group's parity in flight: keep as many packets as the groups can span.
    this.maxDataPackets = options.maxGroups * RS_MAX_DATA_SHARDS;
    this.ringSeqs = new Int32Array(this.maxDataPackets).fill(-1);
    this.ringPackets = new Array<Buffer | undefined>(this.maxDataPackets).fill(undefined);
  }

  /**
   * A data packet received (or recovered): kept while a group may still need it. The
   * decoder keeps a reference, not a copy: the caller must not reuse the buffer.
   */
  onData(seq: number, packet: Buffer): void {
    const slot = seq % this.maxDataPackets;
    this.ringSeqs[slot] = seq | 0;
    this.ringPackets[slot] = packet;
  }

  private dataAt(seq: number): Buffer | undefined {
    const slot = seq % this.maxDataPackets;
    return this.ringSeqs[slot] === (seq | 0) ? this.ringPackets[slot] : undefined;
  }

  /** Recovered data packets' wire bytes, to process as if received; empty when nothing (or nothing certain) can be rebuilt. */
  onParity(p: FecParity): Buffer[] {
    if (p.shard.length > this.maxShardBytes || p.shard.length % RS_SHARD_ALIGN_BYTES !== 0 || p.shard.length <= LENGTH_PREFIX_BYTES) return [];
    if (p.k < 1 || p.k > RS_MAX_DATA_SHARDS || p.m < 1 || p.m > RS_MAX_PARITY_SHARDS || p.index < 0 || p.index >= p.m) return [];
    this.parityReceived++;
    let g = this.groups.get(p.firstSeq);
    if (g === undefined) {
      g = { k: p.k, m: p.m, shardBytes: p.shard.length, parity: new Array<Buffer | undefined>(p.m).fill(undefined), done: false };
      this.groups.set(p.firstSeq, g);
      if (this.groups.size > this.maxGroups) this.groups.delete(this.groups.keys().next().value!);
    }
    if (g.done) return [];
    if (g.k !== p.k || g.m !== p.m || g.shardBytes !== p.shard.length) {
      // Two parities disagree on the group's shape: trust neither.
      g.done = true;
      return [];
    }
    g.parity[p.index] = p.shard;
    return this.tryRecover(p.firstSeq, g);
  }

  private tryRecover(firstSeq: number, g: GroupState): Buffer[] {
    const shards: (Buffer | undefined)[] = [];
    const missing: number[] = [];
    for (let i = 0; i < g.k; i++) {
      const packet = this.dataAt(seqAt(firstSeq, i));
      if (packet === undefined) {
        missing.push(i);
        shards.push(undefined);
      } else if (packet.length + LENGTH_PREFIX_BYTES > g.shardBytes) {
        // A packet longer than the group's shards cannot belong to it.
        g.done = true;
        return [];
      } else {
        shards.push(toShard(packet, g.shardBytes));
      }
    }
    if (missing.length === 0) {
      g.done = true;
      return [];
    }
    const parityPresent = g.parity.filter((s) => s !== undefined).length;
    if (missing.length > parityPresent) return [];
    shards.push(...g.parity);
    const rebuilt = ReedSolomonCodec.shared().reconstruct(g.k, g.m, g.shardBytes, shards, missing);
    g.done = true;
    const out: Buffer[] = [];
    rebuilt.forEach((shard, i) => {
      const packet = fromShard(shard);
      if (packet === undefined) return;
      this.onData(seqAt(firstSeq, missing[i]!), packet);
      out.push(packet);
    });
    this.recovered += out.length;
    return out;
  }
}
