/**
 * A delaying TCP relay: it listens on a loopback port, and for each connection it accepts
 * it dials the target and forwards bytes both ways, holding each chunk for the link's
 * one-way delay (plus seeded jitter) before writing it on.
 *
 * How: every chunk read from one side gets a release time `max(arrival + delay + jitter,
 * previous release)` — the max keeps each direction in order, as a TCP stream must be —
 * and joins that direction's FIFO; one timer per direction writes out the chunks whose
 * time has come. Buffers are bounded: when a direction holds more than `maxBufferedBytes`
 * the reading socket is paused (TCP back-pressure reaches the sender), and while the
 * writing socket's own buffer is full (`write()` returned false) releases wait for its
 * 'drain'. A half-close is forwarded after the chunks before it; an error or close on
 * either side destroys both.
 *
 * Why it models a WAN link for etcd's peer traffic: etcd members exchange Raft messages
 * over long-lived HTTP streams and pipelined POSTs between their peer URLs. Every message
 * — an append to a follower, its acknowledgement, a forwarded proposal, a ReadIndex
 * request and its answer — is a chunk on one of those connections, so it pays the one-way
 * delay of the direction it travels, and a quorum round trip pays the pair's round trip,
 * as across regions. Which pair a connection belongs to is decided per connection by
 * `linkOf` from the first bytes the dialer sends (for etcd: the sender's `X-PeerURLs`
 * request header). What it does not model: loss and bandwidth. The relay terminates TCP
 * at each end on loopback, so a lost segment or a small window never costs a wide-area
 * retransmission or round trip; for etcd's small Raft messages propagation delay is the
 * dominant term, and leaving loss out only flatters etcd.
 */
import { createServer, connect, type Server, type Socket } from 'node:net';
import { AetherError, assert } from '../common/errors.js';
import { Random } from '../common/random.js';

/** One direction of a link. */
export interface OneWay {
  readonly delayMs: number;
  readonly jitterMs: number;
}

/** Both directions of one connection: forward carries the dialer's bytes to the target, back the answers. */
export interface RelayLink {
  readonly forward: OneWay;
  readonly back: OneWay;
}

export interface TcpDelayRelayOptions {
  /** Loopback address to listen on; port 0 picks a free one. */
  readonly listenHost?: string;
  readonly listenPort?: number;
  readonly targetHost: string;
  readonly targetPort: number;
  /**
   * The link of a new connection, from the first bytes its dialer sent: a link, or
   * undefined to wait for more bytes. Called again as bytes arrive, until it answers or
   * `maxHeadBytes` have arrived (then `defaultLink`). Absent: every connection gets
   * `defaultLink` at once (for protocols where the server speaks first).
   */
  readonly linkOf?: (head: Buffer) => RelayLink | undefined;
  readonly maxHeadBytes?: number;
  readonly defaultLink: RelayLink;
  /** Bytes one direction may hold before its reader is paused. */
  readonly maxBufferedBytes?: number;
  /** Seeds the jitter PRNG; connection n's directions derive their own seeds from it. */
  readonly seed?: number;
}

const DEFAULT_MAX_BUFFERED_BYTES = 4 * 1024 * 1024;
const DEFAULT_MAX_HEAD_BYTES = 16 * 1024;

/**
 * One direction of a relayed connection. States: 'open' (reading), 'ending' (the source
 * ended; the queue still drains, then the destination is ended), 'done'.
 */
class DelayedDirection {
  /** Invariant: release times are non-decreasing from head to tail; bufferedBytes = sum of queued chunk lengths. */
  private readonly queue: { readonly chunk: Buffer; readonly releaseAtMs: number }[] = [];
  private bufferedBytes = 0;
  private lastReleaseAtMs = 0;
  private timer: NodeJS.Timeout | undefined;
  private waitingForDrain = false;
  private state: 'open' | 'ending' | 'done' = 'open';
  private readonly random: Random;

  constructor(
    private readonly from: Socket,
    private readonly to: Socket,
    private readonly link: OneWay,
    private readonly maxBufferedBytes: number,
    seed: number,
  ) {
    this.random = new Random(seed);
    to.on('drain', () => {
      this.waitingForDrain = false;
      this.release();
    });
  }

  push(chunk: Buffer): void {
    if (this.state !== 'open') return;
    const jitter = this.link.jitterMs > 0 ? (this.random.next() * 2 - 1) * this.link.jitterMs : 0;
    const releaseAtMs = Math.max(performance.now() + Math.max(0, this.link.delayMs + jitter), this.lastReleaseAtMs);
    this.lastReleaseAtMs = releaseAtMs;
    this.queue.push({ chunk, releaseAtMs });
    this.bufferedBytes += chunk.length;
    if (this.bufferedBytes > this.maxBufferedBytes) this.from.pause();
    this.schedule();
  }

  /** The source ended: end the destination once every chunk before the end is out. */
  end(): void {
    if (this.state !== 'open') return;
    this.state = 'ending';
    this.release();
  }

  stop(): void {
    this.state = 'done';
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.queue.length = 0;
    this.bufferedBytes = 0;
  }

  private schedule(): void {
    if (this.timer || this.waitingForDrain || this.queue.length === 0) return;
    const waitMs = Math.max(0, this.queue[0]!.releaseAtMs - performance.now());
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.release();
    }, waitMs);
  }

  private release(): void {
    if (this.state === 'done' || this.timer) return;
    const now = performance.now();
    while (!this.waitingForDrain && this.queue.length > 0 && this.queue[0]!.releaseAtMs <= now) {
      const { chunk } = this.queue.shift()!;
      this.bufferedBytes -= chunk.length;
      if (!this.to.write(chunk)) this.waitingForDrain = true;
    }
    assert(this.bufferedBytes >= 0, 'relay buffered bytes went negative');
    if (this.bufferedBytes <= this.maxBufferedBytes / 2 && this.from.isPaused()) this.from.resume();
    if (this.queue.length === 0 && this.state === 'ending') {
      this.state = 'done';
      this.to.end();
      return;
    }
    this.schedule();
  }
}

/** A listening relay; `close()` stops listening and destroys every relayed connection. */
export class TcpDelayRelay {
  private readonly sockets = new Set<Socket>();
  private connections = 0;

  private constructor(
    private readonly server: Server,
    private readonly options: TcpDelayRelayOptions,
  ) {
    server.on('connection', (socket) => this.accept(socket));
  }

  static async start(options: TcpDelayRelayOptions): Promise<TcpDelayRelay> {
    for (const d of [options.defaultLink.forward, options.defaultLink.back]) {
      if (!(d.delayMs >= 0 && d.jitterMs >= 0)) throw new AetherError('USAGE', `relay delays must be ≥ 0 ms, got ${JSON.stringify(d)}`);
    }
    const server = createServer({ noDelay: true, pauseOnConnect: true, allowHalfOpen: true });
    const relay = new TcpDelayRelay(server, options);
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(options.listenPort ?? 0, options.listenHost ?? '127.0.0.1', () => {
        server.off('error', reject);
        resolve();
      });
    });
    return relay;
  }

  /** host:port the relay listens on. */
  get address(): string {
    const a = this.server.address();
    assert(a !== null && typeof a === 'object', 'relay is not listening');
    return `${a.address}:${a.port}`;
  }

  get port(): number {
    return Number(this.address.split(':').pop());
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    this.sockets.clear();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private accept(client: Socket): void {
    const n = this.connections++;
    const seed = ((this.options.seed ?? 1) * 1_000_003 + n * 2) >>> 0;
    const maxBuffered = this.options.maxBufferedBytes ?? DEFAULT_MAX_BUFFERED_BYTES;
    const maxHead = this.options.maxHeadBytes ?? DEFAULT_MAX_HEAD_BYTES;
    const target = connect({ host: this.options.targetHost, port: this.options.targetPort, noDelay: true, allowHalfOpen: true });
    target.pause();
    this.sockets.add(client);
    this.sockets.add(target);
    const destroyBoth = (): void => {
      forward?.stop();
      back?.stop();
      client.destroy();
      target.destroy();
      this.sockets.delete(client);
      this.sockets.delete(target);
    };
    client.on('error', destroyBoth);
    target.on('error', destroyBoth);
    // A clean close of one side waits for the other direction to drain; an abort ends both.
    const closed = (hadError: boolean): void => {
      if (hadError || (client.destroyed && target.destroyed)) destroyBoth();
    };
    client.on('close', closed);
    target.on('close', closed);

    let forward: DelayedDirection | undefined;
    let back: DelayedDirection | undefined;
    let head: Buffer[] = [];
    let headBytes = 0;
    const begin = (link: RelayLink): void => {
      forward = new DelayedDirection(client, target, link.forward, maxBuffered, seed);
      back = new DelayedDirection(target, client, link.back, maxBuffered, seed + 1);
      target.on('data', (c: Buffer) => back!.push(c));
      target.on('end', () => back!.end());
      target.resume();
      for (const c of head) forward.push(c);
      head = [];
    };
    client.on('data', (chunk: Buffer) => {
      if (forward) return forward.push(chunk);
      head.push(chunk);
      headBytes += chunk.length;
      const link = this.options.linkOf ? this.options.linkOf(Buffer.concat(head)) : this.options.defaultLink;
      if (link) begin(link);
      else if (headBytes >= maxHead) begin(this.options.defaultLink);
    });
    client.on('end', () => {
      if (!forward) begin(this.options.defaultLink);
      forward!.end();
    });
    if (!this.options.linkOf) begin(this.options.defaultLink);
    client.resume();
  }
}
