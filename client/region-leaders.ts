import { AetherError } from '../common/errors.js';
import { KvClient, SnapshotsClient, type KVClient, type SnapshotsClientType } from '../proto/load.js';
import { CHANNEL_OPTIONS } from '../proto/channel-options.js';
import { fromServiceError } from '../proto/status.js';
import { channelSettings, type TransportSecurity } from '../security/transport-security.js';
import type { RegionSpec } from '../topology/types.js';

/** How hard a client tries to reach a region's elected leader before giving up. */
export interface RetryPolicy {
  /** At most this many calls per request, across all candidates. */
  readonly maxAttempts: number;
  readonly baseDelayMs: number;
  readonly maxDelayMs: number;
  /** Give up once this much time has passed since the first attempt (a failover takes about a lease TTL). */
  readonly deadlineMs: number;
}

export const DEFAULT_RETRY: RetryPolicy = { maxAttempts: 40, baseDelayMs: 25, maxDelayMs: 400, deadlineMs: 6_000 };

/** Errors that mean "try another candidate or try again": no answer came from an elected leader. */
function isRetryable(e: AetherError): boolean {
  return e.code === 'NOT_LEADER' || e.code === 'UNAVAILABLE' || e.code === 'CONNECTION_CLOSED' || e.code === 'CONNECTION_RESET';
}

/**
 * Errors after which a call is known not to have been served: a standby refused it, or it
 * never left this process. A write is retried only after these; after any other failure it
 * may have been applied, and applying it again would make its value appear twice, at two
 * timestamps (etcd's client does not retry its mutations either, and CockroachDB answers
 * such a failure with an ambiguous result).
 */
function surelyNotServed(e: AetherError): boolean {
  return e.code === 'NOT_LEADER' || e.details['neverSent'] === true;
}

/** Failures, not retried, after which a write may or may not have been applied: its deadline passed, or something unexpected broke. */
function ambiguous(e: AetherError): boolean {
  return e.code === 'TIMEOUT' || e.code === 'INTERNAL';
}

export interface CallOptions {
  /** Whether running the call twice is harmless (reads). A write is not: it is retried only when surely not served. Default true. */
  readonly idempotent?: boolean;
}

export interface LeaderStubs {
  readonly address: string;
  readonly kv: KVClient;
  readonly snapshots: SnapshotsClientType;
}

/**
 * One region's leader candidates and which of them was last seen elected. A call goes to
 * that one; on NOT_LEADER it follows the standby's hint, on an unreachable candidate it
 * moves to the next, backing off once it has tried them all, within RetryPolicy bounds.
 */
export class RegionLeaders {
  private readonly candidates: readonly string[];
  /** The address the last successful call went to (or the first candidate). */
  private preferred: string;
  private readonly stubs = new Map<string, LeaderStubs>();

  /** True once a call succeeded at `preferred`: no need to ask etcd where the leader is. */
  private confirmed = false;
  /** Named in errors: a plaintext client of a TLS leader only sees the connection fail. */
  private plaintext = false;

  constructor(
    readonly region: RegionSpec,
    private readonly retry: RetryPolicy,
    /** TLS (the client's certificate; each candidate's must name its id) or plaintext; asked for when a channel is made. */
    private readonly security: () => TransportSecurity,
    /** The elected leader's address from etcd, when the client has it. */
    private readonly discover?: () => Promise<string | undefined>,
  ) {
    this.candidates = region.leaders.map((l) => l.grpc);
    this.preferred = this.candidates[0]!;
  }

  private stubsFor(address: string): LeaderStubs {
    let s = this.stubs.get(address);
    if (!s) {
      // An address outside the candidates (a standby's hint) is checked against the CA and its host name only.
      const security = this.security();
      this.plaintext = security === 'insecure';
      const channel = channelSettings(security, address, CHANNEL_OPTIONS, this.region.leaders.find((l) => l.grpc === address)?.id);
      s = { address, kv: new KvClient(address, channel.credentials, channel.options), snapshots: new SnapshotsClient(address, channel.credentials, channel.options) };
      this.stubs.set(address, s);
    }
    return s;
  }

  /** Runs `fn` against the elected leader, retrying on failover; errors come back as AetherErrors. */
  async call<T>(what: string, fn: (stubs: LeaderStubs) => Promise<T>, options: CallOptions = {}): Promise<T> {
    const idempotent = options.idempotent ?? true;
    const started = Date.now();
    let address = (!this.confirmed && (await this.discovered())) || this.preferred;
    let sinceBackoff = 0;
    let delayMs = this.retry.baseDelayMs;
    let last: AetherError | undefined;
    for (let attempt = 0; attempt < this.retry.maxAttempts; attempt++) {
      try {
        const result = await fn(this.stubsFor(address));
        this.preferred = address;
        this.confirmed = true;
        return result;
      } catch (err) {
        const e = fromServiceError(err, `${what} at ${this.region.name} leader ${address}${this.plaintext ? ' (plaintext)' : ''}`);
        if (!isRetryable(e) && !(!idempotent && ambiguous(e))) throw e;
        if (!idempotent && !surelyNotServed(e)) {
          throw new AetherError('OUTCOME_UNKNOWN', `${what} at ${this.region.name} leader ${address} failed after it may have been applied, so it was not retried: ${e.message}`, {
            cause: e,
            details: { region: this.region.name, ...e.details },
          });
        }
        last = e;
        this.confirmed = false;
      }
      const hint = last.code === 'NOT_LEADER' ? last.details['leader'] : undefined;
      address =
        typeof hint === 'string' && hint !== address ? hint : (this.candidates[(this.candidates.indexOf(address) + 1) % this.candidates.length] ?? this.candidates[0]!);
      sinceBackoff++;
      if (sinceBackoff >= this.candidates.length) {
        if (Date.now() - started + delayMs > this.retry.deadlineMs) break;
        await new Promise((r) => setTimeout(r, delayMs));
        delayMs = Math.min(delayMs * 2, this.retry.maxDelayMs);
        sinceBackoff = 0;
        address = (await this.discovered()) ?? address;
      }
    }
    throw new AetherError(last?.code ?? 'UNAVAILABLE', `no elected leader of region ${this.region.name} answered ${what} (tried ${this.candidates.join(', ')}): ${last?.message ?? 'no attempt'}`, {
      cause: last,
      details: { region: this.region.name, ...(last?.details ?? {}) },
    });
  }

  /** The address etcd names, when it is one of this region's candidates. */
  private async discovered(): Promise<string | undefined> {
    const a = await this.discover?.();
    return a !== undefined && this.candidates.includes(a) ? a : undefined;
  }

  close(): void {
    for (const s of this.stubs.values()) {
      s.kv.close();
      s.snapshots.close();
    }
    this.stubs.clear();
  }
}
