import type { Registry } from 'prom-client';
import { AetherError } from '../common/errors.js';
import type { Logger } from '../common/log.js';
import type { Settings } from '../cluster/settings.js';
import type { Topology } from '../topology/types.js';
import { Endpoint, QuantumMetrics, loadQuantumKey, topologyLinks } from '../transport/index.js';
import { COORDINATOR, decodeMessage, encodeMessage, type Message } from './messages.js';
import type { PeerDirectory } from './peer-directory.js';

/**
 * The name of the coordinator's side in the settings' `partitions`: a partition
 * `{from, to}` names two sides — region names, or "coordinator" for every coordinator
 * candidate — and cuts both directions between them (each side drops what it sends to the
 * other). `{from: "eu-west", to: "coordinator"}` cuts eu-west's leaders off from the
 * coordinator; to cut a region off entirely, list it against every other side.
 */
export const COORDINATOR_SIDE = 'coordinator';

/** Quantum streams: control messages never wait behind a large delta or catch-up. */
function streamOf(m: Message): number {
  if (m.type === 'delta') return 1;
  if (m.type === 'catchup' || m.type === 'catchup-request' || m.type === 'catchup-refused') return 2;
  return 0;
}

/**
 * The snapshot round's messages over one Quantum endpoint: addressed by region name or
 * COORDINATOR (resolved through the peer directory), encoded with kernel/messages.ts, the
 * emulated links of the topology plus the settings' partitions applied to every peer.
 */
export class RoundTransport {
  private handler: (m: Message) => void = () => {};
  /** Set only where liveness is wanted (the coordinator): a leader skips the lookup per packet. */
  private heardHandler: ((side: string) => void) | undefined;
  /** Sends whose outcome is not yet known; bounded so a dead peer cannot pile up promises. */
  private inFlight = 0;

  private constructor(
    private readonly endpoint: Endpoint,
    private readonly directory: PeerDirectory,
    private readonly log: Logger,
    private readonly maxInFlight: number,
    /** Quantum address → its side's name, for every topology peer. */
    private readonly sides: ReadonlyMap<string, string>,
    private readonly self: string,
  ) {
    endpoint.onMessage((qm) => {
      const d = decodeMessage(qm.data);
      if (!d.ok) {
        this.log.warn({ err: d.error, peer: qm.peer }, 'dropping a malformed round message');
        return;
      }
      this.handler(d.value);
    });
  }

  /**
   * Binds `address`. `self` is this process's side (its region, or COORDINATOR_SIDE);
   * `linkRegion` the region its packets leave from, for the topology's emulated links.
   */
  static async open(o: {
    readonly topology: Topology;
    readonly address: string;
    readonly self: string;
    readonly linkRegion: string;
    readonly directory: PeerDirectory;
    readonly registry: Registry;
    readonly log: Logger;
    readonly maxInFlight?: number;
  }): Promise<RoundTransport> {
    const key = await loadQuantumKey(o.topology.security.quantumKeyFile);
    const sides = new Map<string, string>();
    for (const r of o.topology.regions) for (const l of r.leaders) sides.set(l.quantum, r.name);
    for (const c of o.topology.coordinators) sides.set(c.quantum, COORDINATOR_SIDE);
    const emulated = topologyLinks(o.topology, o.linkRegion);
    // Every topology peer gets an emulated link, perfect ones too, so a partition can cut it.
    const links = (peer: string) => emulated(peer) ?? (sides.has(peer) ? { delayMs: 0, jitterMs: 0, loss: 0 } : undefined);
    let received: (peer: string) => void = () => {};
    const endpoint = await Endpoint.bind(o.address, {
      key,
      links,
      metrics: new QuantumMetrics(o.registry),
      log: o.log,
      onError: (err) => o.log.warn({ err }, 'quantum endpoint error'),
      onReceived: (peer) => received(peer),
    });
    const transport = new RoundTransport(endpoint, o.directory, o.log, o.maxInFlight ?? 1024, sides, o.self);
    received = (peer) => transport.received(peer);
    return transport;
  }

  onMessage(handler: (m: Message) => void): void {
    this.handler = handler;
  }

  /** `handler(side)` for every packet from the elected peer of a side (a region's leader), a standby's not counted. */
  onHeard(handler: (side: string) => void): void {
    this.heardHandler = handler;
  }

  private received(peer: string): void {
    if (this.heardHandler === undefined) return;
    const side = this.sides.get(peer);
    if (side !== undefined && this.directory.resolve(side) === peer) this.heardHandler(side);
  }

  knows(to: string): boolean {
    return this.directory.resolve(to) !== undefined;
  }

  /** Sends without waiting; a message that cannot be delivered is lost (the round tolerates loss). Returns its encoded size. */
  send(to: string, m: Message): number {
    const address = this.directory.resolve(to);
    if (address === undefined) {
      this.log.debug({ to, type: m.type }, 'no elected peer to send to');
      return 0;
    }
    if (this.inFlight >= this.maxInFlight) {
      this.log.warn({ to, type: m.type }, 'too many round messages in flight; dropping');
      return 0;
    }
    const data = encodeMessage(m);
    this.inFlight++;
    this.endpoint
      .send(address, data, { streamId: streamOf(m) })
      .catch((err: unknown) => this.log.debug({ to: to === COORDINATOR ? 'coordinator' : to, type: m.type, code: err instanceof AetherError ? err.code : 'UNKNOWN' }, 'round message not delivered'))
      .finally(() => this.inFlight--);
    return data.length;
  }

  /** Cuts or heals the links to every peer according to the settings' partitions. */
  applyPartitions(partitions: Settings['partitions']): void {
    for (const [address, side] of this.sides) {
      if (side === this.self) continue;
      const cut = partitions.some((p) => (p.from === this.self && p.to === side) || (p.to === this.self && p.from === side));
      this.endpoint.link(address)?.setPartitioned(cut);
    }
  }

  async close(): Promise<void> {
    await this.endpoint.close();
  }
}
