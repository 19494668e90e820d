import { AetherError } from '../common/errors.js';
import { connectTopologyEtcd, type Etcd3 } from '../cluster/etcd.js';
import { clusterPaths, type ClusterPaths } from '../cluster/paths.js';
import { listServices, type ServiceRecord } from '../cluster/registry.js';
import { defaultSettings, type Settings } from '../cluster/settings.js';
import { readPublishedEtcd, type PublishedEtcd } from '../topology/local-etcd.js';
import type { Topology } from '../topology/types.js';

/**
 * A running deployment as chaos sees it: found through the topology's etcd (or the
 * local etcd `up` published under `.aetherflow/<name>/`), with the service registry
 * (each process's pid) and the settings document the processes watch.
 */
export class Deployment {
  private constructor(
    readonly topology: Topology,
    readonly etcd: Etcd3,
    readonly paths: ClusterPaths,
  ) {}

  static open(topology: Topology): Deployment {
    return new Deployment(topology, connectTopologyEtcd(topology), clusterPaths(topology.name));
  }

  get defaults(): Settings {
    return defaultSettings(this.topology);
  }

  get regionNames(): string[] {
    return this.topology.regions.map((r) => r.name);
  }

  /** UNKNOWN_REGION names the regions that exist. */
  checkRegion(region: string): void {
    if (!this.regionNames.includes(region)) {
      throw new AetherError('UNKNOWN_REGION', `no region ${JSON.stringify(region)} in the topology (known: ${this.regionNames.join(', ')})`);
    }
  }

  /** Every id of the topology (leaders, data nodes, coordinators). */
  get ids(): string[] {
    return [
      ...this.topology.regions.flatMap((r) => [...r.leaders.map((l) => l.id), ...r.datanodes.map((d) => d.id)]),
      ...this.topology.coordinators.map((c) => c.id),
    ];
  }

  /** The ids of a region's processes: its leader candidates and data nodes. */
  regionIds(region: string): string[] {
    this.checkRegion(region);
    const r = this.topology.regions.find((x) => x.name === region)!;
    return [...r.leaders.map((l) => l.id), ...r.datanodes.map((d) => d.id)];
  }

  services(): Promise<ServiceRecord[]> {
    return listServices(this.etcd, this.paths);
  }

  /** The local etcd `up` started (members with pids), or undefined for an external etcd. */
  localEtcd(): PublishedEtcd | undefined {
    return this.topology.etcd.endpoints.length > 0 ? undefined : readPublishedEtcd(this.topology);
  }

  close(): void {
    this.etcd.close();
  }
}
