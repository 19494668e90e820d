import { registerBatch } from './batch.js';

registerBatch(1, 500);
