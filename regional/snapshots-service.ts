import { AetherError } from '../common/errors.js';
import type { SnapshotInfo, SnapshotsHandlers } from '../proto/load.js';
import { toServiceError } from '../proto/status.js';
import { toTimestamp } from '../proto/timestamp.js';
import type { ApiLimits } from './api-limits.js';
import { CallSlots } from './call-slots.js';
import { requireElected, type Leadership } from './leadership.js';
import type { CommittedSnapshot, SnapshotLog } from './snapshot-log.js';

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

/** The public Snapshots service (aetherflow.v1.Snapshots) over the leader's SnapshotLog, within `limits` (regional/api-limits.ts). */
export function snapshotsHandlers(o: { readonly region: string; readonly log: SnapshotLog; readonly leadership: () => Leadership; readonly limits: ApiLimits }): SnapshotsHandlers {
  const watches = new CallSlots('snapshot watches', o.limits.maxOpenWatchesPerPeer, o.limits.maxOpenWatches);
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
        const limit = call.request.limit === 0 ? o.limits.listDefaultSnapshots : Math.min(call.request.limit, o.limits.listMaxSnapshots);
        cb(null, { snapshots: o.log.list(limit).map(toSnapshotInfo) });
      } catch (err) {
        cb(toServiceError(err));
      }
    },
    Watch: (call) => {
      let release: () => void;
      try {
        requireElected(o.leadership(), o.region);
        release = watches.acquire(call.getPeer());
      } catch (err) {
        call.emit('error', toServiceError(err));
        return;
      }
      let unsubscribe = () => {};
      const stop = () => {
        unsubscribe();
        release();
      };
      unsubscribe = o.log.subscribe((s) => {
        if (call.writableLength >= o.limits.watchMaxBufferedMessages) {
          stop();
          call.emit('error', toServiceError(new AetherError('UNAVAILABLE', 'snapshot watcher too slow; reconnect to resume')));
          return;
        }
        call.write(toSnapshotInfo(s));
      });
      call.on('cancelled', stop);
      call.on('close', stop);
    },
  };
}
