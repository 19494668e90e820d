import { X509Certificate } from 'node:crypto';
import { Registry, collectDefaultMetrics } from 'prom-client';
import { AetherError } from '../common/errors.js';
import { createLogger, startupLogLevel, type Logger } from '../common/log.js';
import { MetricsServer, type Health } from '../common/metrics-server.js';
import { closeSecurity, topologySecurity, type TransportSecurity } from '../security/transport-security.js';
import { processAlive } from '../topology/supervisor.js';
import type { Topology } from '../topology/types.js';
import { connectTopologyEtcd, type Etcd3 } from './etcd.js';
import { clusterPaths, type ClusterPaths } from './paths.js';
import { ServiceRegistration, type ServiceRecord, type ServiceRole } from './registry.js';
import { SettingsWatch, defaultSettings } from './settings.js';

export interface RoleIdentity {
  readonly role: ServiceRole;
  readonly id: string;
  readonly region?: string;
  readonly grpc?: string;
  readonly metrics: string;
}

/** What a role reports at /healthz: ready once it serves, and facts for humans, read at each request. */
export interface RoleHealth {
  ready: boolean;
  detail: () => Record<string, unknown>;
}

/**
 * What every role process shares (datanode, leader, coordinator): its logger (JSON, with
 * role, id and region), the etcd client, the watched dynamic settings (the log level is
 * applied here), a metrics registry served with /healthz, its service registration, and
 * an orderly shutdown on SIGTERM/SIGINT — or when the `up` that started it is gone.
 */
export class RoleRuntime {
  readonly health: RoleHealth = { ready: false, detail: () => ({}) };
  /** Run in reverse order at shutdown, each named for the log when it overruns. */
  private readonly cleanups: { readonly name: string; readonly run: () => Promise<void> }[] = [];
  private registration: ServiceRegistration | undefined;
  private shuttingDown: Promise<void> | undefined;
  /** The status last written to the registry, as JSON. */
  private lastStatus: string | undefined;

  private constructor(
    readonly topology: Topology,
    readonly identity: RoleIdentity,
    readonly log: Logger,
    readonly etcd: Etcd3,
    readonly paths: ClusterPaths,
    readonly settings: SettingsWatch,
    readonly registry: Registry,
  ) {}

  /** Connects to etcd, reads the settings and serves /metrics and /healthz (not ready yet). */
  static async open(topology: Topology, identity: RoleIdentity): Promise<RoleRuntime> {
    const log = createLogger(identity);
    const etcd = connectTopologyEtcd(topology);
    const paths = clusterPaths(topology.name);
    let settings: SettingsWatch;
    try {
      settings = await SettingsWatch.open(etcd, paths, defaultSettings(topology), log);
    } catch (err) {
      etcd.close();
      throw err;
    }
    // --log-level wins at start; a later change of the setting applies (subscribe below).
    log.level = startupLogLevel() ?? settings.current.logLevel;
    const registry = new Registry();
    registry.setDefaultLabels({ role: identity.role, id: identity.id, ...(identity.region ? { region: identity.region } : {}) });
    // The event-loop delay histogram's timer runs in every process even when idle: 20 ms, not 10.
    collectDefaultMetrics({ register: registry, eventLoopMonitoringPrecision: 20 });
    const rt = new RoleRuntime(topology, identity, log, etcd, paths, settings, registry);
    rt.onShutdown('etcd client', async () => {
      await settings.close();
      etcd.close();
    });
    settings.subscribe('logLevel', (level) => (log.level = level));
    const metrics = await MetricsServer.start(identity.metrics, registry, () => rt.healthReport()).catch(async (err: unknown) => {
      await rt.shutdown('metrics server failed to start');
      throw err;
    });
    rt.onShutdown('metrics server', () => metrics.close());
    return rt;
  }

  /** Registers a cleanup; they run in reverse order at shutdown, within SHUTDOWN_BUDGET_MS together. */
  onShutdown(name: string, cleanup: () => Promise<void>): void {
    this.cleanups.push({ name, run: cleanup });
  }

  /**
   * This node's transport security as the topology asks: its certificate from certsDir
   * (CERTIFICATE when missing or invalid), reloaded when the files change or on SIGHUP;
   * closed at shutdown. Plaintext when the topology says `insecure: true`.
   */
  transportSecurity(): TransportSecurity {
    const security = topologySecurity(this.topology, { node: this.identity.id }, {
      reloadOnSighup: true,
      onReload: (identity) => this.log.info({ validTo: new X509Certificate(identity.certPem).validTo }, 'certificates reloaded; new connections use them'),
      onError: (err) => this.log.warn({ err }, 'the certificate files changed but do not load; the ones in use stay'),
    });
    this.onShutdown('certificates', async () => closeSecurity(security));
    return security;
  }

  /** Publishes the process in the service registry and reports ready. */
  async ready(status?: Record<string, unknown>): Promise<void> {
    const record: ServiceRecord = {
      role: this.identity.role,
      id: this.identity.id,
      ...(this.identity.region ? { region: this.identity.region } : {}),
      ...(this.identity.grpc ? { grpc: this.identity.grpc } : {}),
      metrics: this.identity.metrics,
      pid: process.pid,
      startedAt: new Date().toISOString(),
      ...(status ? { status } : {}),
    };
    this.registration = await ServiceRegistration.register(this.etcd, this.paths, record, { log: this.log });
    this.lastStatus = status ? JSON.stringify(status) : undefined;
    this.health.ready = true;
    this.log.info({ grpc: this.identity.grpc, metrics: this.identity.metrics }, 'ready');
  }

  /** Refreshes the status in the registry when it changed (callers keep it to about once a second). */
  async publishStatus(status: Record<string, unknown>): Promise<void> {
    const text = JSON.stringify(status);
    if (!this.registration || text === this.lastStatus) return;
    this.lastStatus = text;
    await this.registration.update(status).catch((err: unknown) => this.log.warn({ err }, 'status update failed'));
  }

  /**
   * Shuts down on SIGTERM/SIGINT, or when the supervising `up` (AETHERFLOW_SUPERVISOR_PID)
   * has died, so no role process outlives it. Resolves when the process should exit.
   */
  untilShutdown(): Promise<void> {
    return new Promise((resolve) => {
      const stop = (why: string): void => {
        void this.shutdown(why).then(resolve);
      };
      process.once('SIGTERM', () => stop('SIGTERM'));
      process.once('SIGINT', () => stop('SIGINT'));
      const early = takeEarlySignal();
      if (early) stop(early);
      const parent = Number(process.env['AETHERFLOW_SUPERVISOR_PID']);
      if (Number.isInteger(parent) && parent > 0) {
        const timer = setInterval(() => {
          if (!processAlive(parent)) stop('supervisor gone');
        }, 1000);
        timer.unref();
        this.onShutdown('supervisor check', async () => clearInterval(timer));
      }
    });
  }

  /**
   * Deregisters, then runs the cleanups in reverse order; errors are logged, never
   * thrown. The whole of it is bounded by SHUTDOWN_BUDGET_MS: a step still running when
   * the budget is spent is logged by name and left behind, and the process exits even if
   * its event loop does not drain (exitWhenDrained), so a stuck etcd or peer cannot turn
   * a SIGTERM into a SIGKILL.
   */
  shutdown(why: string): Promise<void> {
    this.shuttingDown ??= (async () => {
      this.log.info({ why }, 'shutting down');
      this.health.ready = false;
      const deadlineMs = Date.now() + SHUTDOWN_BUDGET_MS;
      const registration = this.registration;
      const steps = [...(registration ? [{ name: 'registration', run: () => registration.close() }] : []), ...this.cleanups.reverse()];
      this.cleanups.length = 0;
      for (const step of steps) await this.runStep(step, deadlineMs);
      this.log.info('stopped');
      exitWhenDrained(this.log);
    })();
    return this.shuttingDown;
  }

  private async runStep(step: { readonly name: string; readonly run: () => Promise<void> }, deadlineMs: number): Promise<void> {
    const startedMs = Date.now();
    const done = step.run().then(
      () => true,
      (err: unknown) => {
        this.log.error({ err, step: step.name }, 'shutdown step failed');
        return true;
      },
    );
    let timer: NodeJS.Timeout | undefined;
    const overran = new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), Math.max(0, deadlineMs - startedMs))));
    const finished = await Promise.race([done, overran]);
    clearTimeout(timer);
    if (!finished) this.log.warn({ step: step.name, budgetMs: SHUTDOWN_BUDGET_MS, tookMs: Date.now() - startedMs }, 'shutdown step overran the budget; going on without it');
  }

  private healthReport(): Health {
    return { ok: this.health.ready, detail: { role: this.identity.role, id: this.identity.id, ...this.health.detail() } };
  }
}

/** What a role's orderly shutdown may take; the supervisor SIGKILLs after 5 s. */
const SHUTDOWN_BUDGET_MS = 3000;
/** How long a stopped role waits for its event loop to drain before it exits anyway. */
const EXIT_DRAIN_MS = 1000;

/**
 * After an orderly stop the event loop drains by itself; a handle left open (a lease
 * keepalive, a socket, a timer) would keep the process up until the supervisor's
 * SIGKILL. After EXIT_DRAIN_MS such handles are logged by type and the process exits
 * with its exit code. The timer is unref'd: it never keeps the process up itself.
 */
function exitWhenDrained(log: Logger): void {
  setTimeout(() => {
    log.warn({ resources: process.getActiveResourcesInfo() }, 'handles still open after stopping; exiting');
    process.exit();
  }, EXIT_DRAIN_MS).unref();
}

let earlySignal: NodeJS.Signals | undefined;
const noteEarlySignal = (signal: NodeJS.Signals): void => {
  earlySignal ??= signal;
};

/**
 * Until a RoleRuntime takes over signals (untilShutdown), a SIGTERM would kill a
 * starting process mid-way; this notes it instead, and the runtime stops as soon as it
 * is up.
 */
export function catchEarlySignals(): void {
  process.on('SIGTERM', noteEarlySignal);
  process.on('SIGINT', noteEarlySignal);
}

function takeEarlySignal(): NodeJS.Signals | undefined {
  process.off('SIGTERM', noteEarlySignal);
  process.off('SIGINT', noteEarlySignal);
  return earlySignal;
}

/** The topology entry of a role id; UNKNOWN_ID names the ids that exist. */
export function findRole<T extends { readonly id: string }>(what: string, items: readonly T[], id: string): T {
  const found = items.find((i) => i.id === id);
  if (!found) throw new AetherError('UNKNOWN_ID', `no ${what} with id ${JSON.stringify(id)} in the topology (known: ${items.map((i) => i.id).join(', ') || 'none'})`);
  return found;
}
