/** The package's public API: `import { ... } from 'aetherflow'`. */
export { AetherError, type ErrorCode } from './common/errors.js';
export { type Glt, formatGlt, parseGlt, compareGlt } from './glts/glt.js';
