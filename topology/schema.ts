import { Ajv, type ErrorObject } from 'ajv';
import { formatPath, type TopologyProblem, type TopologyProblemCode } from './problem.js';

/**
 * JSON Schema of the version-1 topology file. Shapes,
 * types, ranges and defaults only; what a schema cannot say (uniqueness across the file,
 * references between sections, address syntax) and what is valid but warned about
 * (budget above interval, missThreshold) are in checks.ts.
 */
const id = { type: 'string', pattern: '^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$' };
const address = { type: 'string', minLength: 1 };
const ms = { type: 'number', minimum: 0 };
/** A file named in the topology, or null for none. */
const path = { type: ['string', 'null'], minLength: 1 };
/** A packet loss probability: 1 would be a partition, which is a chaos drill, not a link. */
const loss = { type: 'number', minimum: 0, exclusiveMaximum: 1 };

export const topologySchema = {
  type: 'object',
  additionalProperties: false,
  required: ['version', 'name', 'regions', 'coordinators'],
  properties: {
    version: { const: 1 },
    name: id,
    etcd: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        endpoints: { type: 'array', items: address, default: [] },
        members: { enum: [1, 3], default: 1 },
        dataDir: { type: 'string', minLength: 1, default: '.aetherflow/etcd' },
      },
    },
    clock: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: { maxOffsetMs: { type: 'number', exclusiveMinimum: 0, default: 250 } },
    },
    snapshot: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        /** How often the coordinator commits. May be shorter than the links: commits do not wait for a round trip. */
        intervalMs: { type: 'integer', minimum: 1, default: 50 },
        /** What one commit (decide → persisted → announced) should take: a metric and an alert, never an abort. */
        budgetMs: { type: 'integer', minimum: 1, default: 50 },
        retentionSec: { type: 'integer', minimum: 1, default: 600 },
        /** v1's round misses; accepted and ignored (a warning says so). */
        missThreshold: { type: 'integer', minimum: 1 },
        /** A member not heard from for this long is excluded: survivors commit again ≈ silenceMs + intervalMs after a region fails. */
        silenceMs: { type: 'integer', minimum: 1, default: 300 },
        /** A member holding some member origin this far behind the clock is excluded (the cause: the region blamed most). */
        lagLimitMs: { type: 'integer', minimum: 1, default: 1000 },
        /** Write admission when the region's own stream falls behind (docs/architecture.md "The snapshot pipeline"). */
        admission: {
          type: 'object',
          additionalProperties: false,
          default: {},
          properties: {
            /** Writes wait while the region's closed mark trails the clock by more than this… */
            maxLagMs: { type: 'integer', minimum: 1, default: 500 },
            /** …or while this many bytes of its own versions wait to be shipped… */
            maxUnshippedBytes: { type: 'integer', minimum: 1, default: 16777216 },
            /** …for at most this long, then fail RESOURCE_EXHAUSTED (BACKPRESSURE). */
            waitMs: { type: 'integer', minimum: 0, default: 2000 },
          },
        },
      },
    },
    regions: {
      type: 'array',
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['name', 'leaders', 'datanodes'],
        properties: {
          name: id,
          leaders: {
            type: 'array',
            items: {
              type: 'object',
              additionalProperties: false,
              required: ['id', 'grpc', 'quantum', 'metrics'],
              properties: { id, grpc: address, quantum: address, metrics: address },
            },
          },
          datanodes: {
            type: 'array',
            items: {
              type: 'object',
              additionalProperties: false,
              required: ['id', 'grpc', 'dataDir', 'metrics'],
              properties: { id, grpc: address, dataDir: { type: 'string', minLength: 1 }, metrics: address },
            },
          },
        },
      },
    },
    coordinators: {
      type: 'array',
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['id', 'region', 'quantum', 'metrics'],
        properties: { id, region: { type: 'string' }, quantum: address, metrics: address },
      },
    },
    links: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        default: {
          type: 'object',
          additionalProperties: false,
          default: {},
          properties: {
            delayMs: { ...ms, default: 0 },
            jitterMs: { ...ms, default: 0 },
            loss: { ...loss, default: 0 },
          },
        },
        overrides: {
          type: 'array',
          default: [],
          items: {
            type: 'object',
            additionalProperties: false,
            required: ['from', 'to', 'delayMs'],
            properties: {
              from: { type: 'string' },
              to: { type: 'string' },
              delayMs: ms,
              jitterMs: { ...ms, default: 0 },
              loss: { ...loss, default: 0 },
            },
          },
        },
      },
    },
    storage: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        /** A write is acknowledged only once its batch is synced to disk (group commit); false: once the kernel has it. */
        sync: { type: 'boolean', default: true },
      },
    },
    security: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        // Secure unless the file says otherwise: plaintext gRPC and unauthenticated Quantum are opt-in.
        insecure: { type: 'boolean', default: false },
        certsDir: { type: 'string', minLength: 1, default: '.aetherflow/certs' },
        quantumKeyFile: { type: ['string', 'null'], default: null },
        /** Credentials for an external etcd (etcd.endpoints): TLS and/or user + password. Files are named like dataDirs. */
        etcd: {
          type: 'object',
          additionalProperties: false,
          default: {},
          properties: {
            caFile: { ...path, default: null },
            certFile: { ...path, default: null },
            keyFile: { ...path, default: null },
            username: { type: ['string', 'null'], minLength: 1, default: null },
            passwordFile: { ...path, default: null },
          },
        },
      },
    },
  },
} as const;

const ajv = new Ajv({ allErrors: true, useDefaults: true, strict: true });
const validate = ajv.compile(topologySchema);

/** ajv's `/regions/1/grpc` → `regions[1].grpc`. */
function pathOf(instancePath: string, child?: string): (string | number)[] {
  const segs: (string | number)[] = instancePath
    .split('/')
    .slice(1)
    .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'))
    .map((s) => (/^(0|[1-9][0-9]*)$/.test(s) ? Number(s) : s));
  if (child !== undefined) segs.push(child);
  return segs;
}

function problemOf(e: ErrorObject): { segments: (string | number)[]; code: TopologyProblemCode; message: string } {
  const p = e.params as Record<string, unknown>;
  switch (e.keyword) {
    case 'required':
      return { segments: pathOf(e.instancePath, String(p['missingProperty'])), code: 'missing-field', message: `missing required field "${String(p['missingProperty'])}"` };
    case 'additionalProperties':
      return { segments: pathOf(e.instancePath, String(p['additionalProperty'])), code: 'unknown-field', message: `unknown field "${String(p['additionalProperty'])}"` };
    case 'type':
      return { segments: pathOf(e.instancePath), code: 'wrong-type', message: `must be ${String(p['type'])}` };
    case 'const':
      if (e.instancePath === '/version') return { segments: ['version'], code: 'unsupported-version', message: 'unsupported version; this release reads version: 1' };
      return { segments: pathOf(e.instancePath), code: 'bad-value', message: `must be ${JSON.stringify(p['allowedValue'])}` };
    case 'enum':
      return { segments: pathOf(e.instancePath), code: 'bad-value', message: `must be one of ${(p['allowedValues'] as unknown[]).map((v) => JSON.stringify(v)).join(', ')}` };
    default:
      return { segments: pathOf(e.instancePath), code: 'bad-value', message: e.message ?? e.keyword };
  }
}

/**
 * Validates `doc` against the schema, filling defaults in place, and returns every
 * problem found (ajv allErrors). `locate` maps a path to a line/column in the file.
 */
export function validateSchema(
  doc: unknown,
  file: string,
  locate: (segments: readonly (string | number)[]) => { line: number; col: number } | undefined,
): TopologyProblem[] {
  if (validate(doc)) return [];
  return (validate.errors ?? []).map((e) => {
    const { segments, code, message } = problemOf(e);
    return { file, path: formatPath(segments), code, message, ...locate(segments) };
  });
}
