/** What an endpoint needs from a datagram socket: a real UDP one (udp-socket.ts) or a simulated one (test/transport/sim-network.ts). */
export interface DatagramSocket {
  /** host:port this socket is bound to. */
  readonly address: string;
  /** Fire and forget, like UDP: errors are reported through onError, never thrown. */
  send(datagram: Buffer, to: string): void;
  onDatagram(handler: (datagram: Buffer, from: string) => void): void;
  onError(handler: (err: Error) => void): void;
  close(): Promise<void>;
}

export function splitHostPort(address: string): { host: string; port: number } | undefined {
  const i = address.lastIndexOf(':');
  if (i <= 0) return undefined;
  const host = address.slice(0, i).replace(/^\[(.*)\]$/, '$1');
  const port = Number(address.slice(i + 1));
  if (!Number.isInteger(port) || port < 0 || port > 65535) return undefined;
  return { host, port };
}

export function joinHostPort(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}
