import test from 'ava';
import { etcdVisibilityFloor, linkDelayMs, quorumRoundTripMs, visibilityFloor, visibilityPath } from '../../bench/floors.js';
import { loadTopology } from '../../topology/load.js';

const wan = loadTopology('topology/wan.yaml');
const regions = wan.regions.map((r) => r.name);
const d = (a: string, b: string) => linkDelayMs(wan, a, b);

test("wan.yaml's visibility floor is its slowest origin → member → coordinator → reader path plus one interval", (t) => {
  // Coordinator in us-east: a write in us-east reaches ap-south (40), whose Progress comes back (40), then the Commit goes to ap-south (40).
  const us = visibilityFloor(wan, 'us-east');
  t.is(us.networkMs, 120);
  t.is(us.intervalMs, 50);
  t.is(us.floorMs, 170);
  t.true(us.path.includes('us-east') && us.path.includes('ap-south'));
  // Coordinator in eu-west: ap-south → us-east (40) → eu-west (35) → us-east (35).
  t.is(visibilityFloor(wan, 'eu-west').floorMs, 160);
  t.is(visibilityFloor(wan, 'ap-south').floorMs, 170);
});

test('a path takes its slowest member, and a region reaches itself at no cost', (t) => {
  t.deepEqual(visibilityPath(regions, d, 'us-east', 'eu-west', 'ap-south'), { ms: 20 + 40 + 40, member: 'ap-south' });
  t.is(linkDelayMs(wan, 'us-east', 'us-east'), 0);
});

test('the mean floor lies between the fastest pair and the worst', (t) => {
  const f = visibilityFloor(wan, 'us-east');
  t.true(f.meanFloorMs > f.intervalMs / 2 && f.meanFloorMs < f.floorMs);
});

test('local.yaml has no emulated delay: its floor is one interval', (t) => {
  const f = visibilityFloor(loadTopology('topology/local.yaml'), 'us-east');
  t.is(f.networkMs, 0);
  t.is(f.floorMs, 50);
});

test("etcd's floor is a ReadIndex through the leader and its nearest quorum", (t) => {
  t.is(quorumRoundTripMs(regions, d, 'us-east'), 70);
  t.is(quorumRoundTripMs(regions, d, 'eu-west'), 40);
  const us = etcdVisibilityFloor(regions, d, 'us-east');
  t.is(us.floorMs, 40 + 70 + 40);
  t.is(us.meanFloorMs, (150 + 140 + 70) / 3);
  t.is(etcdVisibilityFloor(regions, d, 'eu-west').floorMs, 35 + 40 + 35);
  // Five members: a majority is the leader and its two nearest followers.
  const five = ['a', 'b', 'c', 'e', 'f'];
  const rtt: Record<string, number> = { b: 1, c: 2, e: 3, f: 4 };
  t.is(quorumRoundTripMs(five, (x, y) => (x === 'a' ? rtt[y]! : rtt[x]!), 'a'), 4);
});
