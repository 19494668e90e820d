import { Ajv, type ErrorObject } from 'ajv';
import type { Etcd3, Watcher } from 'etcd3';
import { AetherError } from '../common/errors.js';
import { LOG_LEVELS, silentLogger, type Logger, type LogLevel } from '../common/log.js';
import type { Topology } from '../topology/types.js';
import { etcdCall, etcdError } from './etcd.js';
import type { ClusterPaths } from './paths.js';

/**
 * Dynamic settings: kept in etcd at `/aetherflow/<name>/settings` as one JSON document,
 * watched by every process and applied without a restart. The document may be partial;
 * what it leaves out takes the defaults (the topology's values). A document that fails
 * validation is rejected as a whole: watchers log it and keep the settings they have.
 */
export interface Settings {
  readonly snapshot: { readonly intervalMs: number; readonly budgetMs: number };
  /** Reed-Solomon on Quantum links: adaptive (parity from measured loss, ≤ parityShards), fixed, or off. */
  readonly fec: { readonly mode: 'adaptive' | 'fixed' | 'off'; readonly dataShards: number; readonly parityShards: number };
  readonly logLevel: LogLevel;
  /**
   * Pairs of sides that cannot reach each other (chaos drills): region names, or
   * "coordinator" for the coordinator candidates. Both directions are cut, on the Quantum
   * links between those sides' processes (kernel/peer-transport.ts).
   */
  readonly partitions: readonly { readonly from: string; readonly to: string }[];
}

/** A partial settings document: what `writeSettings` merges into the current one. */
export type SettingsPatch = {
  readonly [K in keyof Settings]?: Settings[K] extends readonly unknown[] ? Settings[K] : Partial<Settings[K]> | Settings[K];
};

export function defaultSettings(topology: Pick<Topology, 'snapshot'>): Settings {
  return {
    snapshot: { intervalMs: topology.snapshot.intervalMs, budgetMs: topology.snapshot.budgetMs },
    fec: { mode: 'adaptive', dataShards: 8, parityShards: 4 },
    logLevel: 'info',
    partitions: [],
  };
}

const schema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    snapshot: {
      type: 'object',
      additionalProperties: false,
      properties: { intervalMs: { type: 'integer', minimum: 1, maximum: 60000 }, budgetMs: { type: 'integer', minimum: 1, maximum: 60000 } },
    },
    fec: {
      type: 'object',
      additionalProperties: false,
      properties: {
        mode: { enum: ['adaptive', 'fixed', 'off'] },
        dataShards: { type: 'integer', minimum: 1, maximum: 128 },
        parityShards: { type: 'integer', minimum: 0, maximum: 128 },
      },
    },
    logLevel: { enum: [...LOG_LEVELS] },
    partitions: {
      type: 'array',
      maxItems: 1000,
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['from', 'to'],
        properties: { from: { type: 'string', minLength: 1 }, to: { type: 'string', minLength: 1 } },
      },
    },
  },
} as const;

const validate = new Ajv({ allErrors: true, strict: true }).compile(schema);

function describe(errors: readonly ErrorObject[] | null | undefined): string {
  return (errors ?? []).map((e) => `${e.instancePath || '(document)'} ${e.message ?? 'is invalid'}`).join('; ');
}

/**
 * Merges a (partial) document over `base` and validates the result; INVALID_ARGUMENT
 * names every problem.
 */
export function mergeSettings(base: Settings, patch: unknown): Settings {
  if (!validate(patch)) throw new AetherError('INVALID_ARGUMENT', `invalid settings: ${describe(validate.errors)}`, { details: { errors: validate.errors } });
  const p = patch as SettingsPatch;
  const merged: Settings = {
    snapshot: { ...base.snapshot, ...p.snapshot },
    fec: { ...base.fec, ...p.fec },
    logLevel: p.logLevel ?? base.logLevel,
    partitions: p.partitions ?? base.partitions,
  };
  return merged;
}

async function readDocument(client: Etcd3, paths: ClusterPaths): Promise<{ doc: unknown; modRevision: string | undefined }> {
  const res = await etcdCall('read settings', () => client.get(paths.settings).exec());
  const kv = res.kvs[0];
  if (!kv) return { doc: {}, modRevision: undefined };
  try {
    return { doc: JSON.parse(kv.value.toString('utf8')) as unknown, modRevision: kv.mod_revision };
  } catch (err) {
    throw new AetherError('INVALID_ARGUMENT', 'invalid settings: the stored document is not JSON', { cause: err });
  }
}

/**
 * Merges `patch` into the stored document and writes it, atomically (a transaction on
 * the key's revision, retried a bounded number of times on a concurrent write). A patch
 * that would make the settings invalid fails INVALID_ARGUMENT and writes nothing.
 * Returns the effective settings.
 */
export async function writeSettings(client: Etcd3, paths: ClusterPaths, defaults: Settings, patch: SettingsPatch): Promise<Settings> {
  for (let attempt = 0; attempt < 5; attempt++) {
    const { doc, modRevision } = await readDocument(client, paths);
    const stored = typeof doc === 'object' && doc !== null && !Array.isArray(doc) ? (doc as Record<string, unknown>) : {};
    const next: Record<string, unknown> = { ...stored };
    for (const [k, v] of Object.entries(patch)) {
      next[k] = typeof v === 'object' && v !== null && !Array.isArray(v) ? { ...(stored[k] as object | undefined), ...v } : v;
    }
    const effective = mergeSettings(defaults, next);
    const value = JSON.stringify(next);
    const res = await etcdCall('write settings', () =>
      client
        .if(paths.settings, 'Mod', '==', modRevision ?? 0)
        .then(client.put(paths.settings).value(value))
        .commit(),
    );
    if (res.succeeded) return effective;
  }
  throw new AetherError('ETCD', 'settings kept changing under a concurrent writer; try again');
}

type Listener<K extends keyof Settings> = (value: Settings[K], previous: Settings[K]) => void;

/**
 * The settings a process runs with, kept current by a watch. Subscribers name the
 * section they apply (`subscribe('logLevel', …)`) and are called only when it changes.
 */
export class SettingsWatch {
  private currentValue: Settings;
  private readonly listeners = new Map<keyof Settings, Set<Listener<keyof Settings>>>();
  private watcher: Watcher | undefined;
  /** Refreshes run one at a time, so an older read never overwrites a newer one. */
  private refreshing: Promise<void> = Promise.resolve();

  private constructor(
    private readonly client: Etcd3,
    private readonly paths: ClusterPaths,
    private readonly defaults: Settings,
    private readonly log: Logger,
  ) {
    this.currentValue = defaults;
  }

  /** Reads the stored settings (a bad document is logged and the defaults kept) and starts watching. */
  static async open(client: Etcd3, paths: ClusterPaths, defaults: Settings, log: Logger = silentLogger()): Promise<SettingsWatch> {
    const w = new SettingsWatch(client, paths, defaults, log);
    w.watcher = await etcdCall('watch settings', () => client.watch().key(paths.settings).create());
    w.watcher.on('put', () => w.queueRefresh());
    w.watcher.on('delete', () => w.queueRefresh());
    w.watcher.on('connected', () => w.queueRefresh());
    w.watcher.on('error', (err) => log.warn({ err: etcdError('settings watch', err) }, 'settings watch failed'));
    w.queueRefresh();
    await w.refreshing;
    return w;
  }

  get current(): Settings {
    return this.currentValue;
  }

  subscribe<K extends keyof Settings>(section: K, listener: Listener<K>): () => void {
    let set = this.listeners.get(section);
    if (!set) this.listeners.set(section, (set = new Set()));
    set.add(listener as unknown as Listener<keyof Settings>);
    return () => set.delete(listener as unknown as Listener<keyof Settings>);
  }

  async close(): Promise<void> {
    await this.watcher?.cancel().catch(() => {});
    this.watcher = undefined;
  }

  private queueRefresh(): void {
    this.refreshing = this.refreshing.then(() => this.refresh());
  }

  private async refresh(): Promise<void> {
    let next: Settings;
    try {
      next = mergeSettings(this.defaults, (await readDocument(this.client, this.paths)).doc);
    } catch (err) {
      this.log.error({ err }, 'settings rejected; keeping the current ones');
      return;
    }
    const previous = this.currentValue;
    this.currentValue = next;
    for (const section of Object.keys(next) as (keyof Settings)[]) {
      if (JSON.stringify(next[section]) === JSON.stringify(previous[section])) continue;
      this.log.info({ section, value: next[section] }, 'setting changed');
      for (const l of this.listeners.get(section) ?? []) l(next[section], previous[section]);
    }
  }
}
