import { Registry } from 'prom-client';
import { Endpoint, type EndpointOptions, type QuantumMessage } from '../../transport/endpoint.js';
import type { LinkConditions } from '../../transport/emulator.js';
import { QuantumMetrics } from '../../transport/metrics.js';
import { Random } from '../../common/random.js';
import type { Scheduler } from '../../transport/scheduler.js';
import { SimClock } from './sim-clock.js';
import { SimNetwork, type SimSocket } from './sim-network.js';

/** Two endpoints, A and B, on a simulated network and clock, with emulated links both ways. */
export interface SimPair {
  readonly clock: SimClock;
  readonly a: Endpoint;
  readonly b: Endpoint;
  readonly metricsA: QuantumMetrics;
  readonly metricsB: QuantumMetrics;
  /** Messages each endpoint received, in order. */
  readonly atA: QuantumMessage[];
  readonly atB: QuantumMessage[];
}

export const A = '10.0.0.1:7000';
export const B = '10.0.0.2:7000';

/** Sees every datagram an endpoint sends and returns what actually goes out (none, it, altered, copies). */
export type Tap = (from: 'A' | 'B', datagram: Buffer) => Buffer[];

export interface SimPairOptions {
  readonly extra?: Partial<Omit<EndpointOptions, 'socket'>>;
  /** Overrides for B only. */
  readonly extraB?: Partial<Omit<EndpointOptions, 'socket'>>;
  readonly linkBack?: LinkConditions | undefined;
  readonly tap?: Tap;
  /** A's timers fire this much later than asked: a loaded event loop. */
  readonly lateTimersMsA?: number;
}

export function simPair(seed: number, link: LinkConditions | undefined, options: SimPairOptions = {}): SimPair {
  const clock = new SimClock(1_000_000);
  const net = new SimNetwork(clock);
  const random = new Random(seed);
  const metricsA = new QuantumMetrics(new Registry());
  const metricsB = new QuantumMetrics(new Registry());
  const extra = options.extra ?? {};
  const linkBack = 'linkBack' in options ? options.linkBack : link;
  const lateMs = options.lateTimersMsA ?? 0;
  const schedulerA: Scheduler = lateMs === 0 ? clock : { nowMs: () => clock.nowMs(), schedule: (atMs, fn) => clock.schedule(atMs + lateMs, fn) };
  const a = new Endpoint({ socket: tapped(net.bind(A), 'A', options.tap), scheduler: schedulerA, random, seed, metrics: metricsA, links: () => link, ...extra });
  const b = new Endpoint({ socket: tapped(net.bind(B), 'B', options.tap), scheduler: clock, random, seed: seed + 1, metrics: metricsB, links: () => linkBack, ...extra, ...options.extraB });
  const atA: QuantumMessage[] = [];
  const atB: QuantumMessage[] = [];
  a.onMessage((m) => void atA.push(m));
  b.onMessage((m) => void atB.push(m));
  return { clock, a, b, metricsA, metricsB, atA, atB };
}

function tapped(socket: SimSocket, name: 'A' | 'B', tap: Tap | undefined): SimSocket {
  if (tap === undefined) return socket;
  const send = socket.send.bind(socket);
  socket.send = (d: Buffer, to: string) => {
    for (const out of tap(name, d)) send(out, to);
  };
  return socket;
}

/**
 * Runs the simulation until `done()` or `untilMs` of simulated time, yielding to
 * microtasks after every event so promise callbacks run at the simulated moment they
 * were resolved.
 */
export async function run(clock: SimClock, done: () => boolean, forMs: number, maxEvents = 5_000_000): Promise<boolean> {
  const until = clock.nowMs() + forMs;
  for (let n = 0; n < maxEvents; n++) {
    await Promise.resolve();
    if (done()) return true;
    if (!clock.stepUntil(until)) break;
  }
  // No event left: let every promise chain the last events started settle before judging.
  await new Promise((resolve) => setImmediate(resolve));
  return done();
}

export function seedFromEnv(fallback: number): number {
  const s = process.env['QUANTUM_SEED'];
  return s === undefined ? fallback : Number(s);
}
