import { parseHostPort } from '../common/host-port.js';
import { formatPath, type TopologyProblem, type TopologyProblemCode } from './problem.js';

type Segments = readonly (string | number)[];
type Locate = (segments: Segments) => { line: number; col: number } | undefined;

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
function list(v: unknown): unknown[] {
  return Array.isArray(v) ? v : [];
}
function str(v: unknown): string | undefined {
  return typeof v === 'string' ? v : undefined;
}

/**
 * What the JSON Schema cannot express: uniqueness across the whole file, references
 * between sections, address syntax. Written defensively so it reports its own problems
 * even when the schema found others.
 */
export function checkSemantics(doc: unknown, file: string, locate: Locate): TopologyProblem[] {
  const problems: TopologyProblem[] = [];
  const report = (segments: Segments, code: TopologyProblemCode, message: string) =>
    problems.push({ file, path: formatPath(segments), code, message, ...locate(segments) });
  if (!isObject(doc)) return problems;

  const regionNames = new Set<string>();
  const ids = new Map<string, string>();
  const addresses = new Map<string, string>();
  const dataDirs = new Map<string, string>();

  const claimId = (segments: Segments, value: unknown) => {
    const v = str(value);
    if (v === undefined) return;
    const first = ids.get(v);
    if (first !== undefined) report(segments, 'duplicate-id', `id "${v}" is already used at ${first}`);
    else ids.set(v, formatPath(segments));
  };
  const claimAddress = (segments: Segments, value: unknown) => {
    const v = str(value);
    if (v === undefined) return;
    const hp = parseHostPort(v);
    if (!hp) {
      report(segments, 'bad-address', `"${v}" is not host:port (port 1-65535)`);
      return;
    }
    const key = `${hp.host.toLowerCase()}:${hp.port}`;
    const first = addresses.get(key);
    if (first !== undefined) report(segments, 'duplicate-address', `address ${v} is already used at ${first}`);
    else addresses.set(key, formatPath(segments));
  };

  list(doc['regions']).forEach((r, i) => {
    if (!isObject(r)) return;
    const name = str(r['name']);
    if (name !== undefined) {
      if (regionNames.has(name)) report(['regions', i, 'name'], 'duplicate-region', `region "${name}" is defined twice`);
      regionNames.add(name);
    }
    if (Array.isArray(r['leaders']) && r['leaders'].length === 0) report(['regions', i, 'leaders'], 'no-leader', 'a region needs at least one leader candidate');
    if (Array.isArray(r['datanodes']) && r['datanodes'].length === 0) report(['regions', i, 'datanodes'], 'no-datanode', 'a region needs at least one data node');
    list(r['leaders']).forEach((l, j) => {
      if (!isObject(l)) return;
      claimId(['regions', i, 'leaders', j, 'id'], l['id']);
      for (const f of ['grpc', 'quantum', 'metrics']) claimAddress(['regions', i, 'leaders', j, f], l[f]);
    });
    list(r['datanodes']).forEach((d, j) => {
      if (!isObject(d)) return;
      claimId(['regions', i, 'datanodes', j, 'id'], d['id']);
      for (const f of ['grpc', 'metrics']) claimAddress(['regions', i, 'datanodes', j, f], d[f]);
      const dir = str(d['dataDir']);
      if (dir !== undefined) {
        const first = dataDirs.get(dir);
        if (first !== undefined) report(['regions', i, 'datanodes', j, 'dataDir'], 'duplicate-datadir', `dataDir ${dir} is already used at ${first}`);
        else dataDirs.set(dir, formatPath(['regions', i, 'datanodes', j, 'dataDir']));
      }
    });
  });
  if (Array.isArray(doc['regions']) && doc['regions'].length === 0) report(['regions'], 'no-region', 'the topology needs at least one region');

  if (Array.isArray(doc['coordinators']) && doc['coordinators'].length === 0) report(['coordinators'], 'no-coordinator', 'the topology needs at least one coordinator candidate');
  list(doc['coordinators']).forEach((c, i) => {
    if (!isObject(c)) return;
    claimId(['coordinators', i, 'id'], c['id']);
    const region = str(c['region']);
    if (region !== undefined && !regionNames.has(region)) report(['coordinators', i, 'region'], 'unknown-region', `region "${region}" is not defined in regions`);
    for (const f of ['quantum', 'metrics']) claimAddress(['coordinators', i, f], c[f]);
  });

  const etcd = doc['etcd'];
  const etcdSecurity = isObject(doc['security']) ? doc['security']['etcd'] : undefined;
  const tls = isObject(etcdSecurity) && str(etcdSecurity['caFile']) !== undefined;
  if (isObject(etcd)) {
    list(etcd['endpoints']).forEach((e, i) => {
      const v = str(e);
      if (v !== undefined && !parseHostPort(v.replace(/^https?:\/\//, ''))) report(['etcd', 'endpoints', i], 'bad-address', `"${v}" is not host:port or http(s)://host:port`);
      else if (v?.startsWith('http://') && tls) report(['etcd', 'endpoints', i], 'bad-address', `"${v}" is plaintext, but security.etcd.caFile asks for TLS: write https:// or host:port`);
    });
  }
  if (isObject(etcdSecurity)) {
    const given = (f: string) => str(etcdSecurity[f]) !== undefined;
    const needs = (f: string, other: string, why: string) => {
      if (given(f) && !given(other)) report(['security', 'etcd', other], 'missing-field', `security.etcd.${f} needs ${other}: ${why}`);
    };
    needs('certFile', 'keyFile', 'a client certificate goes with its private key');
    needs('keyFile', 'certFile', 'a client certificate goes with its private key');
    needs('certFile', 'caFile', 'a client certificate is sent over TLS, which checks the server against caFile');
    needs('passwordFile', 'username', 'the password is the password of a user');
    needs('username', 'passwordFile', 'etcd authenticates the user with a password (a client certificate alone names the user by its CN)');
  }

  const links = doc['links'];
  if (isObject(links)) {
    const pairs = new Map<string, string>();
    list(links['overrides']).forEach((o, i) => {
      if (!isObject(o)) return;
      const from = str(o['from']);
      const to = str(o['to']);
      if (from !== undefined && !regionNames.has(from)) report(['links', 'overrides', i, 'from'], 'unknown-region', `region "${from}" is not defined in regions`);
      if (to !== undefined && !regionNames.has(to)) report(['links', 'overrides', i, 'to'], 'unknown-region', `region "${to}" is not defined in regions`);
      if (from === undefined || to === undefined) return;
      if (from === to) {
        report(['links', 'overrides', i], 'bad-link', `a link joins two different regions, not "${from}" to itself`);
        return;
      }
      // An override is one direction (from → to); the reverse direction is its own entry.
      const key = `${from}\u0000${to}`;
      const first = pairs.get(key);
      if (first !== undefined) report(['links', 'overrides', i], 'duplicate-link', `the link ${from} → ${to} is already set at ${first}`);
      else pairs.set(key, formatPath(['links', 'overrides', i]));
    });
  }
  return problems;
}

/** What is valid but probably not what the author meant: reported, never refused. */
export function checkWarnings(doc: unknown, file: string, locate: Locate): TopologyProblem[] {
  const warnings: TopologyProblem[] = [];
  const warn = (segments: Segments, code: TopologyProblemCode, message: string) => warnings.push({ file, path: formatPath(segments), code, message, ...locate(segments) });
  if (!isObject(doc)) return warnings;
  const security = doc['security'];
  if (isObject(security) && security['insecure'] === true) {
    warn(['security', 'insecure'], 'insecure', 'gRPC runs in plaintext and Quantum unauthenticated: anyone who reaches a port can read and write; for throwaway setups only');
  }
  const etcdSecurity = isObject(security) ? security['etcd'] : undefined;
  const endpoints = isObject(doc['etcd']) ? list(doc['etcd']['endpoints']) : [];
  if (isObject(etcdSecurity) && endpoints.length === 0 && Object.values(etcdSecurity).some((v) => v !== null && v !== undefined)) {
    warn(['security', 'etcd'], 'ignored-field', 'security.etcd applies to an external etcd (etcd.endpoints); the local etcd of `up` listens in plaintext on loopback');
  }
  const snapshot = doc['snapshot'];
  if (!isObject(snapshot)) return warnings;
  if (typeof snapshot['budgetMs'] === 'number' && typeof snapshot['intervalMs'] === 'number' && snapshot['budgetMs'] > snapshot['intervalMs']) {
    warn(['snapshot', 'budgetMs'], 'budget-exceeds-interval', `budgetMs ${snapshot['budgetMs']} is larger than intervalMs ${snapshot['intervalMs']}: commits that take their whole budget fall behind the interval`);
  }
  if (snapshot['missThreshold'] !== undefined) {
    warn(['snapshot', 'missThreshold'], 'ignored-field', 'missThreshold belongs to the round-based pipeline and is ignored: exclusion follows silenceMs and lagLimitMs');
  }
  return warnings;
}
