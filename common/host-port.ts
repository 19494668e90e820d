/** host:port, as the topology file writes every address. */
export interface HostPort {
  readonly host: string;
  readonly port: number;
}

const HOSTNAME = /^(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;
const IPV4 = /^(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])(\.(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])){3}$/;

/** Parses `host:port` (IPv6 hosts in brackets); undefined when malformed. */
export function parseHostPort(text: string): HostPort | undefined {
  const m = /^(\[[0-9A-Fa-f:.]+\]|[^:\[\]]+):([0-9]{1,5})$/.exec(text);
  if (!m) return undefined;
  const host = m[1]!;
  const port = Number(m[2]);
  if (port < 1 || port > 65535) return undefined;
  if (!host.startsWith('[') && !IPV4.test(host) && (/^[0-9.]+$/.test(host) || !HOSTNAME.test(host))) return undefined;
  return { host, port };
}
