/**
 * Quantum's public surface, for the control plane (coordinator ↔ leaders, leader ↔ leader)
 * and the replication streams. Everything else in transport/ is internal.
 */
export { Endpoint, defaultTuning, defaultFecOptions } from './endpoint.js';
export type { EndpointOptions, FecOptions, QuantumMessage, MessageHandler, SendOptions } from './endpoint.js';
export type { ConnectionTuning } from './connection.js';
export type { ConnectionStats, ConnectionState } from './connection.js';
export type { LinkConditions } from './emulator.js';
export { LinkEmulator } from './emulator.js';
export { QuantumMetrics } from './metrics.js';
export { topologyLinks, loadQuantumKey } from './topology-links.js';
export { loadQuantumCredentials, quantumCredentials } from './credentials.js';
export type { QuantumCredentials } from './handshake.js';
export type { StreamLimits } from './stream.js';
export { defaultStreamLimits } from './stream.js';
export type { Scheduler } from './scheduler.js';
export { systemScheduler } from './scheduler.js';
