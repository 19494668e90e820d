import { AetherError } from '../common/errors.js';
import type { BenchChannel, BenchServer, PeerArgs } from './quantum-peer.js';

/** Quantum's side of the bench peers (transport/index.ts's Endpoint). */
export const QuantumBenchChannel = {
  async listen(_args: PeerArgs, _onMessage: (m: Buffer) => void): Promise<BenchServer> {
    throw new AetherError('UNAVAILABLE', 'Quantum endpoint not built yet');
  },
  async connect(_args: PeerArgs): Promise<BenchChannel> {
    throw new AetherError('UNAVAILABLE', 'Quantum endpoint not built yet');
  },
};
