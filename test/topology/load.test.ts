import test from 'ava';
import { stringify } from 'yaml';
import { checkTopologyText, loadTopology, TopologyInvalidError } from '../../topology/load.js';
import type { TopologyProblem } from '../../topology/problem.js';

/** A small valid topology as plain data; each test breaks one thing. */
function base(): any {
  return {
    version: 1,
    name: 't',
    regions: [
      {
        name: 'a',
        leaders: [{ id: 'a-l1', grpc: '127.0.0.1:7101', quantum: '127.0.0.1:7201', metrics: '127.0.0.1:9101' }],
        datanodes: [{ id: 'a-d1', grpc: '127.0.0.1:7301', dataDir: 'd/a1', metrics: '127.0.0.1:9301' }],
      },
      {
        name: 'b',
        leaders: [{ id: 'b-l1', grpc: '127.0.0.1:7102', quantum: '127.0.0.1:7202', metrics: '127.0.0.1:9102' }],
        datanodes: [{ id: 'b-d1', grpc: '127.0.0.1:7302', dataDir: 'd/b1', metrics: '127.0.0.1:9302' }],
      },
    ],
    coordinators: [{ id: 'c1', region: 'a', quantum: '127.0.0.1:7401', metrics: '127.0.0.1:9401' }],
  };
}

function problems(doc: unknown): TopologyProblem[] {
  const r = checkTopologyText(typeof doc === 'string' ? doc : stringify(doc), '/x/t.yaml');
  return r.ok ? [] : [...r.problems];
}

function expectOne(t: any, doc: unknown, path: string, code: string) {
  const ps = problems(doc);
  t.true(
    ps.some((p) => p.path === path && p.code === code && p.file === '/x/t.yaml' && p.message !== ''),
    `expected ${code} at ${path}, got ${JSON.stringify(ps.map((p) => [p.path, p.code]))}`,
  );
}

test('the minimal topology is valid and gets its defaults', (t) => {
  const r = checkTopologyText(stringify(base()), '/x/t.yaml');
  if (!r.ok) return t.fail(JSON.stringify(r.problems));
  t.deepEqual(r.topology.links, { default: { delayMs: 0, jitterMs: 0, loss: 0 }, overrides: [] });
  t.deepEqual(r.topology.security, { insecure: false, certsDir: '.aetherflow/certs', quantumKeyFile: null, etcd: { caFile: null, certFile: null, keyFile: null, username: null, passwordFile: null } });
  t.deepEqual(r.topology.etcd, { endpoints: [], members: 1, dataDir: '.aetherflow/etcd' });
  t.deepEqual(r.topology.snapshot, {
    intervalMs: 50,
    budgetMs: 50,
    retentionSec: 600,
    silenceMs: 300,
    lagLimitMs: 1000,
    admission: { maxLagMs: 500, maxUnshippedBytes: 16 * 1024 * 1024, waitMs: 2000 },
  });
  t.is(r.topology.clock.maxOffsetMs, 250);
  t.is(r.topology.file, '/x/t.yaml');
  t.deepEqual(r.topology.warnings, []);
});

/** The warnings of a valid document (fails the test when it is not valid). */
function warnings(t: any, doc: unknown): TopologyProblem[] {
  const r = checkTopologyText(stringify(doc), '/x/t.yaml');
  if (!r.ok) {
    t.fail(JSON.stringify(r.problems));
    return [];
  }
  return [...r.topology.warnings];
}

test('the exclusion and admission limits take what is given, defaults for the rest', (t) => {
  const d = base();
  d.snapshot = { silenceMs: 450, admission: { waitMs: 0 } };
  const r = checkTopologyText(stringify(d), '/x/t.yaml');
  if (!r.ok) return t.fail(JSON.stringify(r.problems));
  t.like(r.topology.snapshot, { intervalMs: 50, silenceMs: 450, lagLimitMs: 1000, admission: { maxLagMs: 500, maxUnshippedBytes: 16 * 1024 * 1024, waitMs: 0 } });
});

test('bad exclusion and admission limits', (t) => {
  const cases: [Record<string, unknown>, string, string][] = [
    [{ silenceMs: 0 }, 'snapshot.silenceMs', 'bad-value'],
    [{ silenceMs: 'soon' }, 'snapshot.silenceMs', 'wrong-type'],
    [{ lagLimitMs: -5 }, 'snapshot.lagLimitMs', 'bad-value'],
    [{ lagLimitMs: 1.5 }, 'snapshot.lagLimitMs', 'wrong-type'],
    [{ admission: { maxLagMs: 0 } }, 'snapshot.admission.maxLagMs', 'bad-value'],
    [{ admission: { maxUnshippedBytes: '16MiB' } }, 'snapshot.admission.maxUnshippedBytes', 'wrong-type'],
    [{ admission: { waitMs: -1 } }, 'snapshot.admission.waitMs', 'bad-value'],
    [{ admission: { queue: 10 } }, 'snapshot.admission.queue', 'unknown-field'],
    [{ admission: 5 }, 'snapshot.admission', 'wrong-type'],
    [{ missThreshold: 0 }, 'snapshot.missThreshold', 'bad-value'],
  ];
  for (const [snapshot, path, code] of cases) {
    const d = base();
    d.snapshot = snapshot;
    expectOne(t, d, path, code);
  }
});

test('budget larger than interval: a warning, the topology stays valid', (t) => {
  const d = base();
  d.snapshot = { intervalMs: 50, budgetMs: 80 };
  const ws = warnings(t, d);
  t.deepEqual(
    ws.map((w) => [w.file, w.path, w.code]),
    [['/x/t.yaml', 'snapshot.budgetMs', 'budget-exceeds-interval']],
  );
  t.is(typeof ws[0]!.line, 'number');
  // Against the default interval too.
  const e = base();
  e.snapshot = { budgetMs: 51 };
  t.deepEqual(warnings(t, e).map((w) => w.code), ['budget-exceeds-interval']);
  const equal = base();
  equal.snapshot = { intervalMs: 80, budgetMs: 80 };
  t.deepEqual(warnings(t, equal), []);
});

test('missThreshold is accepted and ignored, with a warning', (t) => {
  const d = base();
  d.snapshot = { intervalMs: 50, budgetMs: 50, retentionSec: 600, missThreshold: 2 };
  t.deepEqual(
    warnings(t, d).map((w) => [w.file, w.path, w.code]),
    [['/x/t.yaml', 'snapshot.missThreshold', 'ignored-field']],
  );
});

test('the shipped topologies are valid', (t) => {
  for (const f of ['topology/local.yaml', 'topology/wan.yaml']) {
    const topo = loadTopology(f);
    t.is(topo.regions.length, 3);
    for (const r of topo.regions) {
      t.is(r.leaders.length, 2);
      t.is(r.datanodes.length, 2);
    }
    t.is(topo.coordinators.length, 2);
    t.deepEqual(topo.warnings, [], `${f} loads without warnings`);
  }
  const wan = loadTopology('topology/wan.yaml');
  t.true(wan.links.overrides.every((o) => o.delayMs >= 5 && o.delayMs <= 40 && o.loss === 0.001));
});

test('yaml syntax errors carry line and column', (t) => {
  const ps = problems('version: 1\nregions: [\n  a: 1\n');
  t.true(ps.length > 0);
  t.is(ps[0]!.code, 'yaml-syntax');
  t.is(typeof ps[0]!.line, 'number');
  t.is(typeof ps[0]!.col, 'number');
});

test('a document that is not a mapping', (t) => expectOne(t, '- 1\n- 2\n', '', 'not-a-mapping'));

test('missing field', (t) => {
  const d = base();
  delete d.regions[1].datanodes[0].grpc;
  expectOne(t, d, 'regions[1].datanodes[0].grpc', 'missing-field');
});

test('unknown field', (t) => {
  const d = base();
  d.regions[0].leaders[0].port = 1;
  expectOne(t, d, 'regions[0].leaders[0].port', 'unknown-field');
});

test('wrong type', (t) => {
  const d = base();
  d.snapshot = { intervalMs: 'fast' };
  expectOne(t, d, 'snapshot.intervalMs', 'wrong-type');
});

test('unsupported version', (t) => {
  const d = base();
  d.version = 2;
  expectOne(t, d, 'version', 'unsupported-version');
});

test('etcd members other than 1 or 3', (t) => {
  const d = base();
  d.etcd = { members: 2 };
  expectOne(t, d, 'etcd.members', 'bad-value');
});

test('duplicate id', (t) => {
  const d = base();
  d.regions[1].datanodes[0].id = 'a-d1';
  expectOne(t, d, 'regions[1].datanodes[0].id', 'duplicate-id');
});

test('duplicate region', (t) => {
  const d = base();
  d.regions[1].name = 'a';
  expectOne(t, d, 'regions[1].name', 'duplicate-region');
});

test('duplicate address anywhere in the file', (t) => {
  const d = base();
  d.coordinators[0].metrics = '127.0.0.1:7301';
  expectOne(t, d, 'coordinators[0].metrics', 'duplicate-address');
});

test('duplicate dataDir', (t) => {
  const d = base();
  d.regions[1].datanodes[0].dataDir = 'd/a1';
  expectOne(t, d, 'regions[1].datanodes[0].dataDir', 'duplicate-datadir');
});

test('malformed addresses', (t) => {
  for (const bad of ['127.0.0.1', '127.0.0.1:0', '127.0.0.1:70000', 'host name:80', '300.1.1.1:80', ':80']) {
    const d = base();
    d.regions[1].datanodes[0].grpc = bad;
    expectOne(t, d, 'regions[1].datanodes[0].grpc', 'bad-address');
  }
  const d = base();
  d.etcd = { endpoints: ['http://127.0.0.1:2379', 'nope'] };
  expectOne(t, d, 'etcd.endpoints[1]', 'bad-address');
  t.is(problems({ ...base(), etcd: { endpoints: ['http://127.0.0.1:2379', 'localhost:2379'] } }).length, 0);
});

test('link naming an unknown region', (t) => {
  const d = base();
  d.links = { overrides: [{ from: 'a', to: 'zz', delayMs: 5 }] };
  expectOne(t, d, 'links.overrides[0].to', 'unknown-region');
});

test('link from a region to itself, and a link set twice', (t) => {
  const d = base();
  d.links = { overrides: [{ from: 'a', to: 'a', delayMs: 5 }] };
  expectOne(t, d, 'links.overrides[0]', 'bad-link');
  const e = base();
  e.links = { overrides: [{ from: 'a', to: 'b', delayMs: 5 }, { from: 'a', to: 'b', delayMs: 6 }] };
  expectOne(t, e, 'links.overrides[1]', 'duplicate-link');
});

test('loss out of range', (t) => {
  const d = base();
  d.links = { default: { loss: 1.5 } };
  expectOne(t, d, 'links.default.loss', 'bad-value');
});

test('coordinator naming an unknown region', (t) => {
  const d = base();
  d.coordinators[0].region = 'zz';
  expectOne(t, d, 'coordinators[0].region', 'unknown-region');
});

test('regions with no leader or no data node, and empty lists', (t) => {
  const d = base();
  d.regions[0].leaders = [];
  d.regions[1].datanodes = [];
  expectOne(t, d, 'regions[0].leaders', 'no-leader');
  expectOne(t, d, 'regions[1].datanodes', 'no-datanode');
  expectOne(t, { ...base(), coordinators: [] }, 'coordinators', 'no-coordinator');
  expectOne(t, { ...base(), regions: [], coordinators: [] }, 'regions', 'no-region');
});

test('every problem is reported at once, and the warnings with them', (t) => {
  const d = base();
  d.regions[0].leaders[0].bogus = 1;
  d.regions[1].datanodes[0].grpc = 'x';
  d.snapshot = { intervalMs: 10, budgetMs: 20 };
  const r = checkTopologyText(stringify(d), '/x/t.yaml');
  if (r.ok) return t.fail('an invalid topology was accepted');
  t.deepEqual(r.problems.map((p) => p.code).sort(), ['bad-address', 'unknown-field']);
  t.deepEqual(r.warnings.map((w) => w.code), ['budget-exceeds-interval']);
});

test('loadTopology throws TOPOLOGY_INVALID with the problems', (t) => {
  const err = t.throws(() => loadTopology('test/topology/no-such-file.yaml'));
  t.is((err as any).code, 'TOPOLOGY_INVALID');
  const e2 = t.throws(() => loadTopology('package.json'), { instanceOf: TopologyInvalidError });
  t.is(e2.code, 'TOPOLOGY_INVALID');
  t.true(Array.isArray(e2.details['problems']));
});

test('security: secure unless the file says insecure, which warns', (t) => {
  const secure = checkTopologyText(stringify({ ...base(), security: { certsDir: '/etc/aetherflow/certs' } }), '/x/t.yaml');
  if (!secure.ok) return t.fail(JSON.stringify(secure.problems));
  t.false(secure.topology.security.insecure);
  t.is(secure.topology.security.certsDir, '/etc/aetherflow/certs');
  t.deepEqual(warnings(t, { ...base(), security: { insecure: true } }).map((w) => [w.path, w.code]), [['security.insecure', 'insecure']]);
  expectOne(t, { ...base(), security: { insecure: 'no' } }, 'security.insecure', 'wrong-type');
  expectOne(t, { ...base(), security: { certsDir: '' } }, 'security.certsDir', 'bad-value');
});

test('storage.sync and security.etcd default to a synced store and no etcd credentials', (t) => {
  const r = checkTopologyText(stringify(base()), '/x/t.yaml');
  if (!r.ok) return t.fail(JSON.stringify(r.problems));
  t.deepEqual(r.topology.storage, { sync: true });
  t.deepEqual(r.topology.security.etcd, { caFile: null, certFile: null, keyFile: null, username: null, passwordFile: null });
  const off = checkTopologyText(stringify({ ...base(), storage: { sync: false } }), '/x/t.yaml');
  t.true(off.ok && off.topology.storage.sync === false);
  expectOne(t, { ...base(), storage: { sync: 'yes' } }, 'storage.sync', 'wrong-type');
});

test('security.etcd: a certificate needs its key and a CA, a password needs its user and the other way round', (t) => {
  const external = (etcd: Record<string, unknown>) => ({ ...base(), etcd: { endpoints: ['etcd.example:2379'] }, security: { etcd } });
  t.deepEqual(problems(external({ caFile: 'ca.pem', certFile: 'c.pem', keyFile: 'k.pem', username: 'root', passwordFile: 'pw' })), []);
  expectOne(t, external({ caFile: 'ca.pem', certFile: 'c.pem' }), 'security.etcd.keyFile', 'missing-field');
  expectOne(t, external({ caFile: 'ca.pem', keyFile: 'k.pem' }), 'security.etcd.certFile', 'missing-field');
  expectOne(t, external({ certFile: 'c.pem', keyFile: 'k.pem' }), 'security.etcd.caFile', 'missing-field');
  expectOne(t, external({ passwordFile: 'pw' }), 'security.etcd.username', 'missing-field');
  expectOne(t, external({ username: 'root' }), 'security.etcd.passwordFile', 'missing-field');
  expectOne(t, external({ username: '', passwordFile: 'pw' }), 'security.etcd.username', 'bad-value');
  expectOne(t, external({ tls: true }), 'security.etcd.tls', 'unknown-field');
  expectOne(t, { ...external({ caFile: 'ca.pem' }), etcd: { endpoints: ['http://etcd.example:2379'] } }, 'etcd.endpoints[0]', 'bad-address');
  t.deepEqual(problems({ ...external({ caFile: 'ca.pem' }), etcd: { endpoints: ['https://etcd.example:2379', 'etcd.example:2380'] } }), []);
});

test('security.etcd with the local etcd of up: valid, with a warning that it is not used', (t) => {
  const ws = warnings(t, { ...base(), security: { etcd: { username: 'root', passwordFile: 'pw' } } });
  t.deepEqual(ws.map((w) => [w.path, w.code]), [['security.etcd', 'ignored-field']]);
});
