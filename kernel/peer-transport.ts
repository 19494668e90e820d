import { Counter, type Registry } from 'prom-client';
import { AetherError } from '../common/errors.js';
import type { Logger } from '../common/log.js';
import type { Settings } from '../cluster/settings.js';
import { CertificateSource } from '../security/certificate-source.js';
import { topologyCertsDir, topologyQuantumKeyFile } from '../security/certs-dir.js';
import type { Topology } from '../topology/types.js';
import { Endpoint, QuantumMetrics, loadQuantumCredentials, loadQuantumKey, quantumCredentials, topologyLinks, type QuantumMessage } from '../transport/index.js';
import { COORDINATOR, fromCoordinator, senderRegion, type Message } from './messages.js';
import { PeerAddresses, type HostLookup, type PeerResolver } from './peer-directory.js';
import { decodeMessage, encodeMessage } from './wire.js';

/**
 * The name of the coordinator's side in the settings' `partitions` and in metrics: a
 * partition `{from, to}` names two sides — region names, or "coordinator" for every
 * coordinator candidate — and cuts both directions between them (each side drops what it
 * sends to the other). `{from: "eu-west", to: "coordinator"}` cuts eu-west's leaders off
 * from the coordinator; to cut a region off entirely, list it against every other side.
 */
export const COORDINATOR_SIDE = 'coordinator';

/** Why a received message was dropped: the label of `stream_messages_dropped_total`. */
export type StreamDropReason =
  /** Not a well-formed envelope. */
  | 'malformed'
  /** An envelope of another protocol version. */
  | 'protocol'
  /** From a sender that is no topology peer: an unknown address (insecure), or a node id of no leader or coordinator (secure). */
  | 'unknown_sender'
  /** From a candidate of the side it claims that is not its elected process (a standby, a deposed coordinator). */
  | 'not_elected'
  /** From a topology peer of another side than the message claims (a region speaking for another, a leader sending a Commit). */
  | 'wrong_region';
const DROP_REASONS: readonly StreamDropReason[] = ['malformed', 'protocol', 'unknown_sender', 'not_elected', 'wrong_region'];

/** The Quantum stream of control messages (ack, relay, progress, commit, membership): they never wait behind a Ship. */
export const CONTROL_STREAM = 0;

export interface PeerTransportLimits {
  /** Control messages, and separately Ships, sent to one peer and not yet acknowledged by it. */
  readonly maxInFlight: number;
  /** Bytes of Ships sent to one peer and not yet acknowledged (one Ship alone may exceed it). */
  readonly maxInFlightBytes: number;
}

export const defaultPeerTransportLimits: PeerTransportLimits = { maxInFlight: 1024, maxInFlightBytes: 32 << 20 };

/** One warning per reason this often; the rest go to debug (the counters have them all). */
const WARN_EVERY_MS = 10_000;

/** What one peer has not yet acknowledged. */
interface InFlight {
  control: number;
  ships: number;
  shipBytes: number;
}

/** The side a message claims to come from: COORDINATOR, or a region. */
function claimedSide(m: Message): string {
  return fromCoordinator(m) ? COORDINATOR : senderRegion(m);
}

/** A side's name in the settings' partitions, metrics and logs: a region, or COORDINATOR_SIDE. */
function sideLabel(side: string): string {
  return side === COORDINATOR ? COORDINATOR_SIDE : side;
}

/**
 * The v2 stream's messages over one Quantum endpoint, addressed by region name or
 * COORDINATOR (resolved to the elected process through the directory), in the protobuf
 * form of kernel/wire.ts. Control messages travel on CONTROL_STREAM; Ships on one stream
 * per origin region (1 + its index in the topology), so one origin's backlog never delays
 * another's and each origin's batches stay in order. A received message is delivered only
 * when it comes from the elected process of the side it claims (docs/architecture.md "Failure
 * rules": a Commit from an unexpected sender is ignored); anything else is dropped and
 * counted. Who sent it is the node id the peer proved in Quantum's handshake, or — with
 * `security.insecure` — the topology address its datagrams come from. The topology's
 * emulated links and the settings' partitions apply to every peer.
 */
export class PeerTransport {
  private handler: (m: Message, from: string) => void | Promise<void> = () => {};
  /** Set only where liveness is wanted (the coordinator): a leader skips the lookup per packet. */
  private heardHandler: ((side: string) => void) | undefined;
  /** By peer address; an entry is removed once nothing is in flight to it. */
  private readonly inFlight = new Map<string, InFlight>();
  private readonly lastWarnMs = new Map<string, number>();
  private readonly dropped: Record<StreamDropReason, Counter.Internal>;
  private readonly bytesSent: Counter<'peer'>;
  /** Secure: watches certsDir so that renewed certificates serve the next handshakes, as gRPC's do. */
  private certificates: CertificateSource | undefined;

  private constructor(
    private readonly endpoint: Endpoint,
    private readonly directory: PeerResolver,
    private readonly log: Logger,
    private readonly limits: PeerTransportLimits,
    /** Topology Quantum address → its side: a region, or COORDINATOR for every coordinator candidate. */
    private readonly sides: ReadonlyMap<string, string>,
    /** Secure: topology Quantum address → the node id there (undefined: insecure, senders are addresses). */
    private readonly nodeAt: ReadonlyMap<string, string> | undefined,
    /** Sender (a node id when secure, a topology address when insecure) → its side. */
    private readonly senderSides: ReadonlyMap<string, string>,
    private readonly addresses: PeerAddresses,
    /** Origin region → the stream its Ships travel on. */
    private readonly shipStreams: ReadonlyMap<string, number>,
    /** This process's side in the settings' partitions: its region, or COORDINATOR_SIDE. */
    private readonly self: string,
    registry: Registry,
  ) {
    const droppedTotal = new Counter({
      name: 'stream_messages_dropped_total',
      help: 'Stream messages received and dropped, by reason (malformed, protocol, unknown_sender, not_elected, wrong_region)',
      labelNames: ['reason'],
      registers: [registry],
    });
    // Every reason exported from the start, at 0: an alert on a rate needs the series.
    this.dropped = Object.fromEntries(DROP_REASONS.map((r) => [r, droppedTotal.labels(r)])) as Record<StreamDropReason, Counter.Internal>;
    this.bytesSent = new Counter({ name: 'stream_bytes_sent_total', help: 'Stream message bytes handed to Quantum, by peer (a region, or coordinator)', labelNames: ['peer'], registers: [registry] });
    endpoint.onMessage((qm) => this.receive(qm));
  }

  /**
   * Binds `address`. `self` is this process's side in the settings' partitions (its region,
   * or COORDINATOR_SIDE); `linkRegion` the region its packets leave from, for the
   * topology's emulated links.
   */
  static async open(o: {
    readonly topology: Topology;
    /** This process's node id: its certificate and key in certsDir (unless insecure). */
    readonly nodeId: string;
    readonly address: string;
    readonly self: string;
    readonly linkRegion: string;
    readonly directory: PeerResolver;
    readonly registry: Registry;
    readonly log: Logger;
    readonly limits?: Partial<PeerTransportLimits>;
    /** DNS by default, for topologies naming hosts. */
    readonly lookupHost?: HostLookup;
  }): Promise<PeerTransport> {
    const credentials = await loadQuantumCredentials(o.topology, o.nodeId);
    const key = credentials === undefined ? await loadQuantumKey(topologyQuantumKeyFile(o.topology)) : null;
    const sides = new Map<string, string>();
    const nodeAt = new Map<string, string>();
    const nodeSides = new Map<string, string>();
    for (const r of o.topology.regions) {
      for (const l of r.leaders) {
        sides.set(l.quantum, r.name);
        nodeAt.set(l.quantum, l.id);
        nodeSides.set(l.id, r.name);
      }
    }
    for (const c of o.topology.coordinators) {
      sides.set(c.quantum, COORDINATOR);
      nodeAt.set(c.quantum, c.id);
      nodeSides.set(c.id, COORDINATOR);
    }
    const shipStreams = new Map(o.topology.regions.map((r, i) => [r.name, CONTROL_STREAM + 1 + i]));
    const emulated = topologyLinks(o.topology, o.linkRegion);
    // Every topology peer gets an emulated link, perfect ones too, so a partition can cut it.
    const links = (peer: string) => emulated(peer) ?? (sides.has(peer) ? { delayMs: 0, jitterMs: 0, loss: 0 } : undefined);
    let received: (peer: string, peerId: string | undefined) => void = () => {};
    const addresses = new PeerAddresses(sides.keys(), o.log, o.lookupHost);
    const endpoint = await Endpoint.bind(o.address, {
      key,
      ...(credentials === undefined
        ? {}
        : {
            credentials,
            // Dialling a peer, the handshake insists on the node the topology puts at its address.
            expectedNodeId: (peer: string) => {
              const at = addresses.of(peer);
              return at === undefined ? undefined : nodeAt.get(at);
            },
          }),
      links,
      metrics: new QuantumMetrics(o.registry),
      log: o.log,
      onError: (err) => o.log.warn({ err }, 'quantum endpoint error'),
      onReceived: (peer, peerId) => received(peer, peerId),
    });
    let transport: PeerTransport;
    try {
      const secure = credentials !== undefined;
      transport = new PeerTransport(
        endpoint,
        o.directory,
        o.log,
        { ...defaultPeerTransportLimits, ...o.limits },
        sides,
        secure ? nodeAt : undefined,
        secure ? nodeSides : sides,
        addresses,
        shipStreams,
        o.self,
        o.registry,
      );
    } catch (err) {
      // A registry that already has these metrics: do not leave the socket bound.
      await endpoint.close();
      throw err;
    }
    received = (peer, peerId) => transport.received(peer, peerId);
    if (credentials !== undefined) {
      transport.certificates = new CertificateSource(topologyCertsDir(o.topology), { node: o.nodeId }, {
        reloadOnSighup: true,
        onReload: (identity) => {
          endpoint.setCredentials(quantumCredentials(o.nodeId, identity, credentials.psk));
          o.log.info({ nodeId: o.nodeId }, 'renewed certificates used for new Quantum handshakes');
        },
        onError: (err) => o.log.warn({ err }, 'certificates in certsDir not usable; Quantum keeps the ones it has'),
      });
    }
    return transport;
  }

  /**
   * `handler(m, from)` for every message from the elected process of the side it claims
   * (`from`: the region, or COORDINATOR). A returned promise holds the message's share of
   * the Quantum receive window until it settles: a slow apply slows its sender.
   */
  onMessage(handler: (m: Message, from: string) => void | Promise<void>): void {
    this.handler = handler;
  }

  /** `handler(side)` for every packet from the elected process of a side (a region's leader), a standby's not counted. */
  onHeard(handler: (side: string) => void): void {
    this.heardHandler = handler;
  }

  knows(to: string): boolean {
    return this.directory.resolve(to) !== undefined;
  }

  /**
   * Sends without waiting; a message that cannot be delivered is lost (the stream resends
   * from acknowledged positions). Returns its encoded size, or 0 when it was not sent:
   * nobody elected, too much in flight to that peer, or a message that cannot be encoded.
   * A message sent is settled later through `settled` (MessageSink). Never throws.
   */
  send(to: string, m: Message, settled?: (delivered: boolean) => void): number {
    let bytes: Buffer;
    try {
      bytes = encodeMessage(m);
    } catch (err) {
      this.log.error({ err, to: sideLabel(to), type: m.type }, 'cannot encode a stream message');
      return 0;
    }
    return this.sendEncoded(to, m, bytes, settled);
  }

  /**
   * `send` of bytes already encoded by encodeMessage(m): a Ship encoded once goes to every
   * peer as the same buffer (Quantum fragments it without copying it first).
   */
  sendEncoded(to: string, m: Message, bytes: Buffer, settled?: (delivered: boolean) => void): number {
    const address = this.directory.resolve(to);
    if (address === undefined) {
      this.log.debug({ to: sideLabel(to), type: m.type }, 'no elected peer to send to');
      return 0;
    }
    const ship = m.type === 'ship';
    const streamId = ship ? this.shipStreams.get(m.origin) : CONTROL_STREAM;
    if (streamId === undefined) {
      this.warnLimited('unknown-origin', { to: sideLabel(to), origin: m.type === 'ship' ? m.origin : undefined }, 'not sending a Ship of an origin that is no topology region');
      return 0;
    }
    const f = this.inFlight.get(address) ?? { control: 0, ships: 0, shipBytes: 0 };
    const full = ship ? f.ships >= this.limits.maxInFlight || (f.shipBytes > 0 && f.shipBytes + bytes.length > this.limits.maxInFlightBytes) : f.control >= this.limits.maxInFlight;
    if (full) {
      this.warnLimited(`full-${sideLabel(to)}`, { to: sideLabel(to), type: m.type, ...f }, 'too much in flight to a peer; dropping a stream message');
      return 0;
    }
    if (ship) {
      f.ships++;
      f.shipBytes += bytes.length;
    } else {
      f.control++;
    }
    this.inFlight.set(address, f);
    this.endpoint
      .send(address, bytes, { streamId })
      .then(
        () => settled?.(true),
        (err: unknown) => {
          this.log.debug({ to: sideLabel(to), type: m.type, code: err instanceof AetherError ? err.code : 'UNKNOWN' }, 'stream message not delivered');
          settled?.(false);
        },
      )
      .finally(() => {
        if (ship) {
          f.ships--;
          f.shipBytes -= bytes.length;
        } else {
          f.control--;
        }
        if (f.ships === 0 && f.control === 0 && this.inFlight.get(address) === f) this.inFlight.delete(address);
      });
    this.bytesSent.inc({ peer: sideLabel(to) }, bytes.length);
    return bytes.length;
  }

  /** Cuts or heals the links to every peer according to the settings' partitions. */
  applyPartitions(partitions: Settings['partitions']): void {
    for (const [address, side] of this.sides) {
      const name = sideLabel(side);
      if (name === this.self) continue;
      const cut = partitions.some((p) => (p.from === this.self && p.to === name) || (p.to === this.self && p.from === name));
      this.endpoint.link(address)?.setPartitioned(cut);
    }
  }

  async close(): Promise<void> {
    this.certificates?.close();
    await this.endpoint.close();
  }

  private receive(qm: QuantumMessage): void | Promise<void> {
    const d = decodeMessage(qm.data);
    if (!d.ok) return this.drop(d.error.code === 'PROTOCOL_VERSION' ? 'protocol' : 'malformed', { peer: qm.peer, guuid: qm.guuid, err: d.error });
    const m = d.value;
    const claimed = claimedSide(m);
    const from = this.sender(qm.peer, qm.peerId);
    if (from !== undefined && this.electedSender(claimed) === from) return this.handler(m, claimed);
    const side = from === undefined ? undefined : this.senderSides.get(from);
    this.drop(side === undefined ? 'unknown_sender' : side === claimed ? 'not_elected' : 'wrong_region', { peer: qm.peer, peerId: qm.peerId, guuid: qm.guuid, type: m.type, claimed: sideLabel(claimed) });
    // A peer named by host that moved to a new IP shows up as a stranger until its name is resolved again.
    if (this.nodeAt === undefined) void this.addresses.refresh();
  }

  private received(peer: string, peerId: string | undefined): void {
    if (this.heardHandler === undefined) return;
    const from = this.sender(peer, peerId);
    const side = from === undefined ? undefined : this.senderSides.get(from);
    if (side !== undefined && this.electedSender(side) === from) this.heardHandler(side);
  }

  /** Who sent a datagram: the node id it proved (secure), or the topology address it came from (insecure). */
  private sender(peer: string, peerId: string | undefined): string | undefined {
    return this.nodeAt === undefined ? this.addresses.of(peer) : peerId;
  }

  /** The sender `side`'s elected process is, in sender's terms (node id or address); undefined while nobody is elected. */
  private electedSender(side: string): string | undefined {
    const address = this.directory.resolve(side);
    return address === undefined || this.nodeAt === undefined ? address : this.nodeAt.get(address);
  }

  private drop(reason: StreamDropReason, fields: Record<string, unknown>): void {
    this.dropped[reason].inc();
    this.warnLimited(`drop-${reason}`, { ...fields, reason }, 'dropping a stream message');
  }

  /** A warning at most every WARN_EVERY_MS per key (keys are a bounded set: reasons, peers); debug otherwise. */
  private warnLimited(key: string, fields: Record<string, unknown>, msg: string): void {
    const now = Date.now();
    const last = this.lastWarnMs.get(key);
    if (last === undefined || now - last >= WARN_EVERY_MS) {
      this.lastWarnMs.set(key, now);
      this.log.warn(fields, msg);
    } else {
      this.log.debug(fields, msg);
    }
  }
}
