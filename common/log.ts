import { pino, type Logger, type LevelWithSilent } from 'pino';

export type { Logger } from 'pino';

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const satisfies readonly LevelWithSilent[];
export type LogLevel = (typeof LOG_LEVELS)[number];

export function isLogLevel(s: unknown): s is LogLevel {
  return typeof s === 'string' && (LOG_LEVELS as readonly string[]).includes(s);
}

/**
 * Set by a role command's `--log-level` (which `up` passes to its children): the level a
 * role process starts at. A later change of the etcd setting `logLevel` still applies live.
 */
export const LOG_LEVEL_ENV = 'AETHERFLOW_LOG_LEVEL';

/** The level `--log-level` asked for, if any. */
export function startupLogLevel(): LogLevel | undefined {
  const v = process.env[LOG_LEVEL_ENV];
  return isLogLevel(v) ? v : undefined;
}

/**
 * Trace fields, named the same by every process so one grep follows one thing across the
 * deployment: `guuid` (hex) is a Quantum connection, `glt` (text form) a committed snapshot.
 * Log `{ ...gltField(T), ... }` (glts/glt.ts: common/ sits below glts/) on commit events
 * and `{ ...guuidField(id), ... }` on connection events.
 */
export function guuidField(guuid: Uint8Array | string): { readonly guuid: string } {
  return { guuid: typeof guuid === 'string' ? guuid : Buffer.from(guuid.buffer, guuid.byteOffset, guuid.byteLength).toString('hex') };
}

/** The fields every line of a role process carries, so one grep finds one process. */
export interface LogIdentity {
  readonly role: string;
  readonly id: string;
  readonly region?: string;
}

/**
 * JSON lines on stdout (the supervisor of `up` writes each child's stdout to
 * .aetherflow/<name>/logs/<id>.log). The level can be changed at run time through the
 * dynamic settings (cluster/settings.ts): `logger.level = …`.
 */
export function createLogger(identity: LogIdentity, level: LogLevel = 'info'): Logger {
  return pino({
    level,
    base: { role: identity.role, id: identity.id, ...(identity.region ? { region: identity.region } : {}), pid: process.pid },
    timestamp: pino.stdTimeFunctions.isoTime,
  });
}

/** A logger that drops everything: library code takes a Logger and tests pass this one. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
