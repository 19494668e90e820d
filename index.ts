/** The package's public API: `import { ... } from 'aetherflow'`. */
export { AetherError, type ErrorCode } from './common/errors.js';
export { type Glt, formatGlt, parseGlt, compareGlt } from './glts/glt.js';
export { connect, AetherClient, type ConnectOptions, type GltInput, type WriteResult, type GetResult, type ScanRow, type SnapshotSummary } from './client/client.js';
