/**
 * The etcd side of `bench compare-etcd`: one etcd member per region on loopback, each
 * member's advertised peer URL a TcpDelayRelay in front of its real peer port, so every
 * member-to-member connection pays the one-way delays of its pair of regions.
 *
 * A relay serves every member that dials it, so it tells the dialer from the first HTTP
 * request on the connection: etcd's Raft transport (stream GETs and pipelined POSTs) puts
 * the sender's advertised peer URLs in an `X-PeerURLs` header, and each advertised URL is
 * one of our relays, hence one region. The dialer's bytes then pay delay(dialer → member)
 * and the answers — including the Raft messages the member streams back on a GET stream —
 * pay delay(member → dialer). A connection without the header (etcd's version probes)
 * pays the largest delay into or out of that member.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, mkdirSync, openSync } from 'node:fs';
import { join } from 'node:path';
import { Etcd3 } from 'etcd3';
import { AetherError } from '../common/errors.js';
import { freePort } from '../topology/local-etcd.js';
import { TcpDelayRelay, type OneWay, type RelayLink } from './tcp-delay-relay.js';

export interface EtcdClusterOptions {
  readonly regions: readonly string[];
  /** The one-way delay from one region to another. */
  readonly link: (from: string, to: string) => OneWay;
  readonly dir: string;
  readonly seed: number;
  readonly readyTimeoutMs: number;
}

interface Member {
  readonly region: string;
  readonly name: string;
  readonly clientUrl: string;
  readonly child: ChildProcess;
}

const HEADER = '\r\nx-peerurls:';

/** Which of `relayUrls` dialed, from the first bytes of an HTTP request; undefined until the headers are complete. */
export function dialerOf(head: Buffer, relayUrls: readonly string[]): number | 'unknown' | undefined {
  const text = head.toString('latin1');
  const lower = text.toLowerCase();
  const at = lower.indexOf(HEADER);
  const headersEnd = lower.indexOf('\r\n\r\n');
  if (at < 0 || (headersEnd >= 0 && at > headersEnd)) return headersEnd >= 0 ? 'unknown' : undefined;
  const lineEnd = text.indexOf('\r\n', at + 2);
  if (lineEnd < 0) return undefined;
  const urls = text.slice(at + HEADER.length, lineEnd).split(',').map((u) => u.trim().replace(/\/+$/, ''));
  const i = relayUrls.findIndex((r) => urls.includes(r));
  return i >= 0 ? i : 'unknown';
}

export class EtcdCluster {
  private stopped = false;

  private constructor(
    private readonly members: readonly Member[],
    private readonly relays: readonly TcpDelayRelay[],
    readonly clients: ReadonlyMap<string, Etcd3>,
  ) {}

  get pids(): number[] {
    return this.members.map((m) => m.child.pid!).filter((p) => p !== undefined);
  }

  /** Starts relays and members; resolves once a write through every member succeeds. On failure nothing is left running. */
  static async start(o: EtcdClusterOptions): Promise<EtcdCluster> {
    const n = o.regions.length;
    const peerPorts: number[] = [];
    const clientPorts: number[] = [];
    for (let i = 0; i < n; i++) {
      peerPorts.push(await freePort());
      clientPorts.push(await freePort());
    }
    const relays: TcpDelayRelay[] = [];
    const members: Member[] = [];
    const clients = new Map<string, Etcd3>();
    const cluster = new EtcdCluster(members, relays, clients);
    try {
      const relayUrls: string[] = [];
      for (let j = 0; j < n; j++) {
        const to = o.regions[j]!;
        const others = o.regions.filter((r) => r !== to);
        const worst = (ds: readonly OneWay[]): OneWay => ds.reduce((a, b) => (b.delayMs > a.delayMs ? b : a), { delayMs: 0, jitterMs: 0 });
        const defaultLink: RelayLink = { forward: worst(others.map((r) => o.link(r, to))), back: worst(others.map((r) => o.link(to, r))) };
        const relay = await TcpDelayRelay.start({
          targetHost: '127.0.0.1',
          targetPort: peerPorts[j]!,
          defaultLink,
          seed: o.seed + j,
          linkOf: (head) => {
            const i = dialerOf(head, relayUrls);
            if (i === undefined) return undefined;
            if (i === 'unknown' || i === j) return defaultLink;
            const from = o.regions[i]!;
            return { forward: o.link(from, to), back: o.link(to, from) };
          },
        });
        relays.push(relay);
        relayUrls.push(`http://${relay.address}`);
      }
      const names = o.regions.map((_, i) => `etcd-${i}`);
      const initialCluster = names.map((name, i) => `${name}=${relayUrls[i]}`).join(',');
      mkdirSync(o.dir, { recursive: true });
      for (let i = 0; i < n; i++) {
        const clientUrl = `http://127.0.0.1:${clientPorts[i]}`;
        const args = [
          `--name=${names[i]}`,
          `--data-dir=${join(o.dir, names[i]!)}`,
          `--listen-client-urls=${clientUrl}`,
          `--advertise-client-urls=${clientUrl}`,
          `--listen-peer-urls=http://127.0.0.1:${peerPorts[i]}`,
          `--initial-advertise-peer-urls=${relayUrls[i]}`,
          `--initial-cluster=${initialCluster}`,
          '--initial-cluster-state=new',
          `--initial-cluster-token=bench-compare-${process.pid}`,
          // etcd's WAN tuning guidance: heartbeat about the round trip, election 10 heartbeats.
          '--heartbeat-interval=100',
          '--election-timeout=1000',
          '--logger=zap',
          '--log-outputs=stderr',
        ];
        const out = openSync(join(o.dir, `${names[i]}.log`), 'a');
        let child: ChildProcess;
        try {
          child = spawn('etcd', args, { stdio: ['ignore', out, out] });
        } finally {
          closeSync(out);
        }
        await new Promise<void>((resolve, reject) => {
          child.once('spawn', resolve);
          child.once('error', (err) => reject(new AetherError('PROCESS', `cannot start etcd: ${err.message} (is etcd on PATH?)`, { cause: err })));
        });
        members.push({ region: o.regions[i]!, name: names[i]!, clientUrl, child });
        clients.set(o.regions[i]!, new Etcd3({ hosts: clientUrl }));
      }
      await cluster.waitWritable(o.readyTimeoutMs, o.dir);
      return cluster;
    } catch (err) {
      await cluster.stop();
      throw err;
    }
  }

  private async waitWritable(timeoutMs: number, dir: string): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (const m of this.members) {
      for (;;) {
        if (m.child.exitCode !== null || m.child.signalCode !== null) {
          throw new AetherError('PROCESS', `etcd member ${m.name} exited (${m.child.exitCode ?? m.child.signalCode}); see ${join(dir, `${m.name}.log`)}`);
        }
        try {
          await this.clients.get(m.region)!.put(`bench/ready/${m.name}`).value('1');
          break;
        } catch (err) {
          if (Date.now() > deadline) throw new AetherError('TIMEOUT', `etcd member ${m.name} not writable after ${timeoutMs} ms; see ${join(dir, `${m.name}.log`)}`, { cause: err });
          await new Promise((r) => setTimeout(r, 200));
        }
      }
    }
  }

  /** The region whose member etcd's leader is now, from each member's Status; undefined when none answers. */
  async leaderRegion(): Promise<string | undefined> {
    const ids = new Map<string, string>();
    let leader: string | undefined;
    for (const [region, client] of this.clients) {
      try {
        const s = await client.maintenance.status();
        ids.set(String(s.header.member_id), region);
        leader ??= String(s.leader);
      } catch {
        // a member that does not answer names no one
      }
    }
    return leader === undefined ? undefined : ids.get(leader);
  }

  /** Closes clients, SIGTERMs the members (SIGKILL after graceMs), closes the relays. */
  async stop(graceMs = 3000): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    for (const c of this.clients.values()) c.close();
    await Promise.all(
      this.members.map(async ({ child }) => {
        if (child.exitCode !== null || child.signalCode !== null) return;
        const exited = new Promise<void>((r) => child.once('exit', () => r()));
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
        await exited;
        clearTimeout(timer);
      }),
    );
    await Promise.all(this.relays.map((r) => r.close()));
  }

  /** Kills the members at once (a signal handler cannot wait). */
  killNow(): void {
    for (const m of this.members) if (m.child.exitCode === null && m.child.signalCode === null) m.child.kill('SIGKILL');
  }
}
