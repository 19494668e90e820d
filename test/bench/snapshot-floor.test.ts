import test from 'ava';
import { roundNetworkFloor } from '../../bench/snapshot.js';
import { loadTopology } from '../../topology/load.js';

test("wan.yaml's round floor is its slowest Begin → delta → Ready path", (t) => {
  const wan = loadTopology('topology/wan.yaml');
  // us-east coordinator: Begin to ap-south 40, ap-south's delta to eu-west 20, eu-west's Ready back 35.
  t.is(roundNetworkFloor(wan, 'us-east').floorMs, 95);
  t.is(roundNetworkFloor(wan, 'eu-west').floorMs, 95);
});

test('local.yaml has no emulated delay: its floor is 0', (t) => {
  t.is(roundNetworkFloor(loadTopology('topology/local.yaml'), 'us-east').floorMs, 0);
});
