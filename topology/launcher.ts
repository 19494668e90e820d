import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { AetherError } from '../common/errors.js';
import { ensureCertificates, topologyCertsDir } from '../security/certs-dir.js';
import { LocalEtcd, publishLocalEtcd, readPublishedEtcd, runtimeDir, unpublishLocalEtcd } from './local-etcd.js';
import { Supervisor, processAlive, type ProcessEvent } from './supervisor.js';
import type { Topology } from './types.js';

export type RoleName = 'datanode' | 'leader' | 'coordinator';

/** One process of the topology, as `up` runs it. */
export interface RoleProcess {
  readonly role: RoleName;
  readonly id: string;
  readonly region: string;
  readonly grpc?: string;
  readonly metrics: string;
}

export type LaunchEvent =
  | { readonly type: 'certificates'; readonly dir: string; readonly created: readonly string[]; readonly kept: readonly string[] }
  | { readonly type: 'etcd-starting'; readonly members: number }
  | { readonly type: 'etcd-ready'; readonly endpoints: readonly string[]; readonly pids: readonly number[] }
  | { readonly type: 'starting'; readonly processes: readonly RoleProcess[] }
  | ({ readonly type: 'process' } & ProcessEvent & { readonly process: RoleProcess })
  | { readonly type: 'stopping' }
  | { readonly type: 'stopped' };

export interface LaunchOptions {
  /** Only the processes of these regions (coordinators whose region is among them); all when empty. */
  readonly regions?: readonly string[];
  readonly onEvent?: (e: LaunchEvent) => void;
  /** Supervisor tuning (tests shorten the restart backoff). */
  readonly restartBaseMs?: number;
  /** Every child's `--log-level`; the dynamic setting's when absent. */
  readonly logLevel?: string;
}

/** The processes of the topology, or of the named regions; UNKNOWN_REGION for a name it lacks. */
export function roleProcesses(topology: Topology, regions: readonly string[] = []): RoleProcess[] {
  const known = new Set(topology.regions.map((r) => r.name));
  for (const r of regions) {
    if (!known.has(r)) throw new AetherError('UNKNOWN_REGION', `no region ${JSON.stringify(r)} in the topology (known: ${[...known].join(', ')})`);
  }
  const wanted = (region: string): boolean => regions.length === 0 || regions.includes(region);
  const out: RoleProcess[] = [];
  for (const r of topology.regions) {
    if (!wanted(r.name)) continue;
    for (const d of r.datanodes) out.push({ role: 'datanode', id: d.id, region: r.name, grpc: d.grpc, metrics: d.metrics });
    for (const l of r.leaders) out.push({ role: 'leader', id: l.id, region: r.name, grpc: l.grpc, metrics: l.metrics });
  }
  for (const c of topology.coordinators) if (wanted(c.region)) out.push({ role: 'coordinator', id: c.id, region: c.region, metrics: c.metrics });
  return out;
}

/**
 * How to start the CLI in a child: the compiled `dist/cli/main.js` next to this file,
 * or — when this file runs from source under tsx — `cli/main.ts` through tsx.
 */
export function cliCommand(): { command: string; args: string[] } {
  const here = fileURLToPath(import.meta.url);
  // tsx by its resolved location: children may run in a directory without node_modules.
  if (here.endsWith('.ts')) return { command: process.execPath, args: ['--import', import.meta.resolve('tsx'), fileURLToPath(new URL('../cli/main.ts', import.meta.url))] };
  return { command: process.execPath, args: [fileURLToPath(new URL('../cli/main.js', import.meta.url))] };
}

/** Extra Node flags for every role process, e.g. `--cpu-prof --cpu-prof-dir=/tmp/prof` (Node refuses those in NODE_OPTIONS). */
export const ROLE_NODE_FLAGS_ENV = 'AETHERFLOW_ROLE_NODE_FLAGS';

function roleNodeFlags(): string[] {
  return (process.env[ROLE_NODE_FLAGS_ENV] ?? '').split(/\s+/).filter((f) => f !== '');
}

/**
 * A running deployment on this machine (`aetherflow up`): the certificates it lacks
 * (unless insecure), a local etcd when the topology names no endpoints, and every role
 * process under a Supervisor. Logs go to
 * `.aetherflow/<name>/logs/<id>.log` (etcd: `etcd-<member>.log`).
 */
export class Launch {
  private constructor(
    readonly topology: Topology,
    readonly processes: readonly RoleProcess[],
    readonly supervisor: Supervisor,
    private readonly etcd: LocalEtcd | undefined,
    private readonly onEvent: (e: LaunchEvent) => void,
  ) {}

  static async start(topology: Topology, options: LaunchOptions = {}): Promise<Launch> {
    const onEvent = options.onEvent ?? (() => {});
    const processes = roleProcesses(topology, options.regions);
    const logDir = join(runtimeDir(topology), 'logs');
    if (!topology.security.insecure) {
      // Like `cockroach cert`, once: a local CA and whatever certificates are missing; existing ones are kept.
      const dir = topologyCertsDir(topology);
      const report = await ensureCertificates(dir, topology);
      onEvent({ type: 'certificates', dir, created: report.created, kept: report.kept });
    }
    let etcd: LocalEtcd | undefined;
    if (topology.etcd.endpoints.length === 0) {
      await refuseOrAdopt(topology);
      onEvent({ type: 'etcd-starting', members: topology.etcd.members });
      etcd = await LocalEtcd.start({ members: topology.etcd.members, dataDir: topology.etcd.dataDir, logDir, token: `aetherflow-${topology.name}` });
      publishLocalEtcd(topology, etcd);
      onEvent({ type: 'etcd-ready', endpoints: etcd.endpoints, pids: etcd.pids });
    }
    const byId = new Map(processes.map((p) => [p.id, p]));
    const supervisor = new Supervisor({
      ...(options.restartBaseMs !== undefined ? { restartBaseMs: options.restartBaseMs } : {}),
      onEvent: (e) => onEvent({ type: 'process', ...e, process: byId.get(e.id)! }),
    });
    const launch = new Launch(topology, processes, supervisor, etcd, onEvent);
    onEvent({ type: 'starting', processes });
    const cli = cliCommand();
    const nodeFlags = roleNodeFlags();
    for (const p of processes) {
      supervisor.add({
        id: p.id,
        command: cli.command,
        args: [...nodeFlags, ...cli.args, p.role, '--id', p.id, '--topology', topology.file, ...(options.logLevel ? ['--log-level', options.logLevel] : [])],
        env: { AETHERFLOW_SUPERVISOR_PID: String(process.pid) },
        logFile: join(logDir, `${p.id}.log`),
        healthUrl: `http://${p.metrics}/healthz`,
      });
    }
    return launch;
  }

  /** Resolves when every process answers /healthz. */
  ready(): Promise<void> {
    return this.supervisor.allReady();
  }

  /** Stops the role processes, then etcd; resolves when none of them is left. */
  async stop(): Promise<void> {
    this.onEvent({ type: 'stopping' });
    // Leaders and coordinators first, so none of them works against a data node already gone.
    const datanodes = new Set(this.processes.filter((p) => p.role === 'datanode').map((p) => p.id));
    await this.supervisor.stop((id) => !datanodes.has(id));
    await this.supervisor.stop();
    if (this.etcd) {
      await this.etcd.stop();
      unpublishLocalEtcd(this.topology);
    }
    this.onEvent({ type: 'stopped' });
  }
}

/**
 * Two `up`s of one topology would fight over ports and data: the second refuses. When
 * the `up` that started the local etcd is gone (killed), its orphaned etcd is stopped —
 * the pid is checked against the member's data dir first, in case it was reused.
 */
async function refuseOrAdopt(topology: Topology): Promise<void> {
  const published = readPublishedEtcd(topology);
  if (!published) return;
  if (published.upPid !== process.pid && processAlive(published.upPid)) {
    throw new AetherError('UNAVAILABLE', `topology "${topology.name}" already runs on this machine (\`up\` pid ${published.upPid}); stop it first`);
  }
  const orphans = published.members.filter((m) => processAlive(m.pid) && commandLine(m.pid).includes(m.dataDir));
  for (const m of orphans) process.kill(m.pid, 'SIGTERM');
  const deadline = Date.now() + 5000;
  while (orphans.some((m) => processAlive(m.pid)) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  for (const m of orphans) if (processAlive(m.pid)) process.kill(m.pid, 'SIGKILL');
  unpublishLocalEtcd(topology);
}

function commandLine(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8');
  } catch {
    return '';
  }
}
