/**
 * `aetherflow bench quantum`: Quantum against a plain TCP socket (node:net,
 * TCP_NODELAY) over real kernel loss; Quantum both secure (node certificates, AES-GCM,
 * as deployments run by default) and plaintext (`security.insecure`), to show what
 * encryption costs. Two network namespaces joined by a veth pair;
 * an nftables rule in each drops incoming packets at random (`numgen random mod 100 <
 * N drop`, this kernel has no netem), so data and acknowledgements are lost alike for
 * both protocols. For each loss rate, both protocols carry the same workloads between
 * two processes (bench/quantum-peer.ts), one per namespace:
 *  - latency: 1 KiB messages every 1 ms, one-way latency p50/p99/max at the receiver;
 *  - bulk: a 64 MiB transfer, goodput and wire bytes (both veth ends' tx counters,
 *    Ethernet frames included) ÷ application bytes, and for Quantum its own counters
 *    (datagram bytes, which the overhead goal is judged on) and FEC recoveries ÷ parity
 *    packets.
 * Namespaces are removed at the end, on failure and on SIGINT/SIGTERM.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { Command } from 'commander';
import { randomBytes } from 'node:crypto';
import { AetherError } from '../common/errors.js';
import { createCa, issueNodeCertificate } from '../security/certificates.js';
import { printJson, printTable } from '../common/output.js';
import type { Figure } from '../common/figure.js';
import { BENCH_CLIENT_ID, BENCH_SERVER_ID } from './quantum-channel.js';
import type { BenchProtocol, BenchSecurity, PeerArgs } from './quantum-peer.js';

/** Names carry the bench's pid, so concurrent runs (e.g. under `bench all`) never touch each other's. */
const NS_PREFIX = 'af-q-';
const NS_SENDER = `${NS_PREFIX}a-${process.pid}`;
const NS_RECEIVER = `${NS_PREFIX}b-${process.pid}`;
/** veth names: at most 15 characters */
const DEV_SENDER = `afqa${process.pid}`;
const DEV_RECEIVER = `afqb${process.pid}`;
const ADDR_SENDER = '10.77.0.1';
const ADDR_RECEIVER = '10.77.0.2';
const NFT_TABLE = 'afq';
const PORT = 7700;
const MESSAGE_BYTES = 1024;
const INTERVAL_MS = 1;
/** Unmeasured latency messages first (both protocols): Node's JIT and the connection's first round trips. */
const WARMUP_MS = 500;
const BULK_CHUNK_BYTES = 1024 * 1024;
const BULK_WINDOW_MESSAGES = 4;
const READY_TIMEOUT_MS = 15_000;
/** After the client finished, the server gets this long to report before SIGTERM. */
const SERVER_GRACE_MS = 5_000;

interface Options {
  readonly json?: boolean;
  readonly loss: string;
  readonly seconds: string;
  readonly mib: string;
  readonly bulkTimeout: string;
}

interface ProtocolResult {
  readonly proto: BenchProtocol;
  readonly lossPercent: number;
  readonly latency: { received: number; sent: number; p50Ms: number; p99Ms: number; maxMs: number } | { error: string };
  readonly bulk:
    | {
        bytes: number;
        complete: boolean;
        seconds: number;
        goodputMBps: number;
        wireRatio: number;
        quantumRatio: number | undefined;
        fecRecovered: number | undefined;
        paritySent: number | undefined;
      }
    | { error: string };
}

function run(cmd: string, args: readonly string[], input?: string): { ok: boolean; out: string } {
  const r = spawnSync(cmd, args, { input, encoding: 'utf8' });
  return { ok: r.status === 0, out: `${r.stdout ?? ''}${r.stderr ?? ''}` };
}

function must(cmd: string, args: readonly string[], input?: string): string {
  const r = run(cmd, args, input);
  if (!r.ok) throw new AetherError('PROCESS', `${cmd} ${args.join(' ')} failed: ${r.out.trim()}`);
  return r.out;
}

function removeNamespaces(): void {
  for (const ns of [NS_SENDER, NS_RECEIVER]) run('ip', ['netns', 'del', ns]);
}

/** Removes namespaces left by an earlier run that was killed before it could clean up. */
function removeStaleNamespaces(): void {
  for (const line of run('ip', ['netns', 'list']).out.split('\n')) {
    const m = /^(af-q-[ab]-(\d+))\b/.exec(line);
    if (m === null) continue;
    const pid = Number(m[2]);
    let alive = pid === process.pid;
    try {
      if (!alive) process.kill(pid, 0);
      alive = true;
    } catch {
      alive = false;
    }
    if (!alive) run('ip', ['netns', 'del', m[1]!]);
  }
}

function createNamespaces(): void {
  removeStaleNamespaces();
  removeNamespaces();
  must('ip', ['netns', 'add', NS_SENDER]);
  must('ip', ['netns', 'add', NS_RECEIVER]);
  must('ip', ['link', 'add', DEV_SENDER, 'netns', NS_SENDER, 'type', 'veth', 'peer', 'name', DEV_RECEIVER, 'netns', NS_RECEIVER]);
  must('ip', ['-n', NS_SENDER, 'addr', 'add', `${ADDR_SENDER}/24`, 'dev', DEV_SENDER]);
  must('ip', ['-n', NS_RECEIVER, 'addr', 'add', `${ADDR_RECEIVER}/24`, 'dev', DEV_RECEIVER]);
  for (const [ns, dev] of [
    [NS_SENDER, DEV_SENDER],
    [NS_RECEIVER, DEV_RECEIVER],
  ] as const) {
    // No segmentation offload: every frame is MTU-sized as on a real wire, so the tx
    // counters see each TCP segment's headers instead of one per 64 KiB GSO burst.
    must('ip', ['-n', ns, 'link', 'set', dev, 'gso_max_segs', '1']);
    must('ip', ['-n', ns, 'link', 'set', dev, 'up']);
    must('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
  }
}

/** Drops lossPercent % of the packets entering each namespace. */
function setLoss(lossPercent: number): void {
  for (const ns of [NS_SENDER, NS_RECEIVER]) {
    run('ip', ['netns', 'exec', ns, 'nft', 'delete', 'table', 'inet', NFT_TABLE]);
    const rule = lossPercent > 0 ? `    numgen random mod 100 < ${lossPercent} drop\n` : '';
    must(
      'ip',
      ['netns', 'exec', ns, 'nft', '-f', '-'],
      `table inet ${NFT_TABLE} {\n  chain input {\n    type filter hook input priority 0; policy accept;\n${rule}  }\n}\n`,
    );
  }
}

/** Bytes both veth ends transmitted so far (Ethernet frames). */
function wireTxBytes(): number {
  let total = 0;
  for (const [ns, dev] of [
    [NS_SENDER, DEV_SENDER],
    [NS_RECEIVER, DEV_RECEIVER],
  ] as const) {
    const parsed = JSON.parse(must('ip', ['-n', ns, '-s', '-j', 'link', 'show', dev])) as { stats64: { tx: { bytes: number } } }[];
    total += parsed[0]!.stats64.tx.bytes;
  }
  return total;
}

/** The peer script, compiled next to this file or (under tsx) as TypeScript. */
function peerCommand(): string[] {
  const js = fileURLToPath(new URL('./quantum-peer.js', import.meta.url));
  if (existsSync(js)) return [process.execPath, js];
  return [process.execPath, '--import', 'tsx', fileURLToPath(new URL('./quantum-peer.ts', import.meta.url))];
}

const children = new Set<ChildProcess>();

interface Peer {
  readonly child: ChildProcess;
  /** resolves with the next JSON event of this type (or rejects when the process ends first) */
  next(event: string, timeoutMs: number): Promise<Record<string, unknown>>;
  readonly exited: Promise<void>;
}

function startPeer(ns: string, args: PeerArgs): Peer {
  const child = spawn('ip', ['netns', 'exec', ns, ...peerCommand(), JSON.stringify(args)], { stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(child);
  const events: Record<string, unknown>[] = [];
  const waiters: { event: string; resolve: (e: Record<string, unknown>) => void }[] = [];
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => {
    if (stderr.length < 4000) stderr += d.toString();
  });
  createInterface({ input: child.stdout! }).on('line', (line) => {
    let e: Record<string, unknown>;
    try {
      e = JSON.parse(line) as Record<string, unknown>;
    } catch {
      return;
    }
    const w = waiters.findIndex((x) => x.event === e['event']);
    if (w >= 0) waiters.splice(w, 1)[0]!.resolve(e);
    else events.push(e);
  });
  const exited = new Promise<void>((r) =>
    child.on('exit', () => {
      children.delete(child);
      r();
    }),
  );
  return {
    child,
    exited,
    next: (event, timeoutMs) => {
      const i = events.findIndex((x) => x['event'] === event);
      if (i >= 0) return Promise.resolve(events.splice(i, 1)[0]!);
      const errorEvent = events.find((x) => x['event'] === 'error');
      return new Promise((resolve, reject) => {
        if (errorEvent) return reject(new AetherError('PROCESS', `peer failed: ${String(errorEvent['message'])}`));
        const timer = setTimeout(() => reject(new AetherError('TIMEOUT', `peer in ${ns} sent no ${event} within ${timeoutMs} ms; stderr: ${stderr.trim()}`)), timeoutMs);
        waiters.push({
          event,
          resolve: (e) => {
            clearTimeout(timer);
            resolve(e);
          },
        });
        void exited.then(() =>
          setTimeout(() => {
            clearTimeout(timer);
            const late = events.find((x) => x['event'] === event || x['event'] === 'error');
            if (late && late['event'] === event) resolve(late);
            else reject(new AetherError('PROCESS', `peer in ${ns} exited without ${event}: ${late ? String(late['message']) : stderr.trim()}`));
          }, 50),
        );
      });
    },
  };
}

function stop(peer: Peer): Promise<void> {
  if (peer.child.exitCode === null && peer.child.pid !== undefined) peer.child.kill('SIGTERM');
  return peer.exited;
}

/** One workload for one protocol: server in the receiving namespace, client in the sending one. */
async function phase(base: Omit<PeerArgs, 'role' | 'host'>, clientTimeoutMs: number): Promise<{ server: Record<string, unknown>; client: Record<string, unknown> | undefined; startNs: bigint }> {
  const server = startPeer(NS_RECEIVER, { ...base, role: 'server', host: ADDR_RECEIVER });
  let client: Peer | undefined;
  try {
    await server.next('ready', READY_TIMEOUT_MS);
    client = startPeer(NS_SENDER, { ...base, role: 'client', host: ADDR_RECEIVER });
    const start = await client.next('start', READY_TIMEOUT_MS);
    let clientResult: Record<string, unknown> | undefined;
    try {
      clientResult = await client.next('result', clientTimeoutMs);
    } catch (err) {
      if (!(err instanceof AetherError && err.code === 'TIMEOUT')) throw err;
    }
    const serverResult = server.next('result', SERVER_GRACE_MS).catch(async () => {
      // Overran: SIGTERM makes the server report what it received.
      const late = server.next('result', SERVER_GRACE_MS);
      await stop(server);
      return late;
    });
    return { server: await serverResult, client: clientResult, startNs: BigInt(String(start['startNs'])) };
  } finally {
    if (client) await stop(client);
    await stop(server);
  }
}

function num(stats: unknown, key: string): number | undefined {
  const v = (stats as Record<string, unknown> | undefined)?.[key];
  return typeof v === 'number' ? v : undefined;
}

async function measure(proto: BenchProtocol, lossPercent: number, seconds: number, totalBytes: number, bulkTimeoutMs: number, security: BenchSecurity): Promise<ProtocolResult> {
  const count = Math.round((seconds * 1000) / INTERVAL_MS);
  const warmupCount = Math.round(WARMUP_MS / INTERVAL_MS);
  const base = {
    proto,
    port: PORT,
    count: warmupCount + count,
    warmupCount,
    messageBytes: MESSAGE_BYTES,
    intervalMs: INTERVAL_MS,
    totalBytes,
    chunkBytes: BULK_CHUNK_BYTES,
    window: BULK_WINDOW_MESSAGES,
    ...(proto === 'quantum' ? { security } : {}),
  };
  let latency: ProtocolResult['latency'];
  try {
    const r = await phase({ ...base, workload: 'latency', deadlineMs: seconds * 1000 + WARMUP_MS + 10_000 }, seconds * 1000 + WARMUP_MS + 15_000);
    latency = {
      received: Number(r.server['received']),
      sent: count,
      p50Ms: Number(r.server['p50Ms'] ?? Number.POSITIVE_INFINITY),
      p99Ms: Number(r.server['p99Ms'] ?? Number.POSITIVE_INFINITY),
      maxMs: Number(r.server['maxMs'] ?? Number.POSITIVE_INFINITY),
    };
  } catch (err) {
    latency = { error: err instanceof Error ? err.message : String(err) };
  }
  let bulk: ProtocolResult['bulk'];
  try {
    const wireBefore = wireTxBytes();
    const r = await phase({ ...base, workload: 'bulk', deadlineMs: bulkTimeoutMs }, bulkTimeoutMs + 5_000);
    const wireBytes = wireTxBytes() - wireBefore;
    const bytes = Number(r.server['receivedBytes']);
    const complete = r.server['complete'] === true;
    const seconds = Number(BigInt(String(r.server['lastNs'] ?? r.startNs)) - r.startNs) / 1e9;
    const clientStats = r.client?.['stats'];
    const serverStats = r.server['stats'];
    const quantumBytes = (num(clientStats, 'bytesSent') ?? Number.NaN) + (num(serverStats, 'bytesSent') ?? Number.NaN);
    bulk = {
      bytes,
      complete,
      seconds,
      goodputMBps: seconds > 0 ? bytes / seconds / 1e6 : 0,
      wireRatio: bytes > 0 ? wireBytes / bytes : Number.POSITIVE_INFINITY,
      quantumRatio: proto !== 'tcp' && bytes > 0 && Number.isFinite(quantumBytes) ? quantumBytes / bytes : undefined,
      fecRecovered: proto !== 'tcp' ? num(serverStats, 'fecRecovered') : undefined,
      paritySent: proto !== 'tcp' ? num(clientStats, 'paritySent') : undefined,
    };
  } catch (err) {
    bulk = { error: err instanceof Error ? err.message : String(err) };
  }
  return { proto, lossPercent, latency, bulk };
}

function round(x: number, digits = 2): number {
  return Number.isFinite(x) ? Number(x.toFixed(digits)) : x;
}

function figures(results: readonly ProtocolResult[]): Figure[] {
  const out: Figure[] = [];
  const add = (name: string, measured: number, unit: string, goal: string | null = null, met: boolean | null = null) =>
    out.push({ name, measured: round(measured, 3), unit, goal, met });
  for (const r of results) {
    const tag = `${r.proto} loss ${r.lossPercent}%`;
    if ('error' in r.latency) add(`${tag} latency failed`, Number.NaN, 'ms');
    else {
      add(`${tag} latency p50`, r.latency.p50Ms, 'ms');
      add(`${tag} latency p99`, r.latency.p99Ms, 'ms');
      add(`${tag} latency max`, r.latency.maxMs, 'ms');
      add(`${tag} messages delivered`, r.latency.received / r.latency.sent, 'ratio');
    }
    if ('error' in r.bulk) add(`${tag} bulk failed`, Number.NaN, 'MB/s');
    else {
      add(`${tag} goodput${r.bulk.complete ? '' : ' (timed out)'}`, r.bulk.goodputMBps, 'MB/s');
      add(`${tag} wire bytes ÷ application bytes (veth)`, r.bulk.wireRatio, 'ratio');
      if (r.bulk.quantumRatio !== undefined) add(`${tag} Quantum bytes sent ÷ application bytes`, r.bulk.quantumRatio, 'ratio');
      if (r.bulk.paritySent !== undefined && r.bulk.fecRecovered !== undefined) {
        add(`${tag} FEC recoveries ÷ parity packets`, r.bulk.paritySent > 0 ? r.bulk.fecRecovered / r.bulk.paritySent : 0, 'ratio');
        add(`${tag} parity packets sent`, r.bulk.paritySent, 'packets');
      }
    }
  }
  const find = (proto: string, loss: number) => results.find((r) => r.proto === proto && r.lossPercent === loss);
  const q2 = find('quantum', 2);
  const t2 = find('tcp', 2);
  if (q2 && t2 && !('error' in q2.latency) && !('error' in t2.latency)) {
    const ratio = q2.latency.p99Ms / t2.latency.p99Ms;
    add('p99 latency at 2% loss: Quantum ÷ TCP', ratio, 'ratio', '≤ 0.2', ratio <= 0.2);
  }
  const q0 = find('quantum', 0);
  const t0 = find('tcp', 0);
  if (q0 && t0 && !('error' in q0.bulk) && !('error' in t0.bulk)) {
    const ratio = q0.bulk.complete ? q0.bulk.goodputMBps / t0.bulk.goodputMBps : 0;
    add('goodput at 0% loss: Quantum ÷ TCP', ratio, 'ratio', '≥ 0.7', ratio >= 0.7);
  }
  const q1 = find('quantum', 1);
  if (q1 && !('error' in q1.bulk) && q1.bulk.quantumRatio !== undefined) {
    // As the goal is stated: Quantum's own count of the bytes it sent (both endpoints); the veth figure, frames included, is listed above.
    const ratio = q1.bulk.quantumRatio;
    add('Quantum wire overhead at 1% loss (datagram bytes sent ÷ application bytes)', ratio, 'ratio', '≤ 1.15', ratio <= 1.15);
  }
  // What encryption costs: the secure default against plaintext Quantum, same run, same link.
  for (const loss of [...new Set(results.map((r) => r.lossPercent))]) {
    const secure = find('quantum', loss);
    const plain = find('quantum-plaintext', loss);
    if (!secure || !plain) continue;
    if (!('error' in secure.bulk) && !('error' in plain.bulk)) {
      const ratio = secure.bulk.complete ? secure.bulk.goodputMBps / plain.bulk.goodputMBps : 0;
      if (loss === 0) add('goodput at 0% loss: encrypted ÷ plaintext Quantum', ratio, 'ratio', '≥ 0.8', ratio >= 0.8);
      else add(`goodput at ${loss}% loss: encrypted ÷ plaintext Quantum`, ratio, 'ratio');
    }
    if (!('error' in secure.latency) && !('error' in plain.latency)) add(`p99 latency at ${loss}% loss: encrypted ÷ plaintext Quantum`, secure.latency.p99Ms / plain.latency.p99Ms, 'ratio');
  }
  return out;
}

function show(x: number | undefined, digits = 2): string {
  if (x === undefined || Number.isNaN(x)) return '-';
  return Number.isFinite(x) ? x.toFixed(digits) : 'lost';
}

function printResults(results: readonly ProtocolResult[], figs: readonly Figure[]): void {
  printTable(
    ['loss', 'proto', 'p50 ms', 'p99 ms', 'max ms', 'delivered', 'goodput MB/s', 'wire÷app', 'quantum÷app', 'fec rec÷parity'],
    results.map((r) => {
      const l = r.latency;
      const b = r.bulk;
      const latencyCells = 'error' in l ? ['error', '', '', ''] : [show(l.p50Ms), show(l.p99Ms), show(l.maxMs), `${l.received}/${l.sent}`];
      const bulkCells =
        'error' in b
          ? ['error', '', '', '']
          : [
              `${show(b.goodputMBps)}${b.complete ? '' : ' (timeout)'}`,
              show(b.wireRatio, 3),
              show(b.quantumRatio, 3),
              b.paritySent === undefined ? '-' : `${b.fecRecovered ?? '-'}/${b.paritySent}`,
            ];
      return [`${r.lossPercent}%`, r.proto, ...latencyCells, ...bulkCells];
    }),
  );
  for (const r of results) {
    if ('error' in r.latency) process.stdout.write(`${r.proto} ${r.lossPercent}% latency: ${r.latency.error}\n`);
    if ('error' in r.bulk) process.stdout.write(`${r.proto} ${r.lossPercent}% bulk: ${r.bulk.error}\n`);
  }
  for (const f of figs.filter((x) => x.goal !== null)) {
    process.stdout.write(`${f.name}: ${f.measured} (goal ${f.goal}) ${f.met ? 'met' : 'MISSED'}\n`);
  }
}

function parseList(s: string): number[] {
  const values = s.split(',').map((x) => Number(x.trim()));
  if (values.some((v) => !Number.isInteger(v) || v < 0 || v > 100)) throw new AetherError('USAGE', `--loss takes integer percentages 0..100, got ${s}`);
  return values;
}

function positive(s: string, name: string): number {
  const v = Number(s);
  if (!Number.isFinite(v) || v <= 0) throw new AetherError('USAGE', `${name} must be a positive number, got ${s}`);
  return v;
}

/** A throwaway CA, the two peers' node certificates and a pre-shared key: what a secure deployment's certsDir holds. */
async function benchSecurity(): Promise<BenchSecurity> {
  const ca = await createCa('AetherFlow bench quantum');
  const hosts = { ips: [ADDR_SENDER, ADDR_RECEIVER], dnsNames: [] };
  const [server, client] = await Promise.all([issueNodeCertificate(ca, BENCH_SERVER_ID, hosts), issueNodeCertificate(ca, BENCH_CLIENT_ID, hosts)]);
  return { caPem: ca.certPem, pskHex: randomBytes(32).toString('hex'), server, client };
}

export async function runQuantumBench(options: Options): Promise<Figure[]> {
  const losses = parseList(options.loss);
  const seconds = positive(options.seconds, '--seconds');
  const totalBytes = Math.round(positive(options.mib, '--mib') * 1024 * 1024);
  const bulkTimeoutMs = positive(options.bulkTimeout, '--bulk-timeout') * 1000;
  if (process.getuid?.() !== 0) throw new AetherError('PROCESS', 'bench quantum needs root: it creates network namespaces and nftables rules');
  const onSignal = (signal: NodeJS.Signals) => {
    for (const c of children) c.kill('SIGKILL');
    removeNamespaces();
    process.exit(signal === 'SIGINT' ? 130 : 143);
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  const results: ProtocolResult[] = [];
  const security = await benchSecurity();
  try {
    createNamespaces();
    for (const loss of losses) {
      setLoss(loss);
      for (const proto of ['tcp', 'quantum', 'quantum-plaintext'] as const) {
        if (!options.json) process.stderr.write(`loss ${loss}%: ${proto}…\n`);
        results.push(await measure(proto, loss, seconds, totalBytes, bulkTimeoutMs, security));
      }
    }
  } finally {
    for (const c of children) c.kill('SIGKILL');
    removeNamespaces();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
  const figs = figures(results);
  if (options.json) printJson({ figures: figs });
  else printResults(results, figs);
  return figs;
}

export function registerQuantumBench(bench: Command): void {
  bench
    .command('quantum')
    .description('Quantum (encrypted, and plaintext) vs TCP (TCP_NODELAY) between two network namespaces with random nftables loss: latency, goodput, wire overhead, FEC')
    .option('--loss <percents>', 'comma-separated loss rates in %', '0,1,2,5')
    .option('--seconds <n>', 'latency phase length: 1 KiB messages every 1 ms for this long', '4')
    .option('--mib <n>', 'bulk transfer size in MiB', '64')
    .option('--bulk-timeout <s>', 'give up on a bulk transfer after this long and report what arrived', '60')
    .action(async (_options: unknown, cmd: Command) => {
      await runQuantumBench(cmd.optsWithGlobals() as Options);
    });
}
