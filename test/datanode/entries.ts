import { Level } from 'level';
import { formatGlt, type Glt } from '../../glts/glt.js';
import { CHANGE_TAG, HIDDEN_TAG, VERSION_TAG, decodeChangeKey, decodeHiddenKey, decodeStoredValue, decodeVersionKey } from '../../datanode/keys.js';
import type { MemoryDisk } from '../../datanode/memory-store.js';
import type { Version } from '../../datanode/version.js';

/**
 * Every entry a store holds, one normalised line each, sorted: what the conformance
 * suite and the model test compare stores (and a model) by.
 */
export interface StoreEntries {
  readonly chains: string[];
  readonly changes: string[];
  readonly hidden: string[];
}

const hex = (b: Buffer) => b.toString('hex');
const val = (v: Buffer | null) => (v === null ? '∅' : hex(v));
/** A chain entry: at its chain ts, with the original ts of a re-stamped one. */
export const chainLine = (v: Version, orig?: Glt) => `${hex(v.key)}@${formatGlt(v.ts)}/${v.origin}=${val(v.value)}${orig ? ` was ${formatGlt(orig)}` : ''}`;
/** A change entry: at the version's original ts. */
export const changeLine = (v: Version) => `${v.origin}@${formatGlt(v.ts)}:${hex(v.key)}=${val(v.value)}`;
export const hiddenLine = (v: Version) => `${hex(v.key)}@${formatGlt(v.ts)}/${v.origin}=${val(v.value)}`;

/** Every entry of a MemoryDisk. */
export function diskEntries(disk: MemoryDisk): StoreEntries {
  return {
    chains: [...disk.chains.values()].flatMap((chain) => chain.map((e) => chainLine(e.version, e.orig))).sort(),
    changes: [...disk.changes.values()].flatMap((log) => log.map(changeLine)).sort(),
    hidden: [...disk.hidden.values()].flatMap((list) => list.map(hiddenLine)).sort(),
  };
}

/** Every entry of a LevelStore dir (the store must be shut down: LevelDB locks its dir). */
export async function dirEntries(path: string): Promise<StoreEntries> {
  const db = new Level<Buffer, Buffer>(path, { keyEncoding: 'buffer', valueEncoding: 'buffer' });
  try {
    const lines = async (tag: number, line: (k: Buffer, v: Buffer) => string) => {
      const out: string[] = [];
      for await (const [k, v] of db.iterator({ gte: Buffer.of(tag), lt: Buffer.of(tag + 1) })) out.push(line(k, v));
      return out.sort();
    };
    return {
      chains: await lines(VERSION_TAG, (k, v) => {
        const { value, orig } = decodeStoredValue(v);
        return chainLine({ ...decodeVersionKey(k), value }, orig);
      }),
      changes: await lines(CHANGE_TAG, (k, v) => changeLine({ ...decodeChangeKey(k), value: decodeStoredValue(v).value })),
      hidden: await lines(HIDDEN_TAG, (k, v) => hiddenLine({ ...decodeHiddenKey(k), value: decodeStoredValue(v).value })),
    };
  } finally {
    await db.close();
  }
}
