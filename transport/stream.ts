import { assert } from '../common/errors.js';

/**
 * Messages on numbered streams: fragmentation at the sender, reassembly and per-stream
 * ordering at the receiver, and the credit that keeps a slow receiver from being flooded.
 *
 * A data packet's frame (after the connection's ack section):
 *   stream id 4 | message index 4 | message length 4 | fragment offset 4 | fragment bytes
 *
 * Flow control is by credit, in "cost" units: a message costs its length plus
 * MESSAGE_OVERHEAD_BYTES (so empty messages are not free). The receiver advertises
 * maxData = released cost + windowBytes; a sender starts a message only when its whole
 * cost fits under the peer's maxData. Reserving a message whole means messages started
 * on several streams can always complete, so credit never deadlocks; it also bounds
 * everything the receiver buffers (partial, waiting and unreleased messages) by windowBytes.
 */

export const FRAME_HEADER_BYTES = 16;
export const MESSAGE_OVERHEAD_BYTES = 64;

export interface Fragment {
  readonly streamId: number;
  readonly messageIndex: number;
  readonly messageLength: number;
  readonly offset: number;
  readonly data: Buffer;
}

export function encodeFragment(f: Fragment): Buffer {
  const buf = Buffer.allocUnsafe(FRAME_HEADER_BYTES + f.data.length);
  buf.writeUInt32BE(f.streamId, 0);
  buf.writeUInt32BE(f.messageIndex, 4);
  buf.writeUInt32BE(f.messageLength, 8);
  buf.writeUInt32BE(f.offset, 12);
  f.data.copy(buf, FRAME_HEADER_BYTES);
  return buf;
}

/** Undefined for a frame that does not fit (the caller drops the packet). */
export function decodeFragment(buf: Buffer): Fragment | undefined {
  if (buf.length < FRAME_HEADER_BYTES) return undefined;
  const f = {
    streamId: buf.readUInt32BE(0),
    messageIndex: buf.readUInt32BE(4),
    messageLength: buf.readUInt32BE(8),
    offset: buf.readUInt32BE(12),
    data: buf.subarray(FRAME_HEADER_BYTES),
  };
  if (f.offset + f.data.length > f.messageLength) return undefined;
  if (f.data.length === 0 && f.messageLength !== 0) return undefined;
  return f;
}

export function messageCost(length: number): number {
  return length + MESSAGE_OVERHEAD_BYTES;
}

export interface StreamLimits {
  /** Largest message accepted by send; at most windowBytes. */
  readonly maxMessageBytes: number;
  /** Cost (length + overhead) of messages queued or unacknowledged at the sender; send beyond fails BUFFER_FULL. */
  readonly sendBufferBytes: number;
  /** Receive window: cost of everything buffered at the receiver. */
  readonly windowBytes: number;
  /** Streams one connection may use. */
  readonly maxStreams: number;
}

export const defaultStreamLimits: StreamLimits = {
  maxMessageBytes: 48 * 1024 * 1024,
  sendBufferBytes: 128 * 1024 * 1024,
  windowBytes: 64 * 1024 * 1024,
  maxStreams: 1024,
};

/** A message being sent; `sendId` is the caller's handle for completion. */
export interface OutgoingMessage {
  readonly sendId: number;
  readonly streamId: number;
  readonly index: number;
  readonly data: Buffer;
  /** Next byte to put in a first-time fragment. */
  nextOffset: number;
  /** Fragments sent and not yet acknowledged. */
  outstanding: number;
  started: boolean;
}

export type EnqueueRefusal = 'MESSAGE_TOO_LARGE' | 'BUFFER_FULL' | 'INVALID_ARGUMENT';

/** The sending half of every stream of one connection. */
export class SendStreams {
  /** Per stream, messages not yet fully acknowledged, in order. Invariant: only the first unsent-complete one is partially sent. */
  private readonly queues = new Map<number, OutgoingMessage[]>();
  private readonly nextIndex = new Map<number, number>();
  /** Streams with something unsent, in round-robin order. */
  private readonly ready: number[] = [];
  /** Cost of messages not yet completed. Invariant: ≤ sendBufferBytes. */
  private bufferedCost = 0;
  /** Cost of every message started so far; never above the peer's maxData. */
  private reservedCost = 0;

  constructor(private readonly limits: StreamLimits) {
    assert(limits.maxMessageBytes + MESSAGE_OVERHEAD_BYTES <= limits.windowBytes, 'a whole message fits in the receive window');
  }

  get queuedCost(): number {
    return this.bufferedCost;
  }

  get hasUnsent(): boolean {
    return this.ready.length > 0;
  }

  enqueue(sendId: number, streamId: number, data: Buffer): EnqueueRefusal | undefined {
    if (!Number.isInteger(streamId) || streamId < 0 || streamId > 0xffffffff) return 'INVALID_ARGUMENT';
    if (data.length > this.limits.maxMessageBytes) return 'MESSAGE_TOO_LARGE';
    if (this.bufferedCost + messageCost(data.length) > this.limits.sendBufferBytes) return 'BUFFER_FULL';
    let q = this.queues.get(streamId);
    if (q === undefined) {
      if (this.queues.size >= this.limits.maxStreams) return 'BUFFER_FULL';
      q = [];
      this.queues.set(streamId, q);
    }
    const index = this.nextIndex.get(streamId) ?? 0;
    this.nextIndex.set(streamId, (index + 1) >>> 0);
    q.push({ sendId, streamId, index, data, nextOffset: 0, outstanding: 0, started: false });
    this.bufferedCost += messageCost(data.length);
    if (!this.ready.includes(streamId)) this.ready.push(streamId);
    return undefined;
  }

  /**
   * The next first-time fragment, at most `maxDataBytes` long, taking streams in turn;
   * undefined when nothing is unsent or the next message's cost exceeds the credit left.
   */
  nextFragment(maxDataBytes: number, peerMaxData: number): { message: OutgoingMessage; fragment: Fragment } | undefined {
    for (let tries = this.ready.length; tries > 0; tries--) {
      const streamId = this.ready.shift()!;
      const q = this.queues.get(streamId)!;
      const m = q.find((x) => x.nextOffset < x.data.length || !x.started)!;
      if (!m.started) {
        const cost = messageCost(m.data.length);
        if (this.reservedCost + cost > peerMaxData) {
          this.ready.push(streamId);
          continue;
        }
        this.reservedCost += cost;
        m.started = true;
      }
      const len = Math.min(maxDataBytes, m.data.length - m.nextOffset);
      const fragment: Fragment = { streamId, messageIndex: m.index, messageLength: m.data.length, offset: m.nextOffset, data: m.data.subarray(m.nextOffset, m.nextOffset + len) };
      m.nextOffset += len;
      m.outstanding++;
      if (q.some((x) => x.nextOffset < x.data.length || !x.started)) this.ready.push(streamId);
      return { message: m, fragment };
    }
    return undefined;
  }

  /** A fragment of `m` was acknowledged; returns the sends now complete, in stream order. */
  onFragmentAcked(m: OutgoingMessage): number[] {
    assert(m.outstanding > 0, 'an acknowledged fragment was outstanding');
    m.outstanding--;
    const q = this.queues.get(m.streamId);
    const done: number[] = [];
    while (q !== undefined && q.length > 0) {
      const head = q[0]!;
      if (!head.started || head.nextOffset < head.data.length || head.outstanding > 0) break;
      q.shift();
      this.bufferedCost -= messageCost(head.data.length);
      done.push(head.sendId);
    }
    return done;
  }

  /** Every send not yet complete (the connection is ending). */
  drain(): number[] {
    const ids: number[] = [];
    for (const q of this.queues.values()) for (const m of q) ids.push(m.sendId);
    this.queues.clear();
    this.ready.length = 0;
    this.bufferedCost = 0;
    return ids;
  }
}

export interface DeliveredMessage {
  readonly streamId: number;
  readonly data: Buffer;
  /** Credit to hand back through release() once the application is done with it. */
  readonly cost: number;
}

interface IncomingMessage {
  readonly data: Buffer;
  readonly offsets: Set<number>;
  received: number;
}

interface ReceiveStream {
  nextIndex: number;
  /** Partial and complete-but-waiting messages, by index. */
  readonly pending: Map<number, IncomingMessage>;
}

export type FragmentVerdict = { readonly ok: true; readonly delivered: DeliveredMessage[] } | { readonly ok: false; readonly reason: 'flow_control' | 'bad_payload' };

/** The receiving half of every stream of one connection. */
export class ReceiveStreams {
  private readonly streams = new Map<number, ReceiveStream>();
  /** Cost of messages begun and not yet released. Invariant: ≤ windowBytes. */
  private buffered = 0;
  private released = 0;

  constructor(private readonly limits: StreamLimits) {}

  get bufferedCost(): number {
    return this.buffered;
  }

  /** The credit advertised to the peer. */
  get maxData(): number {
    return this.released + this.limits.windowBytes;
  }

  /**
   * Why a fragment cannot be taken now, if it cannot. Checked before its packet counts as
   * received, so a refused fragment is not acknowledged and comes back later.
   */
  refusal(f: Fragment): 'flow_control' | 'bad_payload' | undefined {
    if (f.messageLength > this.limits.maxMessageBytes) return 'bad_payload';
    const s = this.streams.get(f.streamId);
    if (s === undefined && this.streams.size >= this.limits.maxStreams) return 'bad_payload';
    const m = s?.pending.get(f.messageIndex);
    if (m !== undefined) return m.data.length === f.messageLength ? undefined : 'bad_payload';
    const delivered = s !== undefined && ((f.messageIndex - s.nextIndex) >>> 0) >= 0x80000000;
    if (!delivered && this.buffered + messageCost(f.messageLength) > this.limits.windowBytes) return 'flow_control';
    return undefined;
  }

  onFragment(f: Fragment): FragmentVerdict {
    const refused = this.refusal(f);
    if (refused !== undefined) return { ok: false, reason: refused };
    let s = this.streams.get(f.streamId);
    if (s === undefined) {
      s = { nextIndex: 0, pending: new Map() };
      this.streams.set(f.streamId, s);
    }
    const ahead = (f.messageIndex - s.nextIndex) >>> 0;
    if (ahead >= 0x80000000) return { ok: true, delivered: [] }; // an index already delivered
    let m = s.pending.get(f.messageIndex);
    if (m === undefined) {
      this.buffered += messageCost(f.messageLength);
      m = { data: Buffer.alloc(f.messageLength), offsets: new Set(), received: 0 };
      s.pending.set(f.messageIndex, m);
    }
    if (!m.offsets.has(f.offset)) {
      m.offsets.add(f.offset);
      f.data.copy(m.data, f.offset);
      m.received += f.data.length;
    }
    const delivered: DeliveredMessage[] = [];
    for (;;) {
      const head = s.pending.get(s.nextIndex);
      if (head === undefined || head.offsets.size === 0 || head.received < head.data.length) break;
      s.pending.delete(s.nextIndex);
      s.nextIndex = (s.nextIndex + 1) >>> 0;
      delivered.push({ streamId: f.streamId, data: head.data, cost: messageCost(head.data.length) });
    }
    return { ok: true, delivered };
  }

  /** The application is done with a delivered message: its cost becomes credit again. */
  release(cost: number): void {
    assert(cost <= this.buffered, 'released no more than buffered');
    this.buffered -= cost;
    this.released += cost;
  }
}
