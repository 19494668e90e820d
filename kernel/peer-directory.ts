import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import type { Etcd3 } from 'etcd3';
import { silentLogger, type Logger } from '../common/log.js';
import { watchLeader, type CandidateInfo } from '../cluster/election.js';
import type { ClusterPaths } from '../cluster/paths.js';
import { COORDINATOR } from './messages.js';

/** What the streams need of an elected candidate's election value: where to reach it over Quantum. */
interface QuantumCandidate extends CandidateInfo {
  readonly quantum: string;
}

/** What kernel/peer-transport.ts needs of a directory (tests and simulations hand it a map). */
export interface PeerResolver {
  /** The Quantum address of `name` (a region or COORDINATOR), or undefined while nobody is elected. */
  resolve(name: string): string | undefined;
}

/**
 * Stream messages are addressed by region name, or COORDINATOR; this resolves them to the
 * Quantum address of that region's elected leader (or of the elected coordinator), kept
 * current by watching the elections in etcd. Unknown while nobody is elected.
 */
export class PeerDirectory implements PeerResolver {
  private readonly addresses = new Map<string, string>();
  private readonly stops: (() => Promise<void>)[] = [];
  private readonly listeners = new Set<(name: string) => void>();
  /** The election epoch behind each address: a leader re-elected at the same address is a change too (it restarted). */
  private readonly epochs = new Map<string, bigint>();

  private constructor() {}

  /** Calls `listener(name)` whenever the elected process of `name` (a region or COORDINATOR) changes; returns the unsubscribe function. */
  onChange(listener: (name: string) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private set(name: string, address: string | undefined, epoch: bigint | undefined): void {
    if (this.addresses.get(name) === address && this.epochs.get(name) === epoch) return;
    if (address === undefined || epoch === undefined) {
      this.addresses.delete(name);
      this.epochs.delete(name);
    } else {
      this.addresses.set(name, address);
      this.epochs.set(name, epoch);
    }
    for (const l of this.listeners) l(name);
  }

  static async open(etcd: Etcd3, paths: ClusterPaths, regions: readonly string[], log: Logger = silentLogger()): Promise<PeerDirectory> {
    const dir = new PeerDirectory();
    const elections: [string, string][] = [[COORDINATOR, paths.coordinatorElection], ...regions.map((r): [string, string] => [r, paths.leaderElection(r)])];
    try {
      for (const [name, election] of elections) {
        dir.stops.push(
          await watchLeader<QuantumCandidate>(
            etcd,
            paths.electionPrefix(election),
            (l) => (l && typeof l.value.quantum === 'string' ? dir.set(name, l.value.quantum, l.epoch) : dir.set(name, undefined, undefined)),
            log,
          ),
        );
      }
    } catch (err) {
      await dir.close();
      throw err;
    }
    return dir;
  }

  /** The Quantum address of `name` (a region or COORDINATOR), or undefined while nobody is elected. */
  resolve(name: string): string | undefined {
    return this.addresses.get(name);
  }

  async close(): Promise<void> {
    for (const stop of this.stops.splice(0)) await stop();
  }
}

/** Resolving host names again more often than this would only load DNS: a moved peer waits at most this long. */
const RESOLVE_EVERY_MS = 1000;

export type HostLookup = (host: string) => Promise<readonly { readonly address: string }[]>;

/**
 * The topology's Quantum addresses by the source address their datagrams carry, so a
 * receiver can tell which topology peer sent a packet. An address written as IP:port is
 * its own source. A host name (a Kubernetes topology names each process's Service) is
 * resolved through DNS at start and again, at most once a second, whenever `refresh` is
 * called — on a packet that did not check out, as after a pod moved to a new IP.
 */
export class PeerAddresses {
  /** Addresses written as IP:port: each is its own source. */
  private readonly literal = new Set<string>();
  /** Source IP:port → the host-named address it resolved from, as of the last resolution. */
  private resolved: ReadonlyMap<string, string> = new Map();
  private readonly named: readonly { readonly address: string; readonly host: string; readonly port: string }[];
  private lastResolveMs = Number.NEGATIVE_INFINITY;
  /** The resolution under way: at most one. */
  private resolving: Promise<void> | undefined;

  constructor(
    addresses: Iterable<string>,
    private readonly log: Logger = silentLogger(),
    private readonly lookupHost: HostLookup = (host) => lookup(host, { all: true }),
  ) {
    const named: { address: string; host: string; port: string }[] = [];
    for (const address of addresses) {
      const i = address.lastIndexOf(':');
      const host = address.slice(0, i).replace(/^\[(.*)\]$/, '$1');
      if (isIP(host) !== 0) this.literal.add(address);
      else named.push({ address, host, port: address.slice(i + 1) });
    }
    this.named = named;
    void this.refresh();
  }

  /** The topology address a datagram from `source` came from, or undefined for a stranger. */
  of(source: string): string | undefined {
    return this.literal.has(source) ? source : this.resolved.get(source);
  }

  /** Resolves the host names again, unless it did less than a second ago; settles once the map is current. */
  refresh(): Promise<void> {
    if (this.resolving !== undefined) return this.resolving;
    if (this.named.length === 0 || Date.now() - this.lastResolveMs < RESOLVE_EVERY_MS) return Promise.resolve();
    this.lastResolveMs = Date.now();
    this.resolving = Promise.all(
      this.named.map(async (n) => {
        try {
          return { n, ips: (await this.lookupHost(n.host)).map((r) => r.address) };
        } catch (err) {
          this.log.debug({ err, host: n.host }, 'cannot resolve a peer host name; keeping what it resolved to before');
          return { n, ips: undefined };
        }
      }),
    )
      .then((resolved) => {
        const next = new Map<string, string>();
        for (const { n, ips } of resolved) {
          if (ips === undefined) for (const [source, address] of this.resolved) if (address === n.address) next.set(source, address);
          for (const ip of ips ?? []) next.set(ip.includes(':') ? `[${ip}]:${n.port}` : `${ip}:${n.port}`, n.address);
        }
        this.resolved = next;
      })
      .finally(() => (this.resolving = undefined));
    return this.resolving;
  }
}
