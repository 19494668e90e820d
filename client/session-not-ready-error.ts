import { AetherError } from '../common/errors.js';
import { formatGlt, type Glt } from '../glts/glt.js';

/**
 * A read made at or above the session's timestamp (read-your-writes) found the region's
 * frontier still below it when its wait ran out. The code stays SNAPSHOT_NOT_READY, as for
 * any read above the frontier; the message and details say the floor came from the session,
 * since the caller asked for no GLT.
 */
export class SessionNotReadyError extends AetherError {
  constructor(region: string, sessionGlt: Glt, cause: AetherError) {
    super(
      'SNAPSHOT_NOT_READY',
      `read-your-writes: region ${region} has not reached this session's GLT ${formatGlt(sessionGlt)} (its last acknowledged write or observed GLT): ${cause.message}; ` +
        'give the read a longer waitMs or callTimeoutMs, or readYourWrites: false to read the frontier as it is',
      { cause, details: { ...cause.details, region, sessionGlt: formatGlt(sessionGlt) } },
    );
  }
}
