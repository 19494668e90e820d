import type { Level } from 'level';
import { AetherError, assert } from '../common/errors.js';
import { GLT_BYTES, decodeGlt, encodeGlt, type Glt } from '../glts/glt.js';
import { SYS_META_TAG, USER_META_TAG, changeKey, metaPrefixRange, sysMetaKey, unescape, userMetaKey } from './keys.js';

/**
 * The layout of a data dir (docs/architecture.md "Versions on the wire": a data dir of an older layout
 * is migrated or refused, never misread).
 *
 * Format 1 (v1, the round-based pipeline) differed from format 2 (keys.ts) in:
 *   change    'c' | wall (8 B BE) | logical (4 B BE) | esc(origin) | esc(userKey)  (time-ordered, all origins mixed)
 *   sys meta  'closed'     the last closed T, pushed ahead of the clock by the round
 *   user meta 'frontier'   the last committed GLT the region reached
 *             'watermark'  the round's own bookkeeping, meaningless to v2
 * Versions, stored values, 'stamped' and 'horizon' are the same in both.
 */
export const STORE_FORMAT = 2;
const V1_FORMAT = 1;
const V1_CHANGE_TAG = 0x63; // 'c'
const V1_CLOSED_KEY = Buffer.concat([Buffer.of(SYS_META_TAG), Buffer.from('closed', 'utf8')]);
/** Change entries converted per LevelDB batch: bounds each batch, and a crash midway resumes where it stopped. */
const MIGRATE_BATCH = 10_000;

export interface MigrateOptions {
  /** Called after each batch with the number of change entries converted so far by this run. */
  readonly onProgress?: (entriesDone: number) => void;
  /** Change entries per batch (default MIGRATE_BATCH). */
  readonly batchEntries?: number;
}

type Db = Level<Buffer, Buffer>;

/**
 * Makes sure the store at `path` is of the current format: marks an empty one, migrates
 * format 1, and refuses anything else (STORE_FORMAT) — a dir written by a newer build, or
 * one without a marker that is not empty.
 */
export async function ensureFormat(db: Db, path: string, options: MigrateOptions = {}): Promise<void> {
  const raw = await db.get(sysMetaKey('format'));
  if (raw === undefined) {
    const [any] = await db.iterator({ limit: 1, values: false }).all();
    if (any !== undefined) throw formatError(path, 'none (the directory holds data but no format marker)');
    await db.put(sysMetaKey('format'), Buffer.of(STORE_FORMAT), { sync: true });
    return;
  }
  const found = raw.length === 1 ? raw[0]! : undefined;
  if (found === STORE_FORMAT) return;
  if (found !== V1_FORMAT) throw formatError(path, found === undefined ? `0x${raw.toString('hex')}` : String(found));
  await migrateV1(db, options);
}

function formatError(path: string, found: string): AetherError {
  return new AetherError('STORE_FORMAT', `store ${path} has format ${found}; this build reads format ${STORE_FORMAT} and migrates format ${V1_FORMAT}`, {
    details: { path, found, reads: STORE_FORMAT },
  });
}

/**
 * Format 1 → 2. Each batch moves up to `batchEntries` change entries from 'c' to 'o' (put
 * the new, delete the old), so a crash midway leaves a dir still marked format 1 whose
 * next open carries on. The last batch, atomically: the old closed T becomes the ceiling
 * floor (no stamp may fall at or below it), the watermark goes, the frontier becomes the
 * applied floor (a v1 node held every committed version up to its frontier), format = 2.
 */
async function migrateV1(db: Db, options: MigrateOptions): Promise<void> {
  const batchEntries = options.batchEntries ?? MIGRATE_BATCH;
  assert(batchEntries >= 1, 'a migration batch holds at least one entry');
  let done = 0;
  for (;;) {
    const entries = await db.iterator({ gte: Buffer.of(V1_CHANGE_TAG), lt: Buffer.of(V1_CHANGE_TAG + 1), limit: batchEntries }).all();
    if (entries.length === 0) break;
    const batch = db.batch();
    for (const [k, v] of entries) {
      const d = decodeV1ChangeKey(k);
      batch.put(changeKey(d.origin, d.ts, d.key), v);
      batch.del(k);
    }
    await batch.write({ sync: true });
    done += entries.length;
    options.onProgress?.(done);
  }
  // Format 1 has no ceiling or applied floor: this batch is the one that writes them.
  const [closed, frontier] = await db.getMany([V1_CLOSED_KEY, userMetaKey('frontier')]);
  const watermarks = await db.keys(metaPrefixRange(USER_META_TAG, 'watermark')).all();
  const batch = db.batch();
  if (closed) {
    batch.put(sysMetaKey('ceiling'), encodeGlt(decodeMetaGlt(closed)));
    batch.del(V1_CLOSED_KEY);
  }
  for (const k of watermarks) batch.del(k);
  if (frontier) batch.put(sysMetaKey('appliedFloor'), encodeGlt(decodeMetaGlt(frontier)));
  batch.put(sysMetaKey('format'), Buffer.of(STORE_FORMAT));
  await batch.write({ sync: true });
}

function decodeMetaGlt(raw: Buffer): Glt {
  assert(raw.length === GLT_BYTES, 'a metadata value is one encoded GLT');
  return decodeGlt(raw);
}

/** A format-1 change key: 'c' | wall | logical | esc(origin) | esc(userKey). */
function decodeV1ChangeKey(buf: Buffer): { key: Buffer; ts: Glt; origin: string } {
  assert(buf[0] === V1_CHANGE_TAG, 'not a format-1 change key');
  const ts = decodeGlt(buf, 1);
  const o = unescape(buf, 1 + GLT_BYTES);
  const k = unescape(buf, o.end);
  assert(k.end === buf.length, 'trailing bytes after the user key of a format-1 change key');
  return { key: k.raw, ts, origin: o.raw.toString('utf8') };
}
