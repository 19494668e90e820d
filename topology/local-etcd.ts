import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { delimiter, join, resolve } from 'node:path';
import { AetherError } from '../common/errors.js';
import { silentLogger, type Logger } from '../common/log.js';
import type { Topology } from './types.js';

/**
 * A local etcd (1 or 3 members) on loopback, for `up` when the topology names no
 * endpoints, and for tests.
 *
 * Where clients find it: `up` writes the endpoints, one per line, to
 * `.aetherflow/<name>/etcd-endpoints` (relative to the working directory of `up`, like
 * the topology's dataDirs), and `{upPid, members: [{name, pid, clientUrl, peerUrl,
 * dataDir}]}` as JSON to `.aetherflow/<name>/etcd-members.json`; both are removed when
 * it stops.
 * `etcdEndpoints(topology)` is how `status`, the client and chaos commands read them.
 *
 * Ports are picked free on the first start and kept in `<dataDir>/ports.json`: etcd
 * stores its peer URLs in its data directory, so a restarted cluster must reuse them.
 */

/**
 * The local etcd runs at this niceness (through nice(1), so every Go thread inherits it):
 * on one machine the role processes and a write load can saturate every core, and an
 * etcd starved of CPU answered lease keepalives and reads after 0.5-1.5 s, so every
 * 1 s lease lapsed and every election changed hands. Lowering it needs root
 * (CAP_SYS_NICE); without, nice(1) warns in the member's log and runs it unchanged.
 */
export const ETCD_NICE = -10;

export interface LocalEtcdMember {
  readonly name: string;
  readonly clientUrl: string;
  readonly peerUrl: string;
  readonly dataDir: string;
  readonly pid: number;
}

export interface LocalEtcdOptions {
  readonly members: 1 | 3;
  readonly dataDir: string;
  /** Where each member's output goes (`etcd-<member>.log`); defaults to dataDir. */
  readonly logDir?: string;
  /** Cluster token: members of different deployments never join each other. */
  readonly token?: string;
  readonly readyTimeoutMs?: number;
  readonly log?: Logger;
}

interface Ports {
  readonly client: number;
  readonly peer: number;
}

/** Where the members' ports are recorded, in the data dir. */
const PORTS_FILE = 'ports.json';
/** Fresh clusters started on new ports at most this many times when a chosen port was taken. */
const FRESH_PORT_ATTEMPTS = 3;

export class LocalEtcd {
  private readonly children: ChildProcess[];
  private stopped = false;

  private constructor(
    readonly members: readonly LocalEtcdMember[],
    children: ChildProcess[],
  ) {
    this.children = children;
  }

  /** Client endpoints (`127.0.0.1:port`). */
  get endpoints(): string[] {
    return this.members.map((m) => m.clientUrl.replace(/^http:\/\//, ''));
  }

  get pids(): number[] {
    return this.members.map((m) => m.pid);
  }

  /**
   * Starts the members and resolves when every one answers /health; on failure nothing is
   * left running. Ports chosen afresh are free only when chosen: another process may bind
   * one before etcd does, and then a new cluster starts again on new ports (a bounded number
   * of times). Recorded ports are the cluster's identity and are never changed.
   */
  static async start(options: LocalEtcdOptions): Promise<LocalEtcd> {
    const dataDir = resolve(options.dataDir);
    const logDir = resolve(options.logDir ?? dataDir);
    mkdirSync(dataDir, { recursive: true });
    mkdirSync(logDir, { recursive: true });
    for (let attempt = 1; ; attempt++) {
      const { ports, fresh } = await memberPorts(dataDir, options.members);
      try {
        return await LocalEtcd.launch(options, dataDir, logDir, ports);
      } catch (err) {
        if (!fresh || attempt >= FRESH_PORT_ATTEMPTS || !ports.some((_, i) => portTaken(logDir, `m${i}`))) throw err;
        (options.log ?? silentLogger()).warn({ attempt }, 'a port chosen for the local etcd was taken meanwhile; starting it on new ports');
        for (let i = 0; i < ports.length; i++) rmSync(join(dataDir, `m${i}`), { recursive: true, force: true });
        rmSync(join(dataDir, PORTS_FILE), { force: true });
      }
    }
  }

  private static async launch(options: LocalEtcdOptions, dataDir: string, logDir: string, ports: readonly Ports[]): Promise<LocalEtcd> {
    const log = options.log ?? silentLogger();
    const names = ports.map((_, i) => `m${i}`);
    const initialCluster = ports.map((p, i) => `${names[i]}=http://127.0.0.1:${p.peer}`).join(',');
    const children: ChildProcess[] = [];
    const members: LocalEtcdMember[] = [];
    const binary = etcdBinary();
    for (const [i, p] of ports.entries()) {
      const name = names[i]!;
      const memberDir = join(dataDir, name);
      const clientUrl = `http://127.0.0.1:${p.client}`;
      const peerUrl = `http://127.0.0.1:${p.peer}`;
      const args = [
        `--name=${name}`,
        `--data-dir=${memberDir}`,
        `--listen-client-urls=${clientUrl}`,
        `--advertise-client-urls=${clientUrl}`,
        `--listen-peer-urls=${peerUrl}`,
        `--initial-advertise-peer-urls=${peerUrl}`,
        `--initial-cluster=${initialCluster}`,
        `--initial-cluster-state=new`,
        `--initial-cluster-token=${options.token ?? 'aetherflow'}`,
        // A 1 s lease TTL needs etcd's minimum TTL (1.5 election timeouts) below 1 s.
        '--heartbeat-interval=50',
        '--election-timeout=500',
        // Commit records are history: keep a bounded amount of it.
        '--auto-compaction-mode=revision',
        '--auto-compaction-retention=10000',
        '--logger=zap',
        '--log-outputs=stderr',
      ];
      const out = openSync(join(logDir, `etcd-${name}.log`), 'a');
      let child: ChildProcess;
      try {
        child = spawn('nice', ['-n', String(ETCD_NICE), binary, ...args], { stdio: ['ignore', out, out], detached: true });
      } finally {
        closeSync(out);
      }
      children.push(child);
      const pid = await spawned(child).catch(async (err: unknown) => {
        await stopChildren(children, 2000);
        throw err;
      });
      members.push({ name, clientUrl, peerUrl, dataDir: memberDir, pid });
      log.info({ member: name, pid, clientUrl }, 'etcd member started');
    }
    const etcd = new LocalEtcd(members, children);
    try {
      await etcd.waitHealthy(options.readyTimeoutMs ?? 20_000, logDir);
    } catch (err) {
      await etcd.stop();
      throw err;
    }
    return etcd;
  }

  private async waitHealthy(timeoutMs: number, logDir: string): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (const [i, m] of this.members.entries()) {
      for (;;) {
        const child = this.children[i]!;
        if (child.exitCode !== null || child.signalCode !== null) {
          throw new AetherError('PROCESS', `etcd member ${m.name} exited (${child.exitCode ?? child.signalCode}); see ${join(logDir, `etcd-${m.name}.log`)}`);
        }
        if (await healthy(m.clientUrl)) break;
        if (Date.now() > deadline) {
          throw new AetherError('TIMEOUT', `etcd member ${m.name} not healthy after ${timeoutMs} ms; see ${join(logDir, `etcd-${m.name}.log`)}`);
        }
        await sleep(100);
      }
    }
  }

  /** SIGTERM to every member, SIGKILL after graceMs; resolves when all have exited. */
  async stop(graceMs = 3000): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    await stopChildren(this.children, graceMs);
  }
}

async function healthy(clientUrl: string): Promise<boolean> {
  try {
    const res = await fetch(`${clientUrl}/health`, { signal: AbortSignal.timeout(1000) });
    const body = (await res.json()) as { health?: string };
    return res.ok && body.health === 'true';
  } catch {
    return false;
  }
}

/** etcd's path on PATH; nice(1) would only report a missing one as its own exit code. */
function etcdBinary(): string {
  for (const dir of (process.env['PATH'] ?? '').split(delimiter)) {
    const candidate = join(dir, 'etcd');
    if (dir && existsSync(candidate)) return candidate;
  }
  throw new AetherError('PROCESS', 'cannot start etcd: no etcd on PATH (`make deps` installs it)');
}

function spawned(child: ChildProcess): Promise<number> {
  return new Promise((resolvePid, reject) => {
    child.once('spawn', () => resolvePid(child.pid!));
    child.once('error', (err) =>
      reject(new AetherError('PROCESS', `cannot start etcd: ${err.message} (is etcd on PATH? \`make deps\` installs it)`, { cause: err })),
    );
  });
}

async function stopChildren(children: readonly ChildProcess[], graceMs: number): Promise<void> {
  await Promise.all(
    children.map(async (child) => {
      if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise<void>((r) => child.once('exit', () => r()));
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      await exited;
      clearTimeout(timer);
    }),
  );
}

/** The ports recorded for this data dir, or fresh free ones (then recorded). */
/** The members' ports: those recorded in dataDir, or new ones (`fresh`), then recorded. */
async function memberPorts(dataDir: string, members: number): Promise<{ ports: Ports[]; fresh: boolean }> {
  const file = join(dataDir, PORTS_FILE);
  if (existsSync(file)) {
    const recorded = JSON.parse(readFileSync(file, 'utf8')) as Ports[];
    if (recorded.length === members) return { ports: recorded, fresh: false };
    // The member count changed: the old cluster cannot be reused.
    rmSync(dataDir, { recursive: true, force: true });
    mkdirSync(dataDir, { recursive: true });
  }
  const ports: Ports[] = [];
  for (let i = 0; i < members; i++) ports.push({ client: await freePort(), peer: await freePort() });
  writeFileSync(file, JSON.stringify(ports));
  return { ports, fresh: true };
}

/** Whether a member's log says it could not bind its port. */
function portTaken(logDir: string, name: string): boolean {
  try {
    return readFileSync(join(logDir, `etcd-${name}.log`), 'utf8').includes('address already in use');
  } catch {
    return false;
  }
}

/** A port the kernel just handed out on loopback; free again when this returns. */
export function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const addr = server.address();
      server.close(() => (typeof addr === 'object' && addr ? resolvePort(addr.port) : reject(new Error('no port'))));
    });
  });
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** `.aetherflow/<name>/`: the run-time files of a local deployment (logs, etcd endpoints). */
export function runtimeDir(topology: Pick<Topology, 'name'>): string {
  return resolve('.aetherflow', topology.name);
}

export function endpointsFile(topology: Pick<Topology, 'name'>): string {
  return join(runtimeDir(topology), 'etcd-endpoints');
}

export function membersFile(topology: Pick<Topology, 'name'>): string {
  return join(runtimeDir(topology), 'etcd-members.json');
}

/** The members file: which `up` started the local etcd, and its members. */
export interface PublishedEtcd {
  readonly upPid: number;
  readonly members: readonly LocalEtcdMember[];
}

/** Publishes a running local etcd to clients of this topology (see the file comment). */
export function publishLocalEtcd(topology: Pick<Topology, 'name'>, etcd: LocalEtcd): void {
  mkdirSync(runtimeDir(topology), { recursive: true });
  writeFileSync(endpointsFile(topology), etcd.endpoints.join('\n') + '\n');
  const published: PublishedEtcd = { upPid: process.pid, members: etcd.members };
  writeFileSync(membersFile(topology), JSON.stringify(published, null, 2) + '\n');
}

/** What the members file says, or undefined when there is none (or it is unreadable). */
export function readPublishedEtcd(topology: Pick<Topology, 'name'>): PublishedEtcd | undefined {
  try {
    const p = JSON.parse(readFileSync(membersFile(topology), 'utf8')) as PublishedEtcd;
    return typeof p.upPid === 'number' && Array.isArray(p.members) ? p : undefined;
  } catch {
    return undefined;
  }
}

export function unpublishLocalEtcd(topology: Pick<Topology, 'name'>): void {
  rmSync(endpointsFile(topology), { force: true });
  rmSync(membersFile(topology), { force: true });
}

/**
 * The etcd endpoints of a deployment: the topology's own, else those of the local etcd
 * `up` started (ETCD when none is running).
 */
export function etcdEndpoints(topology: Pick<Topology, 'name' | 'etcd'>): string[] {
  if (topology.etcd.endpoints.length > 0) return [...topology.etcd.endpoints];
  const file = endpointsFile(topology);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new AetherError('ETCD', `no local etcd is running for topology "${topology.name}" (${file} is missing; start it with \`aetherflow up\`)`, {
      cause: err,
    });
  }
  return text.split('\n').map((l) => l.trim()).filter((l) => l.length > 0);
}
