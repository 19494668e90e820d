import { AetherError, SnapshotCollectedError } from '../common/errors.js';
import { checkGlt, compareGlt, formatGlt, type Glt } from '../glts/glt.js';
import type { RestampRule } from './store.js';
import type { Version } from './version.js';

/**
 * The argument checks and guards every Store implementation applies, so LevelStore and
 * MemoryStore refuse exactly the same inputs.
 *
 * Size limits of what a store accepts. They bound every buffer the store, the delta
 * codec and the wire carry, and fix the width of the length fields in both formats.
 */
export const MAX_KEY_BYTES = 4096;
export const MAX_VALUE_BYTES = 1 << 20;
/** Origins are data node ids: non-empty UTF-8 without NUL, at most this many bytes. */
export const MAX_ORIGIN_BYTES = 255;

export function checkKey(key: Buffer): void {
  if (!Buffer.isBuffer(key)) throw new AetherError('INVALID_ARGUMENT', 'key must be a Buffer');
  if (key.length > MAX_KEY_BYTES) {
    throw new AetherError('KEY_TOO_LARGE', `key of ${key.length} bytes exceeds ${MAX_KEY_BYTES}`, { details: { bytes: key.length } });
  }
}

export function checkValue(value: Buffer): void {
  if (!Buffer.isBuffer(value)) throw new AetherError('INVALID_ARGUMENT', 'value must be a Buffer');
  if (value.length > MAX_VALUE_BYTES) {
    throw new AetherError('VALUE_TOO_LARGE', `value of ${value.length} bytes exceeds ${MAX_VALUE_BYTES}`, { details: { bytes: value.length } });
  }
}

export function checkOrigin(origin: string): void {
  const bytes = Buffer.byteLength(origin, 'utf8');
  if (typeof origin !== 'string' || bytes === 0 || bytes > MAX_ORIGIN_BYTES || origin.includes('\0')) {
    throw new AetherError('INVALID_ARGUMENT', `origin must be 1..${MAX_ORIGIN_BYTES} bytes of UTF-8 without NUL`, { details: { origin } });
  }
}

export function checkLimit(limit: number | undefined): void {
  if (limit !== undefined && !(Number.isSafeInteger(limit) && limit >= 0)) {
    throw new AetherError('INVALID_ARGUMENT', `limit must be a non-negative integer, got ${limit}`);
  }
}

/** A version received from elsewhere (apply, a decoded delta): every field within bounds. */
export function checkVersion(v: Version): void {
  checkKey(v.key);
  if (v.value !== null) checkValue(v.value);
  checkOrigin(v.origin);
  checkGlt(v.ts.wall, v.ts.logical);
}

/** Reads below the GC horizon would see collected history: SNAPSHOT_COLLECTED. */
export function checkReadable(t: Glt, horizon: Glt): void {
  checkGlt(t.wall, t.logical);
  if (compareGlt(t, horizon) < 0) throw new SnapshotCollectedError(formatGlt(t), formatGlt(horizon));
}

export function storeClosedError(origin: string): AetherError {
  return new AetherError('STORE_CLOSED', `store ${origin} was shut down`, { details: { origin } });
}

/** A byte bound of a read (`changes`): a non-negative integer; at least one entry is read regardless. */
export function checkMaxBytes(maxBytes: number): void {
  if (!(Number.isSafeInteger(maxBytes) && maxBytes >= 0)) throw new AetherError('INVALID_ARGUMENT', `maxBytes must be a non-negative integer, got ${maxBytes}`);
}

/** The size of one chunk of a membership job (hide, restamp): ≥ 1, so every call makes progress. */
export function checkChunkLimit(limit: number): void {
  if (!(Number.isSafeInteger(limit) && limit >= 1)) throw new AetherError('INVALID_ARGUMENT', `limit must be a positive integer, got ${limit}`);
}

export function checkEpoch(epoch: bigint): void {
  if (typeof epoch !== 'bigint' || epoch < 0n || epoch >= 1n << 64n) throw new AetherError('INVALID_ARGUMENT', `epoch must be a u64, got ${String(epoch)}`);
}

/** A leader of an older epoch than one the node has seen is fenced off (docs/architecture.md "The snapshot pipeline"). */
export function checkFence(epoch: bigint, seen: bigint): void {
  if (epoch < seen) throw new AetherError('FENCED', `epoch ${epoch} is older than epoch ${seen} seen by this node`, { details: { epoch: epoch.toString(), seen: seen.toString() } });
}

export function checkMembershipVersion(version: number): void {
  if (!(Number.isSafeInteger(version) && version >= 0)) throw new AetherError('INVALID_ARGUMENT', `membership version must be a non-negative integer, got ${version}`);
}

export function checkRegion(region: string): void {
  if (typeof region !== 'string' || region.length === 0 || Buffer.byteLength(region, 'utf8') > MAX_ORIGIN_BYTES) {
    throw new AetherError('INVALID_ARGUMENT', `region must be 1..${MAX_ORIGIN_BYTES} bytes of UTF-8`, { details: { region } });
  }
}

/**
 * v2 never moves a clock for GC: a horizon above the clock's last stamp could leave room
 * for a local write at or below it, where collection would miss it.
 */
export function checkGcHorizon(horizon: Glt, last: Glt): void {
  checkGlt(horizon.wall, horizon.logical);
  if (compareGlt(horizon, last) > 0) {
    throw new AetherError('INVALID_ARGUMENT', `GC horizon ${formatGlt(horizon)} is above the clock's last stamp ${formatGlt(last)}`);
  }
}

export function checkRestampRule(rule: RestampRule): void {
  for (const o of rule.origins) checkOrigin(o);
  for (const g of [rule.above, rule.upTo, rule.floor]) checkGlt(g.wall, g.logical);
}
