/**
 * The AetherFlow side of `bench compare-etcd`: the topology (its regions and emulated WAN
 * links, which Quantum applies) run by `aetherflow up` as a child, from a copy of the
 * topology with free loopback ports and data dirs in a temp dir, so the bench never meets
 * a deployment already running here. Stopped by its PID; any role process it leaves
 * behind (the supervisor killed before it could stop them) is killed by the PIDs `up`
 * reported.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, mkdirSync, openSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { AetherError } from '../common/errors.js';
import { connect, type AetherClient } from '../client/client.js';
import { currentLeader } from '../cluster/election.js';
import { connectEtcd } from '../cluster/etcd.js';
import { clusterPaths } from '../cluster/paths.js';
import { compareGlt, type Glt } from '../glts/glt.js';
import { cliCommand } from '../topology/launcher.js';
import { copyTopology } from '../topology/copy.js';
import { loadTopology } from '../topology/load.js';
import { processAlive } from '../topology/supervisor.js';
import type { ReadOutcome } from './compare-etcd-workload.js';

const FIRST_SNAPSHOT_WAIT_MS = 30_000;

interface UpEvent {
  readonly event: string;
  readonly state?: string;
  readonly pid?: number;
  readonly pids?: number[];
  readonly processes?: unknown[];
  readonly process?: { id: string };
}

export class AetherFlowDeployment {
  private readonly pids = new Set<number>();
  private stopped = false;
  client: AetherClient | undefined;
  /** The local etcd `up` started, once it is known. */
  private etcdEndpoints: string[] = [];
  /** The copied topology's name (its etcd prefix). */
  private name = '';

  private constructor(
    private readonly up: ChildProcess,
    readonly regions: readonly string[],
    /** `up`'s working directory: clients that find the local etcd through `.aetherflow/<name>/` run here. */
    readonly dir: string,
    /** The copied topology `up` runs. */
    readonly topologyFile: string,
  ) {}

  /** Runs `up` in `dir` on a copy of `topologyFile`; resolves once every process answers /healthz and every region takes a write. */
  static async start(topologyFile: string, dir: string, readyTimeoutMs: number, callTimeoutMs: number, log: (s: string) => void, etcdMembers?: 1 | 3): Promise<AetherFlowDeployment> {
    const name = `cmp-${process.pid}`;
    mkdirSync(dir, { recursive: true });
    const file = await copyTopology(topologyFile, dir, name, etcdMembers ? { etcdMembers } : {});
    const regions = loadTopology(file).regions.map((r) => r.name);
    const { command, args } = cliCommand();
    const errFd = openSync(join(dir, 'up.stderr.log'), 'a');
    let up: ChildProcess;
    try {
      up = spawn(command, [...args, 'up', '--topology', file, '--json'], { cwd: dir, stdio: ['ignore', 'pipe', errFd] });
    } finally {
      closeSync(errFd);
    }
    const d = new AetherFlowDeployment(up, regions, dir, file);
    try {
      await d.waitUp(readyTimeoutMs, dir);
      const endpoints = readFileSync(join(dir, '.aetherflow', name, 'etcd-endpoints'), 'utf8').split('\n').map((l) => l.trim()).filter(Boolean);
      d.etcdEndpoints = endpoints;
      d.name = name;
      // Without read-your-writes: the local read is timed at the region's frontier as it is (no GLT asked), as this benchmark defines it.
      d.client = connect({ topologyFile: file, etcd: { endpoints }, callTimeoutMs, readYourWrites: false });
      const deadline = Date.now() + readyTimeoutMs;
      for (const region of regions) {
        for (;;) {
          try {
            await d.client.put(`bench/ready/${region}`, '1', { region });
            break;
          } catch (err) {
            if (Date.now() > deadline) throw new AetherError('TIMEOUT', `region ${region} takes no write after ${readyTimeoutMs} ms; logs in ${dir}/.aetherflow/${name}/logs`, { cause: err });
            await new Promise((r) => setTimeout(r, 250));
          }
        }
      }
      log(`  AetherFlow up: ${d.pids.size} processes, every region writable`);
      await d.waitFirstSnapshot(FIRST_SNAPSHOT_WAIT_MS, log);
      return d;
    } catch (err) {
      await d.stop();
      throw err;
    }
  }

  private waitUp(timeoutMs: number, dir: string): Promise<void> {
    return new Promise((resolve, reject) => {
      let total = -1;
      const ready = new Set<string>();
      const timer = setTimeout(() => reject(new AetherError('TIMEOUT', `aetherflow up not ready after ${timeoutMs} ms (${ready.size}/${total} processes); see ${dir}`)), timeoutMs);
      this.up.once('exit', (code, signal) => {
        clearTimeout(timer);
        const lastLine = tail(join(dir, 'up.stderr.log'));
        reject(new AetherError('PROCESS', `aetherflow up exited (${code ?? signal}) before it was ready${lastLine ? `: ${lastLine}` : ''}`));
      });
      createInterface({ input: this.up.stdout! }).on('line', (line) => {
        let e: UpEvent;
        try {
          e = JSON.parse(line) as UpEvent;
        } catch {
          return;
        }
        for (const pid of e.pids ?? []) this.pids.add(pid);
        if (e.pid !== undefined) this.pids.add(e.pid);
        if (e.event === 'starting') total = e.processes?.length ?? 0;
        if (e.event === 'process' && e.state === 'ready' && e.process) ready.add(e.process.id);
        if (total >= 0 && ready.size >= total) {
          clearTimeout(timer);
          resolve();
        }
      });
    });
  }

  /** Global snapshots as usual: the run starts once one is committed, or after waitMs anyway (then the reads measure that). */
  private async waitFirstSnapshot(waitMs: number, log: (s: string) => void): Promise<void> {
    const deadline = Date.now() + waitMs;
    for (;;) {
      try {
        const s = await this.client!.latestSnapshot();
        log(`  first committed snapshot at GLT ${s.glt.wall}.${s.glt.logical}`);
        return;
      } catch {
        if (Date.now() > deadline) {
          log(`  no snapshot committed within ${waitMs / 1000} s of every region being writable; measuring anyway`);
          return;
        }
        await new Promise((r) => setTimeout(r, 500));
      }
    }
  }

  async write(region: string, key: string, value: string): Promise<Glt> {
    return (await this.client!.put(key, value, { region })).ts;
  }

  /** A read at a GLT ≥ the write's timestamp (min_glt, waiting for the frontier): it must return the write. */
  async readVisible(region: string, key: string, value: string, ts: Glt, waitMs: number): Promise<ReadOutcome> {
    const r = await this.client!.get(key, { region, minGlt: ts, waitMs: Math.max(1, Math.min(Math.floor(waitMs), 60_000)) });
    if (r.found && r.value?.toString() === value) return 'visible';
    if (compareGlt(r.glt, ts) >= 0) return 'missing';
    throw new AetherError('INTERNAL', `a read with min_glt ${ts.wall}.${ts.logical} was served at an earlier GLT`);
  }

  /** A consistent read in `region` at its frontier (no GLT given): what a reader in that region gets at once. */
  async readLocal(region: string, key: string): Promise<void> {
    await this.client!.get(key, { region });
  }

  /** The region of the elected coordinator (from the deployment's etcd), or undefined when etcd cannot say. */
  async coordinatorRegion(): Promise<string | undefined> {
    if (this.etcdEndpoints.length === 0) return undefined;
    const etcd = connectEtcd(this.etcdEndpoints);
    try {
      const paths = clusterPaths(this.name);
      const leader = await currentLeader<{ id: string }>(etcd, paths.electionPrefix(paths.coordinatorElection));
      return loadTopology(this.topologyFile).coordinators.find((c) => c.id === leader?.value.id)?.region;
    } catch {
      return undefined;
    } finally {
      etcd.close();
    }
  }

  /** SIGTERM to `up` (it stops its processes and etcd), SIGKILL after graceMs; then any reported PID still alive is killed. */
  async stop(graceMs = 30_000): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.client?.close();
    if (this.up.exitCode === null && this.up.signalCode === null) {
      const exited = new Promise<void>((r) => this.up.once('exit', () => r()));
      this.up.kill('SIGTERM');
      const timer = setTimeout(() => this.up.kill('SIGKILL'), graceMs);
      await exited;
      clearTimeout(timer);
    }
    this.killLeftovers();
  }

  /** Kills `up` and every process it reported, at once (a signal handler cannot wait). */
  killNow(): void {
    if (this.up.exitCode === null && this.up.signalCode === null) this.up.kill('SIGKILL');
    this.killLeftovers();
  }

  /** Only processes whose command line names our temp dir: a PID reused by another process is left alone. */
  private killLeftovers(): void {
    for (const pid of this.pids) {
      if (processAlive(pid) && commandLine(pid).includes(this.dir)) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // gone between the check and the kill
        }
      }
    }
  }
}

function commandLine(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8');
  } catch {
    return '';
  }
}

/** The last line of a log, or '' when there is none. */
function tail(file: string): string {
  try {
    return readFileSync(file, 'utf8').trim().split('\n').pop()?.slice(0, 300) ?? '';
  } catch {
    return '';
  }
}
