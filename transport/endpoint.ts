import { randomBytes } from 'node:crypto';
import { AetherError, assert } from '../common/errors.js';
import { guuidField, type Logger } from '../common/log.js';
import { PROTOCOL_VERSION } from '../proto/protocol.js';
import { Bbr } from './bbr.js';
import { Authenticator } from './auth.js';
import { Connection, INSTANCE_ID_BYTES, isHandshakeBody, isSecureHelloBody, type ConnectionActions, type ConnectionObserver, type ConnectionStats, type ConnectionTuning } from './connection.js';
import type { DatagramSocket } from './datagram-socket.js';
import { LinkEmulator, type LinkConditions } from './emulator.js';
import { FecDecoder, FecEncoder } from './fec.js';
import { LossEstimator } from './loss-estimator.js';
import type { QuantumMetrics } from './metrics.js';
import { Handshake, resetToken, resetTokenSecret, type QuantumCredentials } from './handshake.js';
import { AEAD_TAG_BYTES } from './packet-cipher.js';
import { decodePacket, encodePacket, Flag, GUUID_BYTES, hasFlag, peekGuuid, type DropReason } from './packet.js';
import type { Random } from '../common/random.js';
import { defaultRttOptions } from './rtt.js';
import { systemScheduler, type Scheduler } from './scheduler.js';
import { isClearPacket } from './secure-session.js';
import type { DeliveredMessage, StreamLimits } from './stream.js';
import { defaultStreamLimits } from './stream.js';
import { UdpSocket } from './udp-socket.js';

export const defaultTuning: ConnectionTuning = {
  // Fits a 1500-byte MTU with room for IPv6 and a tunnel header; path MTU is not probed.
  maxPacketBytes: 1400,
  rtt: defaultRttOptions,
  keepaliveMs: 1000,
  idleTimeoutMs: 15_000,
  handshakeTimeoutMs: 10_000,
  ackDelayMs: 2,
  // Fewer acks cost less CPU and reverse-path bytes; BBR's delivery-rate samples tolerate the aggregation.
  ackEveryPackets: 4,
  maxSackBlocks: 16,
  maxRanges: 512,
  maxAheadPackets: 65_536,
  pacingBurstMs: 2,
  pacingCatchUpMs: 50,
};

export interface FecOptions {
  /** Data packets per group. */
  readonly k: number;
  /** A partial group is closed (its parity sent) this long after its first packet. */
  readonly flushAfterMs: number;
  /** Loss measurement window driving the parity count. */
  readonly lossWindowPackets: number;
  /** Parity packets per group even on a clean link; 0 leaves it to the measured loss. */
  readonly minParity: number;
}

/** At most one warning this often about peers refused for their protocol version. */
const PROTOCOL_WARN_EVERY_MS = 10_000;

export const defaultFecOptions: FecOptions = { k: 20, flushAfterMs: 5, lossWindowPackets: 1000, minParity: 0 };

export interface EndpointOptions {
  readonly socket: DatagramSocket;
  /** System time by default; a SimClock in simulated tests. */
  readonly scheduler?: Scheduler;
  /**
   * Secure: every connection runs the authenticated handshake (handshake.ts) with these
   * and seals every packet; the peer's proven node id comes with its messages. Absent:
   * insecure — plain datagrams, or HMAC-tagged ones with `key`.
   */
  readonly credentials?: QuantumCredentials;
  /** Secure: the node id a peer address must prove when this endpoint dials it (undefined: any node of the CA). */
  readonly expectedNodeId?: (peer: string) => string | undefined;
  /** Certificates' validity is judged by this clock (Date.now by default). */
  readonly wallClockMs?: () => number;
  /** Insecure only: pre-shared key, every datagram is authenticated; null or absent: none. */
  readonly key?: Buffer | null;
  /** Emulated link conditions towards each peer address (undefined: a plain link). */
  readonly links?: (peer: string) => LinkConditions | undefined;
  /** Seeds the link emulators. */
  readonly seed?: number;
  /** Source of GUUIDs and the instance id; node:crypto when absent. */
  readonly random?: Random;
  readonly metrics?: QuantumMetrics;
  readonly tuning?: Partial<ConnectionTuning>;
  readonly limits?: Partial<StreamLimits>;
  /** FEC parameters, or false for none. */
  readonly fec?: FecOptions | false;
  readonly maxConnections?: number;
  /** Operating errors worth a log line (socket errors, throwing message handlers). */
  readonly onError?: (err: unknown) => void;
  /** Connection events (connect, handshake, close, reset, timeout), each with its `guuid` as trace id. */
  readonly log?: Logger;
  /**
   * Each authenticated datagram from `peer` (with the node id it proved, when secure and
   * known): it is alive, whatever its messages are waiting on (it still acks).
   */
  readonly onReceived?: (peer: string, peerId: string | undefined) => void;
  /** The application protocol version in the handshake (PROTOCOL_VERSION by default); peers of another one are refused. */
  readonly protocolVersion?: number;
}

export interface QuantumMessage {
  readonly peer: string;
  /** The node id the peer proved in the handshake; undefined on an insecure endpoint. */
  readonly peerId: string | undefined;
  /** Connection id, hex: the trace id in logs. */
  readonly guuid: string;
  readonly streamId: number;
  readonly data: Buffer;
}

/** A handler returning a promise holds the message's receive-window space until it settles. */
export type MessageHandler = (message: QuantumMessage) => void | Promise<void>;

export interface SendOptions {
  readonly streamId?: number;
}

interface PendingSend {
  readonly resolve: () => void;
  readonly reject: (err: AetherError) => void;
}

interface ConnectionRecord {
  readonly conn: Connection;
  readonly peer: string;
  readonly key: string;
  readonly sends: Map<number, PendingSend>;
  readonly establishedWaiters: PendingSend[];
  cancelTimer: (() => void) | undefined;
  timerAtMs: number | undefined;
}

type EndpointState = 'OPEN' | 'CLOSING' | 'CLOSED';

/**
 * One Quantum endpoint: one datagram socket, any number of connections demultiplexed by
 * GUUID, at most one used for sending per peer address. The thin driver around the
 * sans-IO Connection: it feeds datagrams and timers in and carries actions out, through
 * the per-destination link emulator on egress. Nothing a peer sends throws out of here.
 */
export class Endpoint {
  readonly instanceId: Buffer;
  private state: EndpointState = 'OPEN';
  private readonly scheduler: Scheduler;
  private readonly auth: Authenticator;
  /** Secure: what new handshakes prove and trust (setCredentials replaces it), and the key our stateless-reset tokens derive from. */
  private secure: { readonly credentials: QuantumCredentials; readonly resetSecret: Buffer } | undefined;
  private readonly tuning: ConnectionTuning;
  private readonly limits: StreamLimits;
  private readonly fec: FecOptions | false;
  /** Every open connection by GUUID (hex). Invariant: size ≤ maxConnections. */
  private readonly byGuuid = new Map<string, ConnectionRecord>();
  /** The connection sends to a peer use; one of byGuuid's. */
  private readonly byPeer = new Map<string, ConnectionRecord>();
  /** Instance id each peer address last showed; a different one means it restarted. */
  private readonly peerInstances = new Map<string, Buffer>();
  private readonly emulators = new Map<string, LinkEmulator | null>();
  private readonly maxConnections: number;
  private handler: MessageHandler = () => {};
  private nextSendId = 1;
  private lastRefusalWarnMs: number | undefined;
  private closeWaiters: (() => void)[] = [];

  constructor(private readonly options: EndpointOptions) {
    this.scheduler = options.scheduler ?? systemScheduler;
    assert(options.credentials === undefined || (options.key ?? null) === null, 'a secure endpoint mixes its pre-shared key into the handshake (credentials.psk), not into an HMAC');
    this.auth = new Authenticator(options.key ?? null);
    this.secure = options.credentials === undefined ? undefined : { credentials: options.credentials, resetSecret: resetTokenSecret(options.credentials.privateKey) };
    this.tuning = { ...defaultTuning, ...options.tuning };
    this.limits = { ...defaultStreamLimits, ...options.limits };
    this.fec = options.fec ?? defaultFecOptions;
    this.maxConnections = options.maxConnections ?? 1024;
    this.instanceId = this.randomBytes(INSTANCE_ID_BYTES);
    options.socket.onDatagram((d, from) => this.onDatagram(d, from));
    options.socket.onError((err) => this.options.onError?.(err));
  }

  /** One connection's FEC: a partial group gets the parity its own size needs at the measured loss. */
  private fecState(fec: FecOptions, maxShardBytes: number) {
    const lossEstimator = new LossEstimator({ windowPackets: fec.lossWindowPackets });
    const parityFor = (n: number) => Math.max(fec.minParity, lossEstimator.parityFor(n));
    return {
      k: fec.k,
      minParity: fec.minParity,
      encoder: new FecEncoder({ k: fec.k, flushAfterMs: fec.flushAfterMs, maxShardBytes, parityFor }),
      decoder: new FecDecoder({ maxGroups: 64, maxShardBytes }),
      lossEstimator,
    };
  }

  /** An endpoint on a real UDP socket bound to host:port. */
  static async bind(address: string, options: Omit<EndpointOptions, 'socket'> = {}): Promise<Endpoint> {
    return new Endpoint({ ...options, socket: await UdpSocket.bind(address) });
  }

  /**
   * Secure endpoints: renewed certificates (or a new CA) for the handshakes from now on;
   * established connections keep what they proved.
   */
  setCredentials(credentials: QuantumCredentials): void {
    assert(this.secure !== undefined, 'only a secure endpoint takes credentials');
    this.secure = { credentials, resetSecret: resetTokenSecret(credentials.privateKey) };
  }

  get address(): string {
    return this.options.socket.address;
  }

  get connectionCount(): number {
    return this.byGuuid.size;
  }

  onMessage(handler: MessageHandler): void {
    this.handler = handler;
  }

  /** The emulated link towards `peer` (created from `links`), for runtime changes such as a partition. */
  link(peer: string): LinkEmulator | undefined {
    return this.emulator(peer);
  }

  /** Every open connection's vital signs, by peer address and GUUID. */
  stats(): { peer: string; guuid: string; stats: ConnectionStats }[] {
    return [...this.byGuuid.values()].map((r) => ({ peer: r.peer, guuid: r.key, stats: r.conn.stats }));
  }

  /** Resolves once a connection to `peer` is established (TIMEOUT when the handshake fails). */
  connect(peer: string): Promise<void> {
    const rec = this.sendingConnection(peer);
    if (rec.conn.state === 'ESTABLISHED') return Promise.resolve();
    return new Promise((resolve, reject) => rec.establishedWaiters.push({ resolve, reject }));
  }

  /**
   * Sends one message to `peer` on a stream (0 by default); resolves once the peer has
   * acknowledged all of it and every earlier message of that stream. Fails with
   * CONNECTION_RESET, CONNECTION_CLOSED, TIMEOUT, BUFFER_FULL or MESSAGE_TOO_LARGE.
   */
  send(peer: string, data: Buffer, options: SendOptions = {}): Promise<void> {
    if (this.state !== 'OPEN') return Promise.reject(new AetherError('CONNECTION_CLOSED', 'endpoint is closed'));
    const rec = this.sendingConnection(peer);
    const sendId = this.nextSendId++;
    const done = new Promise<void>((resolve, reject) => rec.sends.set(sendId, { resolve, reject }));
    this.apply(rec, rec.conn.send(this.scheduler.nowMs(), sendId, options.streamId ?? 0, data));
    return done;
  }

  /** Closes every connection gracefully (FIN), waiting at most `timeoutMs`, then the socket. */
  async close(timeoutMs = 2000): Promise<void> {
    if (this.state !== 'OPEN') return;
    this.state = 'CLOSING';
    const now = this.scheduler.nowMs();
    for (const rec of [...this.byGuuid.values()]) this.apply(rec, rec.conn.close(now));
    if (this.byGuuid.size > 0) {
      await new Promise<void>((resolve) => {
        const cancel = this.scheduler.schedule(now + timeoutMs, resolve);
        this.closeWaiters.push(() => {
          cancel();
          resolve();
        });
      });
    }
    for (const rec of [...this.byGuuid.values()]) this.apply(rec, rec.conn.abort(this.scheduler.nowMs(), 'CONNECTION_CLOSED'));
    this.state = 'CLOSED';
    await this.options.socket.close();
  }

  // ---- receive

  private onDatagram(datagram: Buffer, from: string): void {
    if (this.state === 'CLOSED') return;
    const guuid = peekGuuid(datagram);
    const rec = guuid === undefined ? undefined : this.byGuuid.get(guuid.toString('hex'));
    try {
      if (rec !== undefined) this.apply(rec, rec.conn.onDatagram(this.scheduler.nowMs(), datagram));
      else this.onStranger(datagram, from);
    } catch (err) {
      // A bug reached by peer input must cost that connection, never the process.
      this.drop('internal');
      this.options.onError?.(err);
      if (rec !== undefined) this.safeAbort(rec);
    }
  }

  /** A datagram for no known connection: a SYN opens one, anything else but RST is answered with RST. */
  private onStranger(datagram: Buffer, from: string): void {
    // Secure: no key exists for a stranger; a SYN is clear, and anything else only needs to be well formed to be answered.
    const opened = this.secure === undefined ? this.auth.open(datagram) : decodePacket(datagram, datagram.length > 5 && isClearPacket(datagram[5]!) ? 0 : AEAD_TAG_BYTES);
    if (!opened.ok) return this.drop(opened.reason);
    const p = opened.packet;
    // A handshake of another protocol version (or an insecure peer's) opens a connection too: the connection refuses it, saying why.
    const isSyn = p.flags === Flag.SYN && p.sequence === 0 && (isHandshakeBody(p.payload) || (this.secure !== undefined && isSecureHelloBody(p.payload)));
    if (!isSyn || this.state !== 'OPEN') {
      this.drop('unknown_connection');
      if (!hasFlag(p, Flag.RST)) this.sendRst(p.guuid, from);
      return;
    }
    if (this.byGuuid.size >= this.maxConnections) return this.drop('buffer_full');
    // The peer's instance is noted (and older connections reset) only once the handshake
    // completes: a replayed old SYN must not be able to reset live connections.
    const rec = this.createConnection('responder', from, Buffer.from(p.guuid));
    this.options.log?.debug({ ...guuidField(rec.key), peer: from, side: 'responder' }, 'quantum connection accepted');
    if (!this.byPeer.has(from)) this.byPeer.set(from, rec);
    this.apply(rec, rec.conn.onDatagram(this.scheduler.nowMs(), datagram));
  }

  /** Stateless: one RST per stray datagram, never more, and never in answer to an RST. */
  private sendRst(guuid: Buffer, to: string): void {
    const secret = this.secure?.resetSecret;
    const rst = { flags: Flag.RST, guuid, sequence: 0, ack: 0, sack: [], payload: secret === undefined ? Buffer.alloc(0) : resetToken(secret, guuid) };
    // Secure: the token for this GUUID proves the RST is ours, even after a restart lost the connection.
    this.egress(to, secret === undefined ? this.auth.protect(rst) : encodePacket(rst));
  }

  // ---- connections

  private sendingConnection(peer: string): ConnectionRecord {
    const existing = this.byPeer.get(peer);
    if (existing !== undefined && existing.conn.isOpen && existing.conn.state !== 'CLOSING') return existing;
    assert(this.state === 'OPEN', 'connections are opened only while the endpoint is open');
    const rec = this.createConnection('initiator', peer, this.randomBytes(GUUID_BYTES));
    this.options.log?.debug({ ...guuidField(rec.key), peer, side: 'initiator' }, 'quantum connecting');
    this.byPeer.set(peer, rec);
    this.apply(rec, rec.conn.open(this.scheduler.nowMs()));
    return rec;
  }

  private createConnection(role: 'initiator' | 'responder', peer: string, guuid: Buffer): ConnectionRecord {
    const conn = new Connection(this.connectionOptions(role, peer, guuid));
    const rec: ConnectionRecord = { conn, peer, key: guuid.toString('hex'), sends: new Map(), establishedWaiters: [], cancelTimer: undefined, timerAtMs: undefined };
    this.byGuuid.set(rec.key, rec);
    return rec;
  }

  private connectionOptions(role: 'initiator' | 'responder', peer: string, guuid: Buffer): ConstructorParameters<typeof Connection>[0] {
    const nowMs = this.scheduler.nowMs();
    const t = this.tuning;
    const counted: ConnectionObserver | undefined = this.options.metrics?.observer(peer);
    const protection = this.protection(role, peer, guuid);
    const onReceived = this.options.onReceived;
    const observer: ConnectionObserver | undefined =
      onReceived === undefined
        ? counted
        : {
            ...counted,
            onPacket: (direction, bytes) => {
              counted?.onPacket?.(direction, bytes);
              if (direction === 'in') onReceived(peer, protection instanceof Handshake ? protection.peer?.nodeId : undefined);
            },
          };
    const fec = this.fec;
    return {
      role,
      guuid,
      localInstance: this.instanceId,
      protocolVersion: this.options.protocolVersion ?? PROTOCOL_VERSION,
      nowMs,
      congestion: new Bbr({ mssBytes: t.maxPacketBytes, nowMs }),
      auth: protection,
      limits: this.limits,
      ...(fec === false ? {} : { fec: this.fecState(fec, t.maxPacketBytes + 16) }),
      ...(observer === undefined ? {} : { observer }),
      ...t,
    };
  }

  /** Insecure: the endpoint's Authenticator, shared. Secure: a fresh handshake per connection. */
  private protection(role: 'initiator' | 'responder', peer: string, guuid: Buffer): Authenticator | Handshake {
    const secure = this.secure;
    if (secure === undefined) return this.auth;
    return new Handshake({
      role,
      credentials: secure.credentials,
      guuid,
      resetToken: resetToken(secure.resetSecret, guuid),
      expectedPeer: role === 'initiator' ? this.options.expectedNodeId?.(peer) : undefined,
      random: this.options.random,
      wallClockMs: this.options.wallClockMs,
    });
  }

  /** Carries out a connection's actions. Re-entrant: a message handler may send. */
  private apply(rec: ConnectionRecord, a: ConnectionActions): void {
    for (const d of a.datagrams) this.egress(rec.peer, d);
    for (const id of a.completed) {
      const s = rec.sends.get(id);
      rec.sends.delete(id);
      s?.resolve();
    }
    for (const f of a.failed) {
      const s = rec.sends.get(f.sendId);
      rec.sends.delete(f.sendId);
      s?.reject(f.error);
    }
    if (a.established) {
      this.options.log?.info({ ...guuidField(rec.key), peer: rec.peer, ...(rec.conn.peerNodeId === undefined ? {} : { peerId: rec.conn.peerNodeId }) }, 'quantum handshake complete');
      if (rec.conn.peerInstance !== undefined) this.notePeerInstance(rec.peer, rec.conn.peerInstance, rec);
      for (const w of rec.establishedWaiters.splice(0)) w.resolve();
    }
    if (a.ended !== undefined) this.forget(rec, a.ended);
    else this.rearm(rec);
    for (const m of a.delivered) this.deliver(rec, m);
  }

  private deliver(rec: ConnectionRecord, m: DeliveredMessage): void {
    const release = (): void => {
      if (rec.conn.isOpen) this.apply(rec, rec.conn.release(this.scheduler.nowMs(), m));
    };
    let result: void | Promise<void> = undefined;
    try {
      result = this.handler({ peer: rec.peer, peerId: rec.conn.peerNodeId, guuid: rec.key, streamId: m.streamId, data: m.data });
    } catch (err) {
      this.options.onError?.(err);
    }
    if (result instanceof Promise) {
      result.then(release, (err: unknown) => {
        this.options.onError?.(err);
        release();
      });
    } else {
      release();
    }
  }

  private rearm(rec: ConnectionRecord): void {
    const at = rec.conn.nextDeadlineMs();
    if (at === rec.timerAtMs) return;
    rec.cancelTimer?.();
    rec.timerAtMs = at;
    rec.cancelTimer =
      at === undefined
        ? undefined
        : this.scheduler.schedule(at, () => {
            rec.cancelTimer = undefined;
            rec.timerAtMs = undefined;
            try {
              this.apply(rec, rec.conn.tick(this.scheduler.nowMs()));
            } catch (err) {
              this.drop('internal');
              this.options.onError?.(err);
              this.safeAbort(rec);
            }
          });
  }

  private forget(rec: ConnectionRecord, error: AetherError | null): void {
    rec.cancelTimer?.();
    rec.cancelTimer = undefined;
    rec.timerAtMs = undefined;
    if (this.byGuuid.get(rec.key) === rec) this.byGuuid.delete(rec.key);
    if (this.byPeer.get(rec.peer) === rec) {
      this.byPeer.delete(rec.peer);
      for (const other of this.byGuuid.values()) {
        if (other.peer === rec.peer && other.conn.isOpen) {
          this.byPeer.set(rec.peer, other);
          break;
        }
      }
    }
    const failure = error ?? new AetherError('CONNECTION_CLOSED', 'connection closed');
    this.logEnd(rec, error);
    for (const s of rec.sends.values()) s.reject(failure);
    rec.sends.clear();
    for (const w of rec.establishedWaiters.splice(0)) w.reject(failure);
    if (![...this.byGuuid.values()].some((r) => r.peer === rec.peer)) this.options.metrics?.forgetPeer(rec.peer);
    if (this.byGuuid.size === 0) for (const w of this.closeWaiters.splice(0)) w();
  }

  /** One line per connection end: closed (FIN or endpoint close), reset, or timed out (handshake or idle). */
  private logEnd(rec: ConnectionRecord, error: AetherError | null): void {
    const log = this.options.log;
    if (log === undefined) return;
    const fields = { ...guuidField(rec.key), peer: rec.peer, ...(error ? { code: error.code } : {}) };
    if (error === null || error.code === 'CONNECTION_CLOSED') log.info(fields, 'quantum connection closed');
    else if (error.code === 'PROTOCOL_VERSION') this.logRefusal(log, { ...fields, ...error.details, err: error });
    else if (error.code === 'TIMEOUT') log.warn(fields, 'quantum connection timed out');
    else if (error.code === 'CONNECTION_RESET') log.warn(fields, 'quantum connection reset');
    else log.warn({ ...fields, err: error }, 'quantum connection failed');
  }

  /**
   * A peer of another protocol version retries with every send it makes: one warning per
   * PROTOCOL_WARN_EVERY_MS (with the versions), the rest at debug.
   */
  private logRefusal(log: Logger, fields: Record<string, unknown>): void {
    const now = this.scheduler.nowMs();
    const warn = this.lastRefusalWarnMs === undefined || now - this.lastRefusalWarnMs >= PROTOCOL_WARN_EVERY_MS;
    if (warn) this.lastRefusalWarnMs = now;
    log[warn ? 'warn' : 'debug'](fields, 'quantum peer refused: another protocol version');
  }

  /** A peer showing a new instance id restarted: its old connections are gone on its side, so reset ours. */
  private notePeerInstance(peer: string, instance: Buffer, keep: ConnectionRecord): void {
    const known = this.peerInstances.get(peer);
    this.peerInstances.set(peer, Buffer.from(instance));
    if (known === undefined || known.equals(instance)) return;
    for (const rec of [...this.byGuuid.values()]) {
      if (rec !== keep && rec.peer === peer && rec.conn.peerInstance !== undefined && !rec.conn.peerInstance.equals(instance)) {
        this.apply(rec, rec.conn.abort(this.scheduler.nowMs(), 'CONNECTION_RESET'));
      }
    }
  }

  private safeAbort(rec: ConnectionRecord): void {
    try {
      this.apply(rec, rec.conn.abort(this.scheduler.nowMs(), 'CONNECTION_RESET'));
    } catch (err) {
      this.options.onError?.(err);
      this.forget(rec, new AetherError('CONNECTION_RESET', 'connection aborted after an internal error', { cause: err }));
    }
  }

  // ---- egress

  private egress(peer: string, datagram: Buffer): void {
    const link = this.emulator(peer);
    if (link === undefined) {
      this.options.socket.send(datagram, peer);
      return;
    }
    const now = this.scheduler.nowMs();
    for (const at of link.transmit(now, datagram.length)) {
      if (at <= now) this.options.socket.send(datagram, peer);
      else this.scheduler.schedule(at, () => this.state !== 'CLOSED' && this.options.socket.send(datagram, peer));
    }
  }

  private emulator(peer: string): LinkEmulator | undefined {
    let e = this.emulators.get(peer);
    if (e === undefined) {
      const conditions = this.options.links?.(peer);
      e = conditions === undefined ? null : new LinkEmulator(conditions, ((this.options.seed ?? 1) ^ hashString(peer)) >>> 0);
      this.emulators.set(peer, e);
    }
    return e ?? undefined;
  }

  private drop(reason: DropReason): void {
    this.options.metrics?.drop(reason);
  }

  private randomBytes(n: number): Buffer {
    return this.options.random?.bytes(n) ?? randomBytes(n);
  }
}

function hashString(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  return h >>> 0;
}
