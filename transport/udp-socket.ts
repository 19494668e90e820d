import { createSocket, type Socket } from 'node:dgram';
import { isIPv6 } from 'node:net';
import { AetherError } from '../common/errors.js';
import { joinHostPort, splitHostPort, type DatagramSocket } from './datagram-socket.js';

/** The thin node:dgram adapter under an endpoint. */
export class UdpSocket implements DatagramSocket {
  private errorHandler: (err: Error) => void = () => {};

  private constructor(
    private readonly socket: Socket,
    readonly address: string,
  ) {
    socket.on('error', (err) => this.errorHandler(err));
  }

  /** Binds host:port (port 0 picks one); a taken or bad address fails UNAVAILABLE / INVALID_ARGUMENT. */
  static async bind(address: string, options: { socketBufferBytes?: number } = {}): Promise<UdpSocket> {
    const hp = splitHostPort(address);
    if (hp === undefined) throw new AetherError('INVALID_ARGUMENT', `not a host:port address: ${address}`);
    const socket = createSocket({ type: isIPv6(hp.host) ? 'udp6' : 'udp4' });
    await new Promise<void>((resolve, reject) => {
      socket.once('error', (err) => reject(new AetherError('UNAVAILABLE', `cannot bind Quantum socket ${address}: ${err.message}`, { cause: err })));
      socket.bind(hp.port, hp.host, () => resolve());
    });
    const bufferBytes = options.socketBufferBytes ?? 8 * 1024 * 1024;
    try {
      socket.setRecvBufferSize(bufferBytes);
      socket.setSendBufferSize(bufferBytes);
    } catch {
      // The kernel caps buffer sizes (net.core.rmem_max); the default still works, only burstier loss.
    }
    const bound = socket.address();
    return new UdpSocket(socket, joinHostPort(bound.address, bound.port));
  }

  send(datagram: Buffer, to: string): void {
    const hp = splitHostPort(to);
    if (hp === undefined) {
      this.errorHandler(new AetherError('INVALID_ARGUMENT', `not a host:port address: ${to}`));
      return;
    }
    this.socket.send(datagram, hp.port, hp.host, (err) => {
      if (err) this.errorHandler(err);
    });
  }

  onDatagram(handler: (datagram: Buffer, from: string) => void): void {
    this.socket.on('message', (msg, rinfo) => handler(msg, joinHostPort(rinfo.address, rinfo.port)));
  }

  onError(handler: (err: Error) => void): void {
    this.errorHandler = handler;
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.socket.close(() => resolve()));
  }
}
