import { AetherError, assert, type ErrorCode } from '../common/errors.js';
import { protocolRefusal } from '../proto/protocol.js';
import { ReplayWindow, type Authenticator } from './auth.js';
import { Handshake, HELLO_EXTENSION_BYTES, type HandshakeFailure } from './handshake.js';
import { decodeFecParity, encodeFecParity, type FecDecoder, type FecEncoder, type FecParity } from './fec.js';
import type { LossEstimator } from './loss-estimator.js';
import { ACK_SECTION_BYTES, Flag, hasFlag, headerBytes, isReliable, MAX_SEQUENCE, type DropReason, type Packet } from './packet.js';
import { SentPacketTracker, type SentPacket } from './recovery.js';
import { RttEstimator, type RttOptions } from './rtt.js';
import { SecureSession } from './secure-session.js';
import { ReceivedRanges } from './sack.js';
import { decodeFragment, encodeFragment, FRAME_HEADER_BYTES, ReceiveStreams, SendStreams, type DeliveredMessage, type OutgoingMessage, type StreamLimits } from './stream.js';

/**
 * One Quantum connection, sans-IO: fed datagrams, sends and tick(nowMs); every call
 * returns the actions to perform (datagrams to transmit, messages delivered, sends
 * completed or failed, the next timer deadline).
 *
 * Sequence spaces. Reliable packets (SYN, DATA, PING, FIN) take consecutive sequences
 * from 0 and are acknowledged cumulatively plus SACK; a retransmission resends the exact
 * wire bytes with the same sequence, so FEC groups and tags stay valid. Packets that are
 * never retransmitted (pure ACK, FEC parity, RST) take sequences from a second counter
 * and the receiver admits each once through a replay window.
 *
 * Payloads under the header: a packet with ACK starts with the ack section (the
 * receiver's credit `maxData` 6 B, and the count of packets it recovered by FEC 4 B);
 * SYN then carries the handshake (the sender's 8-byte endpoint instance id, then its
 * application protocol version 4 B); DATA a stream fragment; FEC a parity shard. A
 * handshake of another protocol version is refused with an RST carrying ours (4 B), so
 * both sides fail PROTOCOL_VERSION instead of misreading each other (docs/architecture.md "Versions on
 * the wire").
 *
 * Secure connections (a Handshake as `auth`) run handshake.ts's exchange inside
 * the same packets: SYN and the responder's SYN|ACK carry each side's ephemeral key and
 * nonce after the fields above, the SYN|ACK the responder's sealed identity, and the
 * initiator answers with a SYN|ACK of its own (sequence 1) carrying its identity. Every
 * other packet is sealed (secure-session.ts); the responder is ESTABLISHED — and delivers
 * anything — only once the initiator's identity verified; RSTs carry the sender's reset
 * token and any other RST is ignored once the peer is known.
 */

export type ConnectionState = 'SYN_SENT' | 'SYN_RCVD' | 'ESTABLISHED' | 'CLOSING' | 'CLOSED' | 'RESET';

/** Allowed transitions; everything else is a bug. CLOSED and RESET are terminal. */
const TRANSITIONS: Record<ConnectionState, readonly ConnectionState[]> = {
  SYN_SENT: ['ESTABLISHED', 'CLOSED', 'RESET'],
  SYN_RCVD: ['ESTABLISHED', 'CLOSED', 'RESET'],
  ESTABLISHED: ['CLOSING', 'CLOSED', 'RESET'],
  CLOSING: ['CLOSED', 'RESET'],
  CLOSED: [],
  RESET: [],
};

export const INSTANCE_ID_BYTES = 8;
/** A SYN's (and SYN|ACK's) body: instance id, then the application protocol version. */
const HANDSHAKE_BYTES = INSTANCE_ID_BYTES + 4;
/** Builds of protocol 1 sent the instance id alone: such a handshake is refused as protocol 1, clearly, not as garbage. */
const UNVERSIONED_HANDSHAKE_PROTOCOL = 1;
/** An RST refusing a handshake carries the refuser's protocol version. */
const REFUSAL_BYTES = 4;

/** A SYN body of either form: the current one, or protocol 1's (to be refused). */
export function isHandshakeBody(body: Buffer): boolean {
  return body.length === HANDSHAKE_BYTES || body.length === INSTANCE_ID_BYTES;
}

/** A secure SYN body: the fields above, then the initiator's ephemeral key and nonce (handshake.ts). */
export function isSecureHelloBody(body: Buffer): boolean {
  return body.length === HANDSHAKE_BYTES + HELLO_EXTENSION_BYTES;
}

function encodeHandshake(instance: Buffer, protocolVersion: number): Buffer {
  const b = Buffer.alloc(HANDSHAKE_BYTES);
  instance.copy(b, 0);
  b.writeUInt32BE(protocolVersion, INSTANCE_ID_BYTES);
  return b;
}

function decodeHandshake(body: Buffer): { readonly instance: Buffer; readonly protocolVersion: number } | undefined {
  if (!isHandshakeBody(body)) return undefined;
  const instance = Buffer.from(body.subarray(0, INSTANCE_ID_BYTES));
  return { instance, protocolVersion: body.length === HANDSHAKE_BYTES ? body.readUInt32BE(INSTANCE_ID_BYTES) : UNVERSIONED_HANDSHAKE_PROTOCOL };
}

/** What a congestion controller does for the connection (transport/bbr.ts's Bbr fits). */
export interface CongestionController {
  onSend(nowMs: number, bytes: number, bytesInFlightBefore: number, isAppLimited: boolean): unknown;
  onAck(nowMs: number, acked: readonly never[], bytesInFlightAfter: number, rttSampleMs: number | undefined): void;
  onLoss(nowMs: number, lost: readonly never[], bytesInFlightAfter: number): void;
  readonly cwndBytes: number;
  readonly pacingRateBytesPerSec: number;
  /** For status and tests: the controller's own state name and bottleneck estimate, when it has them. */
  readonly state?: string;
  readonly btlBwBytesPerSec?: number;
}

/** A connection's vital signs, for status pages and tests. */
export interface ConnectionStats {
  readonly state: ConnectionState;
  readonly congestionState: string | undefined;
  readonly btlBwBytesPerSec: number | undefined;
  readonly cwndBytes: number;
  readonly pacingRateBytesPerSec: number;
  readonly smoothedRttMs: number;
  readonly bytesInFlight: number;
  readonly queuedSendCost: number;
  readonly receiveBufferedCost: number;
}

export interface ConnectionFec {
  readonly k: number;
  /** Parity per group even on a clean link (0: purely loss-driven). */
  readonly minParity: number;
  readonly encoder: FecEncoder;
  readonly decoder: FecDecoder;
  readonly lossEstimator: LossEstimator;
}

/** Counters the metrics follow; every hook is optional. */
export interface ConnectionObserver {
  onPacket?(direction: 'out' | 'in', bytes: number): void;
  onDrop?(reason: DropReason): void;
  onRttSample?(ms: number): void;
  onRetransmit?(): void;
  onFecRecovered?(): void;
  onParitySent?(): void;
  onCongestion?(cwndBytes: number, pacingRateBytesPerSec: number): void;
  onHandshakeFailure?(reason: HandshakeFailure): void;
}

/** Timing and size knobs of a connection; the endpoint's defaults suit a WAN of tens of ms RTT. */
export interface ConnectionTuning {
  readonly maxPacketBytes: number;
  readonly rtt: RttOptions;
  readonly keepaliveMs: number;
  readonly idleTimeoutMs: number;
  readonly handshakeTimeoutMs: number;
  /** In-order packets are acknowledged every ackEveryPackets, or within ackDelayMs; anything out of order at once. */
  readonly ackDelayMs: number;
  readonly ackEveryPackets: number;
  readonly maxSackBlocks: number;
  /** Receiver bounds: SACK ranges kept, and how far above the cumulative ack a sequence may be. */
  readonly maxRanges: number;
  readonly maxAheadPackets: number;
  /** After a pause in sending (nothing to send), pacing credits at most this much idle time, as one burst. */
  readonly pacingBurstMs: number;
  /**
   * While waiting on the pacer, a wake-up that comes late (a busy event loop) is made up
   * for, up to this much lost sending time, as one burst within cwnd: otherwise each late
   * wake-up sends one packet, BBR measures that as the path's rate, and the rate spirals
   * down to a packet per wake-up.
   */
  readonly pacingCatchUpMs: number;
}

export interface ConnectionOptions extends ConnectionTuning {
  readonly role: 'initiator' | 'responder';
  readonly guuid: Buffer;
  /** This endpoint's instance id, sent in SYN so a peer notices a restart. */
  readonly localInstance: Buffer;
  /** The application protocol version sent in the handshake; a peer of another one is refused. */
  readonly protocolVersion: number;
  readonly nowMs: number;
  readonly congestion: CongestionController;
  /** How the connection authenticates. Insecure: plain datagrams, or HMAC-tagged with a pre-shared key. Secure: this connection's handshake. */
  readonly auth: Authenticator | Handshake;
  readonly limits: StreamLimits;
  readonly fec?: ConnectionFec;
  readonly observer?: ConnectionObserver;
}

export interface ConnectionActions {
  /** Datagrams to transmit now, in order. */
  readonly datagrams: Buffer[];
  readonly delivered: DeliveredMessage[];
  readonly completed: number[];
  readonly failed: { readonly sendId: number; readonly error: AetherError }[];
  /** Call tick() at this time (undefined: nothing scheduled). */
  readonly deadlineMs: number | undefined;
  /** Set once, when the state changed to ESTABLISHED during this call. */
  readonly established: boolean;
  /** Set once, when the connection ended during this call: null for a clean close. */
  readonly ended: AetherError | null | undefined;
}

interface PacketMeta {
  readonly message: OutgoingMessage | undefined;
  readonly fin: boolean;
}

export class Connection {
  readonly guuid: Buffer;
  readonly role: 'initiator' | 'responder';
  private stateValue: ConnectionState;
  /** The peer's instance id, known once its SYN or SYN|ACK arrived. */
  peerInstance: Buffer | undefined;

  private readonly o: ConnectionOptions;
  private readonly protection: Authenticator | SecureSession;
  private readonly secure: SecureSession | undefined;
  private readonly rtt: RttEstimator;
  private readonly sent = new SentPacketTracker<PacketMeta>();
  /** Packets declared lost and not yet resent, in declaration order (may hold stale entries, skipped when popped). */
  private readonly lostQueue: SentPacket<PacketMeta>[] = [];
  /** FEC parity waiting for the pacer; bounded by one encoder group's worth per packet sent. */
  private readonly parityQueue: FecParity[] = [];
  private readonly received: ReceivedRanges;
  private readonly replay = new ReplayWindow();
  private readonly sendStreams: SendStreams;
  private readonly receiveStreams: ReceiveStreams;

  private nextSeq = 0;
  private nextControlSeq = 0;
  /** The peer's credit (ReceiveStreams.maxData on its side); monotonic. */
  private peerMaxData = 0;
  private peerRecoveredCount = 0;
  /** maxData last advertised, to send a window update when it grows a lot. */
  private advertisedMaxData = 0;
  /** Reliable packets received and not yet acknowledged. */
  private ackPending = 0;
  private ackDeadlineMs: number | undefined;
  private ackNow = false;
  private ptoCount = 0;
  private nextSendMs: number;
  private lastSentMs: number;
  private lastReceivedMs: number;
  private readonly createdMs: number;
  private fecRecovered = 0;
  /** The peer's FIN sequence, once seen; the peer is done when everything below it arrived too. */
  private peerFinSeq: number | undefined;
  private finSent = false;
  private wantClose = false;
  /** The send loop stopped only because the pacer's next slot is in the future. */
  private waitingForPacer = false;
  /** How much past sending time the pump under way may make up: pacingCatchUpMs if it was waiting on the pacer, else pacingBurstMs. */
  private pacingCreditMs = 0;

  private out: { datagrams: Buffer[]; delivered: DeliveredMessage[]; completed: number[]; failed: { sendId: number; error: AetherError }[]; established: boolean; ended: AetherError | null | undefined };

  constructor(options: ConnectionOptions) {
    assert(options.guuid.length === 16, 'GUUID is 16 bytes');
    assert(options.localInstance.length === INSTANCE_ID_BYTES, 'instance id is 8 bytes');
    this.o = options;
    this.secure = options.auth instanceof Handshake ? new SecureSession(options.auth, HANDSHAKE_BYTES) : undefined;
    this.protection = this.secure ?? (options.auth as Authenticator);
    this.guuid = options.guuid;
    this.role = options.role;
    this.rtt = new RttEstimator(options.rtt);
    this.received = new ReceivedRanges(0, { maxRanges: options.maxRanges, maxAheadPackets: options.maxAheadPackets });
    this.sendStreams = new SendStreams(options.limits);
    this.receiveStreams = new ReceiveStreams(options.limits);
    this.createdMs = this.nextSendMs = this.lastSentMs = this.lastReceivedMs = options.nowMs;
    this.stateValue = options.role === 'initiator' ? 'SYN_SENT' : 'SYN_RCVD';
    this.out = this.emptyOut();
  }

  get state(): ConnectionState {
    return this.stateValue;
  }
  get isOpen(): boolean {
    return this.stateValue !== 'CLOSED' && this.stateValue !== 'RESET';
  }

  /** The node id the peer proved in a secure handshake; undefined until then, and always on an insecure connection. */
  get peerNodeId(): string | undefined {
    return this.secure?.handshake.peer?.nodeId;
  }

  /** Pure acks and parity can be sealed: always when insecure, once the session keys exist when secure. */
  private get canSeal(): boolean {
    return this.secure === undefined || this.secure.established;
  }

  get stats(): ConnectionStats {
    const cc = this.o.congestion;
    return {
      state: this.stateValue,
      congestionState: cc.state,
      btlBwBytesPerSec: cc.btlBwBytesPerSec,
      cwndBytes: cc.cwndBytes,
      pacingRateBytesPerSec: cc.pacingRateBytesPerSec,
      smoothedRttMs: this.rtt.smoothedMs,
      bytesInFlight: this.sent.bytesInFlight,
      queuedSendCost: this.sendStreams.queuedCost,
      receiveBufferedCost: this.receiveStreams.bufferedCost,
    };
  }

  /** The initiator's first action: the SYN. */
  open(nowMs: number): ConnectionActions {
    assert(this.role === 'initiator' && this.nextSeq === 0, 'open() once, by the initiator');
    const base = encodeHandshake(this.o.localInstance, this.o.protocolVersion);
    this.sendReliable(nowMs, Flag.SYN, this.secure?.handshake.hello(base) ?? base, { message: undefined, fin: false });
    return this.finish(nowMs);
  }

  /** Queues a message; its id comes back in `completed` once the peer acknowledged all of it. */
  send(nowMs: number, sendId: number, streamId: number, data: Buffer): ConnectionActions {
    if (!this.isOpen || this.wantClose) {
      this.out.failed.push({ sendId, error: new AetherError(this.stateValue === 'RESET' ? 'CONNECTION_RESET' : 'CONNECTION_CLOSED', `connection is ${this.stateValue}`) });
    } else {
      const refusal = this.sendStreams.enqueue(sendId, streamId, data);
      if (refusal !== undefined) this.out.failed.push({ sendId, error: new AetherError(refusal, `send refused: ${refusal} (message ${data.length} B, queued ${this.sendStreams.queuedCost} B)`) });
    }
    return this.finish(nowMs);
  }

  /** The application is done with a delivered message; its buffer space becomes credit again. */
  release(nowMs: number, message: DeliveredMessage): ConnectionActions {
    if (this.isOpen) {
      this.receiveStreams.release(message.cost);
      if (this.receiveStreams.maxData - this.advertisedMaxData >= this.o.limits.windowBytes / 4) this.ackNow = true;
    }
    return this.finish(nowMs);
  }

  /** Graceful close: FIN after every queued message is acknowledged. */
  close(nowMs: number): ConnectionActions {
    if (this.stateValue === 'ESTABLISHED') {
      this.wantClose = true;
      this.transition('CLOSING');
    } else if (this.stateValue === 'SYN_SENT' || this.stateValue === 'SYN_RCVD') {
      // Messages already queued still go out: CLOSING follows ESTABLISHED at once.
      if (this.sendStreams.queuedCost > 0 || this.sendStreams.hasUnsent) this.wantClose = true;
      else this.end('CLOSED', null);
    }
    return this.finish(nowMs);
  }

  /** Abrupt end: RST to the peer, every pending send fails with `code`. */
  abort(nowMs: number, code: ErrorCode = 'CONNECTION_RESET'): ConnectionActions {
    if (this.isOpen) {
      this.emitControl(Flag.RST, this.secure?.handshake.resetToken ?? Buffer.alloc(0));
      this.end('RESET', new AetherError(code, 'connection aborted locally'));
    }
    return this.finish(nowMs);
  }

  tick(nowMs: number): ConnectionActions {
    if (this.isOpen) this.onTimers(nowMs);
    return this.finish(nowMs);
  }

  /** A datagram for this connection's GUUID. Never throws on anything a peer can send. */
  onDatagram(nowMs: number, datagram: Buffer): ConnectionActions {
    if (this.isOpen) this.receive(nowMs, datagram, false);
    return this.finish(nowMs);
  }

  // ---- receive path

  /** Returns true when the datagram was a new reliable packet (for FEC recovery accounting). */
  private receive(nowMs: number, datagram: Buffer, recovered: boolean): boolean {
    const opened = this.protection.open(datagram);
    if (!opened.ok) return this.drop(opened.reason);
    const p = opened.packet;
    if (!p.guuid.equals(this.guuid)) return this.drop('unknown_connection');
    if (!recovered) this.o.observer?.onPacket?.('in', datagram.length);
    const reliable = isReliable(p);
    let rangesBefore = 0;
    // Before the handshake completes only the SYN|ACK (or an RST) means anything.
    if (this.stateValue === 'SYN_SENT' && !hasFlag(p, Flag.RST) && !(hasFlag(p, Flag.SYN) && hasFlag(p, Flag.ACK))) return this.drop('state');
    if (hasFlag(p, Flag.RST) && (reliable || hasFlag(p, Flag.FEC))) return this.drop('bad_flags');
    // A secure RST is sent in the clear: before the peer is known only a refusal can end the handshake (as in TCP), after it only the peer's token.
    if (hasFlag(p, Flag.RST) && this.secure !== undefined && this.stateValue !== 'SYN_SENT' && !this.secure.acceptsReset(p.payload)) return this.drop('bad_reset');
    // An RST is exempt: a stateless endpoint sends it with sequence 0, and replaying one can only end a connection already ended.
    if (!reliable) {
      if (!hasFlag(p, Flag.RST) && !this.replay.accept(p.sequence)) return this.drop('replay');
    } else {
      const refused = this.refuseData(p);
      if (refused !== undefined) return this.drop(refused);
      rangesBefore = this.received.rangeCount;
      const verdict = this.received.add(p.sequence);
      if (verdict === 'duplicate') {
        this.ackNow = true;
        return this.drop('duplicate');
      }
      if (verdict !== 'new') return this.drop(verdict === 'too_far' ? 'flow_control' : 'buffer_full');
      this.o.fec?.decoder.onData(p.sequence, datagram);
    }
    this.lastReceivedMs = nowMs;
    if (hasFlag(p, Flag.RST)) {
      const refused = p.payload.length === REFUSAL_BYTES ? protocolRefusal(this.o.protocolVersion, p.payload.readUInt32BE(0), 'the Quantum peer') : undefined;
      if (refused !== undefined) {
        this.end('RESET', refused);
        return false;
      }
      this.end(this.stateValue === 'CLOSING' ? 'CLOSED' : 'RESET', this.stateValue === 'CLOSING' ? null : new AetherError('CONNECTION_RESET', 'connection reset by peer'));
      return false;
    }
    let body = p.payload;
    // The initiator's identity is checked before its ack section can establish the connection.
    if (this.role === 'responder' && hasFlag(p, Flag.SYN) && hasFlag(p, Flag.ACK) && !this.onInitiatorIdentity(body)) return false;
    if (hasFlag(p, Flag.ACK)) {
      if (body.length < ACK_SECTION_BYTES) return this.drop('bad_payload');
      this.onAckSection(nowMs, p, body.subarray(0, ACK_SECTION_BYTES));
      body = body.subarray(ACK_SECTION_BYTES);
      if (!this.isOpen) return false;
    }
    if (hasFlag(p, Flag.FEC)) {
      this.onParity(nowMs, body);
      return false;
    }
    if (!reliable) return false;
    this.ackPending++;
    // At once when a gap opens or closes (the sender's loss detection waits on it), else every ackEveryPackets.
    if (this.received.rangeCount !== rangesBefore || this.ackPending >= this.o.ackEveryPackets || hasFlag(p, Flag.SYN | Flag.FIN | Flag.PING)) this.ackNow = true;
    else this.ackDeadlineMs ??= nowMs + this.o.ackDelayMs;
    if (hasFlag(p, Flag.SYN)) this.onSyn(p, body);
    else if (hasFlag(p, Flag.DATA)) this.onData(body);
    if (hasFlag(p, Flag.FIN)) this.peerFinSeq = p.sequence;
    if (this.peerFinSeq !== undefined && this.received.cumulative > this.peerFinSeq && this.isOpen) {
      this.ackNow = true;
      this.flushAck();
      this.end('CLOSED', null);
    }
    return true;
  }

  /** A DATA packet whose fragment cannot be taken must not count as received (it would be acknowledged and lost). */
  private refuseData(p: Packet): DropReason | undefined {
    if (!hasFlag(p, Flag.DATA) || this.received.has(p.sequence)) return undefined;
    const ackBytes = hasFlag(p, Flag.ACK) ? ACK_SECTION_BYTES : 0;
    if (p.payload.length < ackBytes) return 'bad_payload';
    const f = decodeFragment(p.payload.subarray(ackBytes));
    return f === undefined ? 'bad_payload' : this.receiveStreams.refusal(f);
  }

  private onSyn(p: Packet, body: Buffer): void {
    const secure = this.secure;
    // The initiator's identity (its SYN|ACK) was taken by onInitiatorIdentity.
    if (secure !== undefined && this.role === 'responder' && hasFlag(p, Flag.ACK)) return;
    const base = secure !== undefined && body.length >= HANDSHAKE_BYTES + HELLO_EXTENSION_BYTES ? body.subarray(0, HANDSHAKE_BYTES) : body;
    const handshake = decodeHandshake(base);
    if (handshake === undefined) {
      this.drop('bad_payload');
      return;
    }
    const refusal = protocolRefusal(this.o.protocolVersion, handshake.protocolVersion, 'the Quantum peer');
    if (refusal !== undefined) {
      this.refuse(refusal);
      return;
    }
    // A handshake without the secure fields: the peer runs with security.insecure.
    if (secure !== undefined && base === body) {
      this.failHandshake('malformed', 'the Quantum peer does not authenticate (it runs with security.insecure)');
      return;
    }
    this.peerInstance = handshake.instance;
    if (this.stateValue === 'SYN_SENT' && hasFlag(p, Flag.ACK)) {
      const identity = secure?.handshake.onResponseIdentity(body.subarray(HANDSHAKE_BYTES + HELLO_EXTENSION_BYTES));
      if (identity !== undefined && !identity.ok) {
        this.failHandshake(identity.reason);
        return;
      }
      this.transition('ESTABLISHED');
      // The handshake's third message: our identity, sealed with the handshake keys, acknowledging the response.
      if (identity !== undefined) this.sendReliable(this.lastReceivedMs, Flag.SYN | Flag.ACK, Buffer.concat([this.ackSection(), identity.value]), { message: undefined, fin: false });
    } else if (this.stateValue === 'SYN_RCVD' && !hasFlag(p, Flag.ACK) && this.nextSeq === 0) {
      const ours = encodeHandshake(this.o.localInstance, this.o.protocolVersion);
      const response = secure?.handshake.respond(body, ours);
      if (response !== undefined && !response.ok) {
        this.failHandshake(response.reason);
        return;
      }
      const fields = response === undefined ? [ours] : [response.value.clear, response.value.identity];
      this.sendReliable(this.lastReceivedMs, Flag.SYN | Flag.ACK, Buffer.concat([this.ackSection(), ...fields]), { message: undefined, fin: false });
    }
  }

  /**
   * Responder, secure: the initiator's SYN|ACK carries its identity. Until it verifies the
   * connection stays SYN_RCVD; a refused one ends it (the initiator learns by our RST).
   * False when the packet goes no further.
   */
  private onInitiatorIdentity(payload: Buffer): boolean {
    const secure = this.secure;
    if (secure === undefined) return true;
    if (secure.handshake.state !== 'AWAIT_AUTH' || payload.length < ACK_SECTION_BYTES) return this.drop('state');
    const proven = secure.handshake.onAuth(payload.subarray(ACK_SECTION_BYTES));
    if (!proven.ok) {
      this.failHandshake(proven.reason);
      return false;
    }
    return true;
  }

  /** The peer is not who it must be: counted, our RST (with our token) tells it, pending sends fail PEER_AUTHENTICATION. */
  private failHandshake(reason: HandshakeFailure, why = `the Quantum peer failed the handshake: ${reason}`): void {
    this.drop('handshake');
    this.o.observer?.onHandshakeFailure?.(reason);
    this.emitControl(Flag.RST, this.secure?.handshake.resetToken ?? Buffer.alloc(0));
    this.end('RESET', new AetherError('PEER_AUTHENTICATION', why, { details: { reason } }));
  }

  /** A peer of another protocol version: an RST telling it ours, and every pending send fails with the refusal. */
  private refuse(refusal: AetherError): void {
    this.drop('protocol');
    const ours = Buffer.alloc(REFUSAL_BYTES);
    ours.writeUInt32BE(this.o.protocolVersion, 0);
    this.emitControl(Flag.RST, ours);
    this.end('RESET', refusal);
  }

  private onData(body: Buffer): void {
    const f = decodeFragment(body);
    if (f === undefined) {
      this.drop('bad_payload');
      return;
    }
    const verdict = this.receiveStreams.onFragment(f);
    if (!verdict.ok) {
      this.drop(verdict.reason);
      return;
    }
    this.out.delivered.push(...verdict.delivered);
  }

  private onParity(nowMs: number, body: Buffer): void {
    const fec = this.o.fec;
    const parity = decodeFecParity(body);
    if (fec === undefined || parity === undefined) {
      this.drop('bad_payload');
      return;
    }
    for (const packet of fec.decoder.onParity(parity)) {
      if (this.receive(nowMs, packet, true)) {
        this.fecRecovered++;
        this.o.observer?.onFecRecovered?.();
      }
    }
  }

  private onAckSection(nowMs: number, p: Packet, section: Buffer): void {
    this.peerMaxData = Math.max(this.peerMaxData, section.readUIntBE(0, 6));
    const recovered = section.readUInt32BE(6);
    if (recovered > this.peerRecoveredCount) {
      this.o.fec?.lossEstimator.onLost(recovered - this.peerRecoveredCount);
      this.peerRecoveredCount = recovered;
    }
    if (p.ack > this.nextSeq || p.sack.some((b) => b.end > this.nextSeq)) {
      this.drop('bad_payload');
      return;
    }
    const outcome = this.sent.onAck(nowMs, p.ack, p.sack, this.rtt.lossDelayMs());
    if (outcome.acked.length === 0) return;
    if (outcome.rttSampleMs !== undefined) {
      this.rtt.onSample(outcome.rttSampleMs);
      this.o.observer?.onRttSample?.(outcome.rttSampleMs);
    }
    this.ptoCount = 0;
    this.o.congestion.onAck(nowMs, outcome.acked.map((a) => a.rate) as never[], this.sent.bytesInFlight, outcome.rttSampleMs);
    for (const a of outcome.acked) {
      if (a.seq === 0 && this.stateValue === 'SYN_RCVD') this.transition('ESTABLISHED');
      if (a.meta.message !== undefined) this.out.completed.push(...this.sendStreams.onFragmentAcked(a.meta.message));
      if (a.meta.fin && this.stateValue === 'CLOSING') this.end('CLOSED', null);
    }
    this.onLost(nowMs, outcome.lost);
    this.reportCongestion();
  }

  private onLost(nowMs: number, lost: SentPacket<PacketMeta>[]): void {
    if (lost.length === 0) return;
    this.lostQueue.push(...lost);
    this.o.fec?.lossEstimator.onLost(lost.length);
    this.o.congestion.onLoss(nowMs, lost.map((l) => l.rate) as never[], this.sent.bytesInFlight);
  }

  // ---- timers

  private onTimers(nowMs: number): void {
    if ((this.stateValue === 'SYN_SENT' || this.stateValue === 'SYN_RCVD') && nowMs - this.createdMs >= this.o.handshakeTimeoutMs) {
      this.end('CLOSED', new AetherError('TIMEOUT', `handshake not completed within ${this.o.handshakeTimeoutMs} ms`));
      return;
    }
    if (nowMs - this.lastReceivedMs >= this.o.idleTimeoutMs) {
      this.end('CLOSED', new AetherError('TIMEOUT', `nothing heard from the peer for ${this.o.idleTimeoutMs} ms`));
      return;
    }
    if (this.ackDeadlineMs !== undefined && nowMs >= this.ackDeadlineMs) this.ackNow = true;
    const lossTime = this.sent.lossTimeMs(this.rtt.lossDelayMs());
    if (lossTime !== undefined && nowMs >= lossTime) {
      this.onLost(nowMs, this.sent.detectLost(nowMs, this.rtt.lossDelayMs()));
    }
    const pto = this.ptoDeadlineMs();
    if (pto !== undefined && nowMs >= pto) {
      // Tail-loss probe: resend the oldest unacknowledged packet, outside cwnd and pacing.
      this.ptoCount++;
      const oldest = this.sent.oldest();
      if (oldest !== undefined) this.retransmit(nowMs, oldest, true);
    }
    if (this.stateValue === 'ESTABLISHED' && this.sent.unackedCount === 0 && nowMs - this.lastSentMs >= this.o.keepaliveMs) {
      this.sendReliable(nowMs, Flag.PING | Flag.ACK, this.ackSection(), { message: undefined, fin: false });
    }
  }

  private ptoDeadlineMs(): number | undefined {
    if (this.sent.unackedCount === 0) return undefined;
    return (this.sent.lastSentMs ?? this.lastSentMs) + this.rtt.ptoMs(this.ptoCount);
  }

  // ---- send path

  private finish(nowMs: number): ConnectionActions {
    if (this.isOpen) this.pump(nowMs);
    const out = this.out;
    this.out = this.emptyOut();
    return { ...out, deadlineMs: this.isOpen ? this.deadline() : undefined };
  }

  /** The one send loop: parity, retransmissions, new data, FIN — under pacing and cwnd. */
  private pump(nowMs: number): void {
    const fec = this.o.fec;
    if (fec !== undefined) for (const parity of fec.encoder.poll(nowMs)) this.parityQueue.push(parity);
    const established = this.stateValue === 'ESTABLISHED' || this.stateValue === 'CLOSING';
    this.pacingCreditMs = this.waitingForPacer ? this.o.pacingCatchUpMs : this.o.pacingBurstMs;
    this.waitingForPacer = false;
    for (;;) {
      if (this.nextSendMs > nowMs) {
        this.waitingForPacer = this.parityQueue.length > 0 || this.lostQueue.length > 0 || (established && (this.sendStreams.hasUnsent || (this.wantClose && !this.finSent)));
        break;
      }
      const parity = this.canSeal ? this.parityQueue.shift() : undefined;
      if (parity !== undefined) {
        this.emitControl(Flag.FEC, encodeFecParity(parity));
        this.o.observer?.onParitySent?.();
        continue;
      }
      const cwndRoom = this.o.congestion.cwndBytes - this.sent.bytesInFlight;
      if (cwndRoom < this.o.maxPacketBytes) break;
      const lost = this.popLost();
      if (lost !== undefined) {
        this.retransmit(nowMs, lost, false);
        continue;
      }
      if (!established) break;
      if (this.sendNewData(nowMs)) continue;
      if (this.wantClose && !this.finSent && !this.sendStreams.hasUnsent && this.sendStreams.queuedCost === 0) {
        this.finSent = true;
        this.sendReliable(nowMs, Flag.FIN | Flag.ACK, this.ackSection(), { message: undefined, fin: true });
        continue;
      }
      break;
    }
    this.flushAck();
  }

  private sendNewData(nowMs: number): boolean {
    if (!this.sendStreams.hasUnsent) return false;
    // Data carries an ack only when there is news for the peer: in one-way bulk the ack section would be dead weight.
    const withAck = this.ackNow || this.ackPending > 0 || this.receiveStreams.maxData !== this.advertisedMaxData;
    const ackBytes = withAck ? headerBytes(this.received.blocks(this.o.maxSackBlocks).length) - headerBytes(0) + ACK_SECTION_BYTES : 0;
    const room = this.o.maxPacketBytes - headerBytes(0) - ackBytes - FRAME_HEADER_BYTES - this.protection.tagBytes;
    const next = this.sendStreams.nextFragment(room, this.peerMaxData);
    if (next === undefined) return false;
    const frame = encodeFragment(next.fragment);
    this.sendReliable(nowMs, withAck ? Flag.DATA | Flag.ACK : Flag.DATA, withAck ? Buffer.concat([this.ackSection(), frame]) : frame, { message: next.message, fin: false });
    return true;
  }

  private popLost(): SentPacket<PacketMeta> | undefined {
    for (;;) {
      const p = this.lostQueue.shift();
      if (p === undefined) return undefined;
      if (this.sent.get(p.seq) === p && !p.inFlight) return p;
    }
  }

  private sendReliable(nowMs: number, flags: number, payload: Buffer, meta: PacketMeta): void {
    if (this.nextSeq > MAX_SEQUENCE) {
      this.end('RESET', new AetherError('CONNECTION_RESET', 'sequence space exhausted'));
      return;
    }
    const seq = this.nextSeq++;
    const withAck = hasFlag({ flags }, Flag.ACK);
    const datagram = this.seal({ flags, guuid: this.guuid, sequence: seq, ack: withAck ? this.received.cumulative : 0, sack: withAck ? this.received.blocks(this.o.maxSackBlocks) : [], payload });
    const rate = this.o.congestion.onSend(nowMs, datagram.length, this.sent.bytesInFlight, !this.sendStreams.hasUnsent);
    this.sent.onSent(seq, datagram, meta, nowMs, rate);
    if (withAck) this.ackSent();
    this.transmit(nowMs, datagram);
    const fec = this.o.fec;
    if (fec !== undefined) {
      fec.lossEstimator.onSent(1);
      const m = Math.max(fec.minParity, fec.lossEstimator.parityFor(fec.k));
      fec.encoder.setParityCount(m);
      // With parity on, a loss waits for its group's parity (k + m packets) before the
      // packet threshold calls it; the time threshold still bounds the wait.
      this.sent.packetThreshold = m > 0 ? Math.max(3, fec.k + m) : 3;
      this.parityQueue.push(...fec.encoder.add(nowMs, seq, datagram));
    }
  }

  private retransmit(nowMs: number, p: SentPacket<PacketMeta>, probe: boolean): void {
    const rate = this.o.congestion.onSend(nowMs, p.wire.length, this.sent.bytesInFlight, false);
    this.sent.onRetransmitted(p, nowMs, rate, probe);
    this.o.observer?.onRetransmit?.();
    this.transmit(nowMs, p.wire);
  }

  /** Pure ACK, FEC parity or RST: never retransmitted, from the control sequence counter. */
  private emitControl(flags: number, payload: Buffer): void {
    // Wrapping would reuse a sequence: the replay window would refuse it, and a secure connection would reuse a nonce.
    if (this.nextControlSeq > MAX_SEQUENCE) {
      this.end('RESET', new AetherError('CONNECTION_RESET', 'control sequence space exhausted'));
      return;
    }
    const withAck = hasFlag({ flags }, Flag.ACK);
    const datagram = this.seal({ flags, guuid: this.guuid, sequence: this.nextControlSeq++, ack: withAck ? this.received.cumulative : 0, sack: withAck ? this.received.blocks(this.o.maxSackBlocks) : [], payload });
    if (withAck) this.ackSent();
    this.o.observer?.onPacket?.('out', datagram.length);
    this.out.datagrams.push(datagram);
  }

  private flushAck(): void {
    if (!this.ackNow || this.stateValue === 'SYN_SENT' || !this.canSeal) return;
    this.emitControl(Flag.ACK, this.ackSection());
  }

  private ackSent(): void {
    this.ackNow = false;
    this.ackPending = 0;
    this.ackDeadlineMs = undefined;
    this.advertisedMaxData = this.receiveStreams.maxData;
  }

  private ackSection(): Buffer {
    const b = Buffer.alloc(ACK_SECTION_BYTES);
    b.writeUIntBE(Math.min(this.receiveStreams.maxData, 2 ** 48 - 1), 0, 6);
    b.writeUInt32BE(this.fecRecovered >>> 0, 6);
    return b;
  }

  private seal(p: Packet): Buffer {
    return this.protection.protect(p);
  }

  private transmit(nowMs: number, datagram: Buffer): void {
    const rate = Math.max(this.o.congestion.pacingRateBytesPerSec, 1);
    this.nextSendMs = Math.max(this.nextSendMs, nowMs - this.pacingCreditMs) + (datagram.length * 1000) / rate;
    this.lastSentMs = nowMs;
    this.o.observer?.onPacket?.('out', datagram.length);
    this.out.datagrams.push(datagram);
  }

  /** When tick() is next due, as of now (undefined once ended or with nothing scheduled). */
  nextDeadlineMs(): number | undefined {
    return this.isOpen ? this.deadline() : undefined;
  }

  private deadline(): number {
    let min = this.lastReceivedMs + this.o.idleTimeoutMs;
    const consider = (t: number | undefined): void => {
      if (t !== undefined && t < min) min = t;
    };
    consider(this.ackDeadlineMs);
    consider(this.sent.lossTimeMs(this.rtt.lossDelayMs()));
    consider(this.ptoDeadlineMs());
    consider(this.o.fec?.encoder.nextDeadlineMs());
    if (this.waitingForPacer) consider(this.nextSendMs);
    if (this.stateValue === 'SYN_SENT' || this.stateValue === 'SYN_RCVD') consider(this.createdMs + this.o.handshakeTimeoutMs);
    if (this.stateValue === 'ESTABLISHED' && this.sent.unackedCount === 0) consider(this.lastSentMs + this.o.keepaliveMs);
    return min;
  }

  // ---- state

  private transition(to: ConnectionState): void {
    assert(TRANSITIONS[this.stateValue].includes(to), () => `connection transition ${this.stateValue} → ${to}`);
    this.stateValue = to;
    if (to === 'ESTABLISHED') {
      this.out.established = true;
      if (this.wantClose) this.transition('CLOSING');
    }
  }

  private end(to: 'CLOSED' | 'RESET', error: AetherError | null): void {
    if (!this.isOpen) return;
    this.transition(to);
    const failure = error ?? new AetherError('CONNECTION_CLOSED', 'connection closed');
    for (const sendId of this.sendStreams.drain()) this.out.failed.push({ sendId, error: failure });
    this.sent.clear();
    this.lostQueue.length = 0;
    this.parityQueue.length = 0;
    this.out.ended = error;
  }

  private drop(reason: DropReason): false {
    this.o.observer?.onDrop?.(reason);
    return false;
  }

  private reportCongestion(): void {
    this.o.observer?.onCongestion?.(this.o.congestion.cwndBytes, this.o.congestion.pacingRateBytesPerSec);
  }

  private emptyOut(): Connection['out'] {
    return { datagrams: [], delivered: [], completed: [], failed: [], established: false, ended: undefined };
  }
}
