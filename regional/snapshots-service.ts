import { AetherError } from '../common/errors.js';
import type { SnapshotInfo, SnapshotsHandlers } from '../proto/load.js';
import { toServiceError } from '../proto/status.js';
import { toTimestamp } from '../proto/timestamp.js';
import { requireElected, type Leadership } from './leadership.js';
import type { CommittedSnapshot, SnapshotLog } from './snapshot-log.js';

/** List without a limit returns this many; no list returns more than MAX_LIST. */
export const DEFAULT_LIST_LIMIT = 20;
export const MAX_LIST = 1000;
/** A watcher whose unread output exceeds this is cut off rather than buffered without bound. */
export const MAX_WATCH_BUFFERED = 1000;

export function toSnapshotInfo(s: CommittedSnapshot): SnapshotInfo {
  return {
    glt: toTimestamp(s.glt),
    members: [...s.members],
    duration_ms: s.durationMs,
    phases: s.phases.map((p) => ({ name: p.name, ms: p.ms })),
    epoch: s.epoch.toString(),
    committed_at_ms: String(s.committedAtMs),
  };
}

/** The public Snapshots service (aetherflow.v1.Snapshots) over the leader's SnapshotLog. */
export function snapshotsHandlers(o: { readonly region: string; readonly log: SnapshotLog; readonly leadership: () => Leadership }): SnapshotsHandlers {
  return {
    Latest: (_call, cb) => {
      try {
        requireElected(o.leadership(), o.region);
        const s = o.log.latest();
        if (!s) throw new AetherError('SNAPSHOT_NOT_READY', 'no snapshot has been committed yet');
        cb(null, toSnapshotInfo(s));
      } catch (err) {
        cb(toServiceError(err));
      }
    },
    List: (call, cb) => {
      try {
        requireElected(o.leadership(), o.region);
        const limit = call.request.limit === 0 ? DEFAULT_LIST_LIMIT : Math.min(call.request.limit, MAX_LIST);
        cb(null, { snapshots: o.log.list(limit).map(toSnapshotInfo) });
      } catch (err) {
        cb(toServiceError(err));
      }
    },
    Watch: (call) => {
      try {
        requireElected(o.leadership(), o.region);
      } catch (err) {
        call.emit('error', toServiceError(err));
        return;
      }
      const unsubscribe = o.log.subscribe((s) => {
        if (call.writableLength >= MAX_WATCH_BUFFERED) {
          unsubscribe();
          call.emit('error', toServiceError(new AetherError('UNAVAILABLE', 'snapshot watcher too slow; reconnect to resume')));
          return;
        }
        call.write(toSnapshotInfo(s));
      });
      call.on('cancelled', unsubscribe);
      call.on('close', unsubscribe);
    },
  };
}
