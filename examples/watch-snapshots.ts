/**
 * Follows Snapshots.Watch through the client and prints each committed GLT, for a
 * number of snapshots: how often the regions agree on a new global snapshot.
 *
 *   node --import tsx examples/watch-snapshots.ts --topology topology/local.yaml --count 10
 */
import { AetherError, compareGlt, formatGlt, type Glt } from '../index.js';
import { positiveInteger, runExample } from './example-runner.js';

runExample(
  {
    name: 'watch-snapshots',
    summary: 'print each committed snapshot (its GLT, members and timing) as the deployment commits it',
    options: {
      count: { description: 'snapshots to print before exiting', default: '5' },
      region: { description: "the region whose leader serves the watch (default: the topology's first)" },
    },
  },
  async ({ client, options, say }) => {
    const count = positiveInteger('count', options['count']);
    const region = options['region'] ?? client.topology.regions[0]!.name;
    say(`watching committed snapshots through ${region}'s leader (Snapshots.Watch) for ${count} snapshots`);
    let seen = 0;
    let previous: Glt | undefined;
    let firstAtMs = 0;
    let lastAtMs = 0;
    for await (const s of client.watchSnapshots({ region })) {
      if (previous !== undefined && compareGlt(s.glt, previous) <= 0) {
        throw new AetherError('INTERNAL', `snapshot GLT ${formatGlt(s.glt)} came after ${formatGlt(previous)}: committed GLTs must increase`);
      }
      previous = s.glt;
      if (seen === 0) firstAtMs = s.committedAtMs;
      lastAtMs = s.committedAtMs;
      seen++;
      const phases = s.phases.map((p) => `${p.name} ${p.ms.toFixed(1)} ms`).join(', ');
      say(`snapshot ${seen}/${count}: GLT ${formatGlt(s.glt)} members ${s.members.join(',')} epoch ${s.epoch} (${phases || 'no phases'})`);
      if (seen === count) break;
    }
    if (seen < count) throw new AetherError('UNAVAILABLE', `the watch ended after ${seen} of ${count} snapshots`);
    const every = count > 1 ? `, one every ${((lastAtMs - firstAtMs) / (count - 1)).toFixed(0)} ms` : '';
    say(`watched ${count} snapshots, GLTs increasing${every}`);
  },
);
