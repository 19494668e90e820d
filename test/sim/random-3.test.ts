import { registerBatch } from './batch.js';

registerBatch(1001, 500);
