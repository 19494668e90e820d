import { AetherError } from '../common/errors.js';

/**
 * Whether this leader candidate serves the region. Set by the election (etcd):
 * standby → elected on winning, elected → standby on losing the lease. A standby knows
 * the elected leader's grpc address when the election told it (null otherwise).
 */
export type Leadership = { readonly state: 'elected' } | { readonly state: 'standby'; readonly leader: string | null };

/** Throws UNAVAILABLE NOT_LEADER (with the leader's address when known) unless elected. */
export function requireElected(l: Leadership, region: string): void {
  if (l.state === 'elected') return;
  throw new AetherError('NOT_LEADER', `this is a standby leader of region ${region}${l.leader ? `; the elected leader is at ${l.leader}` : '; no leader is known yet'}`, {
    details: l.leader ? { region, leader: l.leader } : { region },
  });
}
