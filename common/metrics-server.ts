import { createServer, type Server } from 'node:http';
import type { Registry } from 'prom-client';
import { AetherError } from './errors.js';

/** What /healthz reports: ok → 200, otherwise 503; `detail` is returned as JSON either way. */
export interface Health {
  readonly ok: boolean;
  readonly detail?: Readonly<Record<string, unknown>>;
}

/**
 * Prometheus text at /metrics and a health probe at /healthz.
 * `up` treats a child as ready when its /healthz answers 200.
 */
export class MetricsServer {
  private readonly server: Server;

  private constructor(server: Server) {
    this.server = server;
  }

  /** Listens on `address` (host:port); METRICS port in use etc. fail with code UNAVAILABLE. */
  static async start(address: string, registry: Registry, health: () => Health): Promise<MetricsServer> {
    const { host, port } = splitAddress(address);
    const server = createServer((req, res) => {
      const path = (req.url ?? '/').split('?')[0];
      if (req.method !== 'GET') {
        res.writeHead(405).end();
      } else if (path === '/metrics') {
        registry.metrics().then(
          (text) => res.writeHead(200, { 'content-type': registry.contentType }).end(text),
          (err: unknown) => res.writeHead(500, { 'content-type': 'text/plain' }).end(String(err)),
        );
      } else if (path === '/healthz') {
        const h = health();
        res.writeHead(h.ok ? 200 : 503, { 'content-type': 'application/json' }).end(JSON.stringify({ ok: h.ok, ...(h.detail ?? {}) }));
      } else {
        res.writeHead(404).end();
      }
    });
    server.keepAliveTimeout = 1000;
    await new Promise<void>((resolve, reject) => {
      server.once('error', (err) => reject(new AetherError('UNAVAILABLE', `metrics server cannot listen on ${address}: ${err.message}`, { cause: err })));
      server.listen(port, host, () => resolve());
    });
    return new MetricsServer(server);
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

function splitAddress(address: string): { host: string; port: number } {
  const i = address.lastIndexOf(':');
  const port = Number(address.slice(i + 1));
  if (i <= 0 || !Number.isInteger(port) || port < 0 || port > 65535) {
    throw new AetherError('INVALID_ARGUMENT', `malformed address ${JSON.stringify(address)} (expected host:port)`);
  }
  return { host: address.slice(0, i), port };
}
