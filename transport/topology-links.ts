import { readFile } from 'node:fs/promises';
import { AetherError } from '../common/errors.js';
import type { LinkSpec, Topology } from '../topology/types.js';
import type { LinkConditions } from './emulator.js';

/**
 * The topology's `links` as an endpoint's `links` option: the emulated conditions from
 * `fromRegion` towards a peer, found by the peer's Quantum address (a leader's or a
 * coordinator's). A perfect link, or a peer outside the topology, is not emulated.
 */
export function topologyLinks(topology: Topology, fromRegion: string): (peer: string) => LinkConditions | undefined {
  const regionOf = new Map<string, string>();
  for (const r of topology.regions) for (const l of r.leaders) regionOf.set(l.quantum, r.name);
  for (const c of topology.coordinators) regionOf.set(c.quantum, c.region);
  return (peer) => {
    const to = regionOf.get(peer);
    if (to === undefined) return undefined;
    const spec: LinkSpec = topology.links.overrides.find((o) => o.from === fromRegion && o.to === to) ?? topology.links.default;
    if (spec.delayMs === 0 && spec.jitterMs === 0 && spec.loss === 0) return undefined;
    return { delayMs: spec.delayMs, jitterMs: spec.jitterMs, loss: spec.loss };
  };
}

/** Shortest pre-shared key accepted: 128 bits. */
export const MIN_KEY_BYTES = 16;

/** Reads `security.quantumKeyFile` (null: no authentication); the file's bytes, less a trailing newline, are the key. */
export async function loadQuantumKey(file: string | null): Promise<Buffer | null> {
  if (file === null) return null;
  let bytes: Buffer;
  try {
    bytes = await readFile(file);
  } catch (err) {
    throw new AetherError('TOPOLOGY_INVALID', `cannot read security.quantumKeyFile ${file}: ${(err as Error).message}`, { cause: err });
  }
  const key = bytes.subarray(0, bytes.length - (bytes.at(-1) === 0x0a ? 1 : 0));
  if (key.length < MIN_KEY_BYTES) throw new AetherError('TOPOLOGY_INVALID', `security.quantumKeyFile ${file} holds ${key.length} bytes; at least ${MIN_KEY_BYTES} are needed`);
  return key;
}
