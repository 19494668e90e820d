import { registerBatch } from './batch.js';

registerBatch(1501, 500);
