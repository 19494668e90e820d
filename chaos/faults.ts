import { Etcd3 } from 'etcd3';
import { AetherError } from '../common/errors.js';
import { endpointUrl, etcdCall } from '../cluster/etcd.js';
import { writeSettings, mergeSettings } from '../cluster/settings.js';
import { COORDINATOR_SIDE } from '../kernel/peer-transport.js';
import { processAlive } from '../topology/supervisor.js';
import type { Deployment } from './deployment.js';

/** One cut Quantum link, as the dynamic settings' `partitions` list holds it. */
export interface Cut {
  readonly from: string;
  readonly to: string;
}

/**
 * The cuts that isolate `region`: one against every other region and one against the
 * coordinator side (kernel/peer-transport.ts: a cut names two sides and works both ways).
 */
export function regionCuts(d: Deployment, region: string): Cut[] {
  d.checkRegion(region);
  return [...d.regionNames.filter((r) => r !== region), COORDINATOR_SIDE].map((to) => ({ from: region, to }));
}

async function currentPartitions(d: Deployment): Promise<readonly Cut[]> {
  const kv = await etcdCall('read settings', () => d.etcd.get(d.paths.settings).exec());
  const doc = kv.kvs[0] ? (JSON.parse(kv.kvs[0].value.toString('utf8')) as unknown) : {};
  return mergeSettings(d.defaults, doc).partitions;
}

const same = (a: Cut, b: Cut): boolean => a.from === b.from && a.to === b.to;

/** Adds the region's cuts to the partitions every process applies; other faults' cuts stay. Returns the new list. */
export async function partitionRegion(d: Deployment, region: string): Promise<readonly Cut[]> {
  const existing = await currentPartitions(d);
  const added = regionCuts(d, region).filter((c) => !existing.some((e) => same(e, c)));
  return (await writeSettings(d.etcd, d.paths, d.defaults, { partitions: [...existing, ...added] })).partitions;
}

/** Removes every cut that names the region (or, with no region, every cut). Returns the new list. */
export async function healPartitions(d: Deployment, region?: string): Promise<readonly Cut[]> {
  const existing = await currentPartitions(d);
  const cuts = region === undefined ? [] : regionCuts(d, region);
  const kept = existing.filter((e) => !cuts.some((c) => same(e, c)));
  return (await writeSettings(d.etcd, d.paths, d.defaults, { partitions: kept })).partitions;
}

export interface Killed {
  readonly id: string;
  readonly pid: number;
}

function sigkill(pid: number): boolean {
  try {
    process.kill(pid, 'SIGKILL');
    return true;
  } catch {
    return false; // already gone
  }
}

/**
 * SIGKILLs the live, registered process of each id; ids with no live registered process
 * are skipped. The registry entry of a killed process stays until its lease expires,
 * so `skipPids` lets a caller that kills repeatedly pass the pids it already killed.
 */
export async function killIds(d: Deployment, ids: readonly string[], skipPids: ReadonlySet<number> = new Set()): Promise<Killed[]> {
  const services = await d.services();
  const killed: Killed[] = [];
  for (const s of services) {
    if (!ids.includes(s.id) || skipPids.has(s.pid) || s.pid === process.pid || !processAlive(s.pid)) continue;
    if (sigkill(s.pid)) killed.push({ id: s.id, pid: s.pid });
  }
  return killed;
}

/** `chaos kill ID`: SIGKILLs one process of the topology, found in the registry. */
export async function killProcess(d: Deployment, id: string): Promise<Killed> {
  if (!d.ids.includes(id)) throw new AetherError('UNKNOWN_ID', `no process with id ${JSON.stringify(id)} in the topology (known: ${d.ids.join(', ')})`);
  const [killed] = await killIds(d, [id]);
  if (!killed) throw new AetherError('CHAOS_REFUSED', `process ${id} is not registered as running (is it up? see \`aetherflow status\`)`);
  return killed;
}

/** How often a crash hold looks for restarted processes of the crashed region. */
const HOLD_POLL_MS = 100;

/**
 * A region crash held for a while: SIGKILLs the region's processes, and keeps killing
 * each one that `up`'s supervisor restarts (as soon as it registers) until `stop()`;
 * after that the supervisor's next restart brings the region back.
 */
export class CrashHold {
  readonly killed: Killed[] = [];
  private readonly killedPids = new Set<number>();
  private timer: NodeJS.Timeout | undefined;
  private polling: Promise<void> = Promise.resolve();

  private constructor(
    private readonly d: Deployment,
    private readonly ids: readonly string[],
  ) {}

  static async start(d: Deployment, region: string): Promise<CrashHold> {
    const hold = new CrashHold(d, d.regionIds(region));
    await hold.sweep();
    if (hold.killed.length === 0) throw new AetherError('CHAOS_REFUSED', `no running process of region ${region} is registered`);
    const loop = (): void => {
      hold.timer = setTimeout(() => {
        hold.polling = hold.sweep().catch(() => {}).then(() => (hold.timer === undefined ? undefined : loop()));
      }, HOLD_POLL_MS);
    };
    loop();
    return hold;
  }

  /** Ends the hold; returns every kill it made (the first sweep and the restarts it caught). */
  async stop(): Promise<Killed[]> {
    clearTimeout(this.timer);
    this.timer = undefined;
    await this.polling;
    return this.killed;
  }

  private async sweep(): Promise<void> {
    for (const k of await killIds(this.d, this.ids, this.killedPids)) {
      this.killedPids.add(k.pid);
      this.killed.push(k);
    }
  }
}

export interface EtcdLeaderKill {
  readonly member: string;
  readonly pid: number;
  readonly clientUrl: string;
}

/** The local etcd member that is raft leader, by each member's maintenance status. */
export async function findEtcdLeader(d: Deployment): Promise<{ name: string; pid: number; clientUrl: string }> {
  const published = d.localEtcd();
  if (!published) {
    throw new AetherError('CHAOS_REFUSED', d.topology.etcd.endpoints.length > 0 ? 'the topology names an external etcd; only a local etcd started by `up` can be killed' : 'no local etcd of this topology is running (start it with `aetherflow up`)');
  }
  if (published.members.length < 3) {
    throw new AetherError('CHAOS_REFUSED', `the local etcd has ${published.members.length} member(s); killing its leader needs 3 (set etcd.members: 3 in the topology)`);
  }
  for (const m of published.members) {
    const client = new Etcd3({ hosts: [endpointUrl(m.clientUrl)], dialTimeout: 1000 });
    try {
      const status = await etcdCall('member status', () => client.maintenance.status());
      if (status.leader === status.header.member_id) return { name: m.name, pid: m.pid, clientUrl: m.clientUrl };
    } catch {
      // a member that does not answer is not the leader we are after
    } finally {
      client.close();
    }
  }
  throw new AetherError('CHAOS_REFUSED', 'no local etcd member reports itself leader (is the cluster electing?)');
}

/** `chaos kill-etcd-leader`: SIGKILLs the raft leader of a 3-member local etcd. `up` does not restart etcd members. */
export async function killEtcdLeader(d: Deployment): Promise<EtcdLeaderKill> {
  const leader = await findEtcdLeader(d);
  if (!processAlive(leader.pid) || !sigkill(leader.pid)) throw new AetherError('PROCESS', `etcd member ${leader.name} (pid ${leader.pid}) is not running`);
  return { member: leader.name, pid: leader.pid, clientUrl: leader.clientUrl };
}
