/** The package's public API: `import { ... } from 'aetherflow'`. */
export { AetherError, type ErrorCode } from './common/errors.js';
export { type Glt, formatGlt, parseGlt, compareGlt } from './glts/glt.js';
export {
  connect,
  AetherClient,
  type ConnectOptions,
  type GltInput,
  type WriteResult,
  type GetResult,
  type ScanRow,
  type SnapshotSummary,
  type RegionOption,
  type ReadOptions,
  type ScanOptions,
} from './client/client.js';
export { SessionNotReadyError } from './client/session-not-ready-error.js';
