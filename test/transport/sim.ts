import { Registry } from 'prom-client';
import { Endpoint, type EndpointOptions, type QuantumMessage } from '../../transport/endpoint.js';
import type { LinkConditions } from '../../transport/emulator.js';
import { QuantumMetrics } from '../../transport/metrics.js';
import { Random } from '../../transport/random.js';
import { SimClock } from '../../transport/sim-clock.js';
import { SimNetwork } from '../../transport/sim-network.js';

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

export function simPair(seed: number, link: LinkConditions | undefined, extra: Partial<Omit<EndpointOptions, 'socket'>> = {}, linkBack: LinkConditions | undefined = link): SimPair {
  const clock = new SimClock(1_000_000);
  const net = new SimNetwork(clock);
  const random = new Random(seed);
  const metricsA = new QuantumMetrics(new Registry());
  const metricsB = new QuantumMetrics(new Registry());
  const a = new Endpoint({ socket: net.bind(A), scheduler: clock, random, seed, metrics: metricsA, links: () => link, ...extra });
  const b = new Endpoint({ socket: net.bind(B), scheduler: clock, random, seed: seed + 1, metrics: metricsB, links: () => linkBack, ...extra });
  const atA: QuantumMessage[] = [];
  const atB: QuantumMessage[] = [];
  a.onMessage((m) => void atA.push(m));
  b.onMessage((m) => void atB.push(m));
  return { clock, a, b, metricsA, metricsB, atA, atB };
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
  await Promise.resolve();
  return done();
}

export function payload(random: Random, bytes: number): Buffer {
  return random.bytes(bytes);
}

export function seedFromEnv(fallback: number): number {
  const s = process.env['QUANTUM_SEED'];
  return s === undefined ? fallback : Number(s);
}
