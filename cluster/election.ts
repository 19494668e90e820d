import { Lease, Range, type Campaign, type Election, type Etcd3, type IKeyValue } from 'etcd3';
import { AetherError, assert } from '../common/errors.js';
import { silentLogger, type Logger } from '../common/log.js';
import { etcdCall, etcdError, watchPrefixReads } from './etcd.js';

/**
 * What a candidate announces in its election key: its id, and whatever peers need to
 * reach it (a leader's grpc address is the NOT_LEADER hint standbys give clients).
 */
export interface CandidateInfo {
  readonly id: string;
  readonly [field: string]: unknown;
}

/** The elected candidate as observers see it. */
export interface ElectedLeader<V extends CandidateInfo = CandidateInfo> {
  readonly value: V;
  /** The create revision of the leader's campaign key: strictly increases from one leadership to the next. */
  readonly epoch: bigint;
  readonly key: string;
}

/**
 * idle → campaigning → leader → lost → campaigning …; resigned is terminal.
 * lost is entered when the lease is lost (etcd says it expired, or no keepalive got
 * through for a whole TTL); the candidate re-campaigns with a fresh lease after a delay.
 */
export type ElectionState = 'idle' | 'campaigning' | 'leader' | 'lost' | 'resigned';

const TRANSITIONS: Readonly<Record<ElectionState, readonly ElectionState[]>> = {
  idle: ['campaigning', 'resigned'],
  campaigning: ['leader', 'lost', 'resigned'],
  leader: ['lost', 'resigned'],
  lost: ['campaigning', 'resigned'],
  resigned: [],
};

export type ElectionListener = (state: ElectionState, epoch: bigint | undefined) => void;

export interface ElectionOptions {
  /** Lease TTL: how long a dead leader can stay leader. etcd's minimum is 1 s with `--election-timeout=500`. */
  readonly ttlSec?: number;
  /** First delay before re-campaigning after a loss; doubles up to maxRecampaignDelayMs. */
  readonly recampaignDelayMs?: number;
  readonly maxRecampaignDelayMs?: number;
  /** Upper bound on resigning at shutdown (etcd may be gone). */
  readonly resignTimeoutMs?: number;
  readonly log?: Logger;
}

/**
 * One process's candidacy in one etcd election (etcd3 `Election`, the Go client's
 * algorithm: the oldest key wins). Every campaign uses a fresh lease, so a new term
 * always has a new, higher epoch.
 */
export class ElectionCandidate<V extends CandidateInfo = CandidateInfo> {
  /** Invariant: epochValue !== undefined ⇔ stateValue === 'leader'. */
  private stateValue: ElectionState = 'idle';
  private epochValue: bigint | undefined;
  /** The campaign key of the current term; defined exactly while leader. */
  private termKey: string | undefined;
  /** Invariant: defined ⇔ state is campaigning or leader. */
  private campaign: Campaign | undefined;
  /** Incremented per campaign and on resign, so late events of an old campaign are ignored. */
  private generation = 0;
  private lastKeepaliveMs = 0;
  private recampaignDelayMs: number;
  private recampaignTimer: NodeJS.Timeout | undefined;
  private freshnessTimer: NodeJS.Timeout | undefined;
  private readonly listeners = new Set<ElectionListener>();
  private readonly election: Election;
  private readonly ttlMs: number;
  private readonly log: Logger;

  constructor(
    private readonly client: Etcd3,
    root: string,
    readonly electionName: string,
    readonly value: V,
    private readonly options: ElectionOptions = {},
  ) {
    const ttlSec = options.ttlSec ?? 1;
    this.ttlMs = ttlSec * 1000;
    this.election = client.namespace(root).election(electionName, ttlSec);
    this.recampaignDelayMs = options.recampaignDelayMs ?? 100;
    this.log = (options.log ?? silentLogger()).child({ election: electionName });
  }

  get state(): ElectionState {
    return this.stateValue;
  }

  /** The epoch of the current term while leader, else undefined. */
  get epoch(): bigint | undefined {
    return this.epochValue;
  }

  get isLeader(): boolean {
    return this.stateValue === 'leader';
  }

  /** While leader: what a write must be fenced on to land only during this term (see fencedPut). */
  fence(): Fence | undefined {
    return this.epochValue !== undefined && this.termKey !== undefined ? { key: this.termKey, epoch: this.epochValue } : undefined;
  }

  /** Called on every transition; returns the unsubscribe function. */
  onChange(listener: ElectionListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  start(): void {
    assert(this.stateValue === 'idle', `start() in state ${this.stateValue}`);
    this.campaignOnce();
  }

  /** Steps down (or withdraws) for good; the next candidate takes over at once. Never throws. */
  async resign(): Promise<void> {
    if (this.stateValue === 'resigned') return;
    this.generation++;
    clearTimeout(this.recampaignTimer);
    clearInterval(this.freshnessTimer);
    const campaign = this.campaign;
    this.campaign = undefined;
    this.transition('resigned', undefined);
    if (!campaign) return;
    const timeoutMs = this.options.resignTimeoutMs ?? 2000;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      campaign.resign().catch((err: unknown) => this.log.warn({ err: etcdError('resign', err) }, 'resign failed; the lease will expire')),
      new Promise<void>((resolve) => (timer = setTimeout(resolve, timeoutMs))),
    ]);
    clearTimeout(timer);
  }

  private campaignOnce(): void {
    const gen = ++this.generation;
    const campaign = this.election.campaign(JSON.stringify(this.value));
    const lease = leaseOf(campaign);
    this.campaign = campaign;
    this.lastKeepaliveMs = Date.now();
    lease.on('keepaliveSucceeded', () => {
      if (gen === this.generation) this.lastKeepaliveMs = Date.now();
    });
    lease.grant().then(
      () => {
        if (gen === this.generation) this.recampaignDelayMs = this.options.recampaignDelayMs ?? 100;
      },
      () => {}, // reported through the campaign's 'error'
    );
    campaign.on('error', (err) => {
      if (gen === this.generation) this.lose(etcdError('campaign', err));
    });
    campaign.on('elected', () => {
      if (gen === this.generation) void this.elected(gen, campaign);
    });
    this.transition('campaigning', undefined);
  }

  private async elected(gen: number, campaign: Campaign): Promise<void> {
    let kv: IKeyValue | undefined;
    let key: string;
    try {
      key = await campaign.getCampaignKey();
      kv = (await etcdCall('get campaign key', () => this.client.get(key).exec())).kvs[0];
    } catch (err) {
      if (gen === this.generation) this.lose(etcdError('read campaign key', err));
      return;
    }
    if (gen !== this.generation || this.stateValue !== 'campaigning') return;
    if (!kv) {
      this.lose(new AetherError('ETCD', 'campaign key vanished before the term began'));
      return;
    }
    this.termKey = key;
    this.transition('leader', BigInt(kv.create_revision));
    // A partitioned leader hears nothing from etcd, so etcd3 would only report the loss
    // after 2 TTLs; stepping down after one TTL without a keepalive keeps the overlap
    // with the next leader short.
    this.freshnessTimer = setInterval(() => {
      if (gen === this.generation && this.stateValue === 'leader' && Date.now() - this.lastKeepaliveMs > this.ttlMs) {
        this.lose(new AetherError('ETCD', `no lease keepalive for ${Date.now() - this.lastKeepaliveMs} ms (TTL ${this.ttlMs} ms)`));
      }
    }, Math.max(50, this.ttlMs / 5));
  }

  private lose(err: AetherError): void {
    if (this.stateValue !== 'campaigning' && this.stateValue !== 'leader') return;
    this.log.warn({ err, state: this.stateValue }, 'election lost; re-campaigning');
    this.generation++;
    clearInterval(this.freshnessTimer);
    const campaign = this.campaign;
    this.campaign = undefined;
    campaign?.resign().catch(() => {}); // the lease may already be gone; it expires anyway
    this.transition('lost', undefined);
    const delayMs = this.recampaignDelayMs;
    this.recampaignDelayMs = Math.min(delayMs * 2, this.options.maxRecampaignDelayMs ?? 2000);
    this.recampaignTimer = setTimeout(() => {
      if (this.stateValue === 'lost') this.campaignOnce();
    }, delayMs);
  }

  private transition(to: ElectionState, epoch: bigint | undefined): void {
    const from = this.stateValue;
    assert(TRANSITIONS[from].includes(to), `election transition ${from} → ${to}`);
    assert((to === 'leader') === (epoch !== undefined), 'an epoch exactly while leader');
    this.stateValue = to;
    this.epochValue = epoch;
    if (epoch === undefined) this.termKey = undefined;
    this.log.info({ from, to, ...(epoch !== undefined ? { epoch: epoch.toString() } : {}) }, 'election state');
    for (const l of this.listeners) l(to, epoch);
  }
}

/** A term of leadership: its campaign key and epoch (the key's create revision). */
export interface Fence {
  readonly key: string;
  readonly epoch: bigint;
}

/**
 * Writes `puts` in one transaction that succeeds only while the term `fence` names
 * lasts (its campaign key still exists with that create revision) — how a coordinator
 * persists a commit record only while it still holds leadership. FENCED otherwise;
 * nothing is written then.
 */
export async function fencedPut(
  client: Etcd3,
  fence: Fence,
  puts: readonly { readonly key: string; readonly value: string | Buffer }[],
  /** Key ranges [start, end) deleted in the same transaction (a bounded history's oldest records). */
  deletes: readonly { readonly start: string; readonly end: string }[] = [],
): Promise<void> {
  const res = await etcdCall('fenced write', () =>
    client
      .if(fence.key, 'Create', '==', fence.epoch.toString())
      .then(...puts.map((p) => client.put(p.key).value(p.value)), ...deletes.map((d) => client.delete().range(new Range(d.start, d.end))))
      .commit(),
  );
  if (!res.succeeded) throw new AetherError('FENCED', `the term with epoch ${fence.epoch} is over; write refused`, { details: { epoch: fence.epoch.toString() } });
}

/**
 * etcd3's Campaign keeps its lease private; the keepalive events are needed for the
 * freshness check above, so it is taken out here, checked, in one place.
 */
function leaseOf(campaign: Campaign): Lease {
  const lease = (campaign as unknown as { lease: unknown }).lease;
  assert(lease instanceof Lease, 'etcd3 Campaign has a lease field');
  return lease;
}

/** The current leader of an election (the oldest candidate key), or undefined when nobody campaigns. */
export async function currentLeader<V extends CandidateInfo = CandidateInfo>(client: Etcd3, electionPrefix: string): Promise<ElectedLeader<V> | undefined> {
  const res = await etcdCall('read election', () => client.getAll().prefix(electionPrefix).sort('Create', 'Ascend').limit(1).exec());
  const kv = res.kvs[0];
  return kv === undefined ? undefined : electedLeader<V>(kv);
}

function electedLeader<V extends CandidateInfo>(kv: IKeyValue): ElectedLeader<V> {
  let value: unknown;
  try {
    value = JSON.parse(kv.value.toString('utf8'));
  } catch (err) {
    throw new AetherError('ETCD', `malformed election value at ${kv.key.toString()}`, { cause: err });
  }
  if (typeof value !== 'object' || value === null || typeof (value as { id?: unknown }).id !== 'string') {
    throw new AetherError('ETCD', `election value at ${kv.key.toString()} has no id`);
  }
  return { value: value as V, epoch: BigInt(kv.create_revision), key: kv.key.toString() };
}

/**
 * Calls `onLeader` with the current leader now and on every change of leader (a new
 * term, or nobody). Returns the function that stops watching.
 */
export async function watchLeader<V extends CandidateInfo = CandidateInfo>(
  client: Etcd3,
  electionPrefix: string,
  onLeader: (leader: ElectedLeader<V> | undefined) => void,
  log: Logger = silentLogger(),
): Promise<() => Promise<void>> {
  let lastKey: string | undefined | null = null;
  const onRead = (leader: ElectedLeader<V> | undefined): void => {
    if (leader?.key === lastKey) return;
    lastKey = leader?.key;
    onLeader(leader);
  };
  return watchPrefixReads(client, electionPrefix, 'election', () => currentLeader<V>(client, electionPrefix), onRead, log);
}
