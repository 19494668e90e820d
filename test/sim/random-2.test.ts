import { registerBatch } from './batch.js';

registerBatch(501, 500);
