import { AetherError } from '../../common/errors.js';
import type { DatagramSocket } from '../../transport/datagram-socket.js';
import type { SimClock } from './sim-clock.js';

/**
 * An in-memory datagram network on a simulated clock: sockets by address, delivery as
 * clock events (never re-entrant). Link conditions are the endpoints' own emulators.
 */
export class SimNetwork {
  private readonly sockets = new Map<string, SimSocket>();

  constructor(readonly clock: SimClock) {}

  bind(address: string): SimSocket {
    if (this.sockets.has(address)) throw new AetherError('UNAVAILABLE', `address in use: ${address}`);
    const s = new SimSocket(this, address);
    this.sockets.set(address, s);
    return s;
  }

  /** @internal */
  deliver(datagram: Buffer, from: string, to: string): void {
    const copy = Buffer.from(datagram);
    this.clock.schedule(this.clock.nowMs(), () => this.sockets.get(to)?.receive(copy, from));
  }

  /** @internal */
  unbind(s: SimSocket): void {
    if (this.sockets.get(s.address) === s) this.sockets.delete(s.address);
  }
}

export class SimSocket implements DatagramSocket {
  private handler: (datagram: Buffer, from: string) => void = () => {};
  /** A closed socket neither sends nor receives (a crashed process's socket). */
  private closed = false;

  constructor(
    private readonly network: SimNetwork,
    readonly address: string,
  ) {}

  send(datagram: Buffer, to: string): void {
    if (!this.closed) this.network.deliver(datagram, this.address, to);
  }
  onDatagram(handler: (datagram: Buffer, from: string) => void): void {
    this.handler = handler;
  }
  onError(): void {}
  close(): Promise<void> {
    this.closed = true;
    this.network.unbind(this);
    return Promise.resolve();
  }
  /** @internal */
  receive(datagram: Buffer, from: string): void {
    this.handler(datagram, from);
  }
}
