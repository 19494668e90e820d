import { X509Certificate } from 'node:crypto';
import test from 'ava';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments } from 'yaml';
import { Deployment } from 'kubernetes-models/apps/v1/Deployment';
import { StatefulSet } from 'kubernetes-models/apps/v1/StatefulSet';
import { HorizontalPodAutoscaler } from 'kubernetes-models/autoscaling/v2/HorizontalPodAutoscaler';
import { ConfigMap } from 'kubernetes-models/v1/ConfigMap';
import { Namespace } from 'kubernetes-models/v1/Namespace';
import { Secret } from 'kubernetes-models/v1/Secret';
import { Service } from 'kubernetes-models/v1/Service';
import { AetherError } from '../../common/errors.js';
import { run } from '../../cli/program.js';
import { loadTopology, checkTopologyText } from '../../topology/load.js';
import { CERTS_DIR, ETCD_CREDENTIALS_DIR, TOPOLOGY_PATH, dnsName, manifestsYaml, renderK8s, type Manifest } from '../../topology/k8s.js';
import { ensureCertificates, type CertificateSubjects } from '../../security/certs-dir.js';
import { nodeIdOf } from '../../security/certificates.js';
import type { Topology } from '../../topology/types.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const topologies = ['local', 'wan'].map((n) => loadTopology(join(root, 'topology', `${n}.yaml`)));

/** kubernetes-models: each kind's model validates against the official OpenAPI schema (ajv). */
const models: Record<string, new (m: never) => { validate(): void }> = {
  'v1/Namespace': Namespace,
  'v1/ConfigMap': ConfigMap,
  'v1/Service': Service,
  'v1/Secret': Secret,
  'apps/v1/StatefulSet': StatefulSet,
  'apps/v1/Deployment': Deployment,
  'autoscaling/v2/HorizontalPodAutoscaler': HorizontalPodAutoscaler,
};

interface Container {
  name: string;
  command?: string[];
  args?: string[];
  ports?: { name: string; containerPort: number; protocol: string }[];
  readinessProbe?: { httpGet?: { path: string; port: string | number } };
  livenessProbe?: { httpGet?: { path: string; port: string | number } };
  volumeMounts?: { name: string; mountPath: string }[];
}
interface PodTemplate {
  metadata: { labels: Record<string, string>; annotations?: Record<string, string> };
  spec: { containers: Container[]; volumes?: { name: string; configMap?: { name: string }; secret?: { secretName: string; items?: { key: string; path: string }[] } }[] };
}
interface Workload extends Manifest {
  spec: { replicas: number; selector: { matchLabels: Record<string, string> }; template: PodTemplate; serviceName?: string; volumeClaimTemplates?: { metadata: { name: string } }[] };
}
interface ServiceManifest extends Manifest {
  spec: { selector: Record<string, string>; ports: { name: string; port: number; protocol: string }[] };
}

const all = (t: Topology) => renderK8s(t).files.flatMap((f) => f.manifests);
const workloads = (ms: readonly Manifest[]) => ms.filter((m) => m.kind === 'StatefulSet' || m.kind === 'Deployment') as Workload[];
const matches = (selector: Record<string, string>, labels: Record<string, string>) => Object.entries(selector).every(([k, v]) => labels[k] === v);

for (const topology of topologies) {
  test(`${topology.name}: every rendered object validates against the Kubernetes API schema`, (t) => {
    const ms = all(topology);
    for (const m of ms) {
      const Model = models[`${m.apiVersion}/${m.kind}`];
      t.truthy(Model, `${m.apiVersion} ${m.kind} has no model`);
      t.notThrows(() => new Model!(m as never).validate(), `${m.kind}/${m.metadata.name}`);
    }
    t.deepEqual(new Set(ms.map((m) => m.kind)), new Set(['Namespace', 'ConfigMap', 'Service', 'StatefulSet', 'Deployment', 'HorizontalPodAutoscaler']));
  });

  test(`${topology.name}: names are DNS labels, namespaced objects sit in the one Namespace`, (t) => {
    const ms = all(topology);
    const ns = ms.filter((m) => m.kind === 'Namespace');
    t.is(ns.length, 1);
    const keys = new Set<string>();
    for (const m of ms) {
      t.regex(m.metadata.name, /^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$/, m.metadata.name);
      if (m.kind !== 'Namespace') t.is(m.metadata.namespace, ns[0]!.metadata.name);
      const key = `${m.kind}/${m.metadata.name}`;
      t.false(keys.has(key), key);
      keys.add(key);
    }
  });

  test(`${topology.name}: one workload per process, running its role with its id and the mounted topology`, (t) => {
    const ms = all(topology);
    const ws = workloads(ms);
    const expected = [
      ...topology.regions.flatMap((r) => [...r.datanodes.map((d) => ['StatefulSet', 'datanode', d.id]), ...r.leaders.map((l) => ['Deployment', 'leader', l.id])]),
      ...topology.coordinators.map((c) => ['Deployment', 'coordinator', c.id]),
      ['StatefulSet', 'etcd', 'etcd'],
    ];
    t.is(ws.length, expected.length);
    for (const [kind, role, id] of expected) {
      const w = ws.find((x) => x.metadata.name === dnsName(id!));
      t.truthy(w, id);
      t.is(w!.kind, kind);
      t.is(w!.spec.replicas, role === 'etcd' ? topology.etcd.members : 1);
      if (role === 'etcd') continue;
      const c = w!.spec.template.spec.containers[0]!;
      t.deepEqual(c.command, ['aetherflow']);
      t.deepEqual(c.args, [role, '--id', id, '--topology', TOPOLOGY_PATH]);
      const mount = c.volumeMounts!.find((v) => TOPOLOGY_PATH.startsWith(`${v.mountPath}/`));
      t.truthy(mount, `${id} mounts the topology`);
      t.is(w!.spec.template.spec.volumes!.find((v) => v.name === mount!.name)?.configMap?.name, ms.find((m) => m.kind === 'ConfigMap')!.metadata.name);
      if (kind === 'Deployment') t.is((w!.spec as unknown as { strategy: { type: string } }).strategy.type, 'Recreate');
    }
  });

  test(`${topology.name}: every StatefulSet has a PVC template it mounts, every Service selects pods that exist`, (t) => {
    const ms = all(topology);
    const ws = workloads(ms);
    for (const s of ws.filter((w) => w.kind === 'StatefulSet')) {
      const claims = s.spec.volumeClaimTemplates ?? [];
      t.true(claims.length > 0, s.metadata.name);
      const mounts = s.spec.template.spec.containers.flatMap((c) => c.volumeMounts ?? []).map((v) => v.name);
      for (const c of claims) t.true(mounts.includes(c.metadata.name), `${s.metadata.name} mounts ${c.metadata.name}`);
      t.truthy(ms.find((m) => m.kind === 'Service' && m.metadata.name === s.spec.serviceName), `${s.metadata.name} governing Service`);
    }
    for (const w of ws) t.true(matches(w.spec.selector.matchLabels, w.spec.template.metadata.labels), `${w.metadata.name} selects its own pods`);
    const services = ms.filter((m) => m.kind === 'Service') as ServiceManifest[];
    for (const s of services) {
      const pods = ws.filter((w) => matches(s.spec.selector, w.spec.template.metadata.labels));
      t.is(pods.length, 1, `Service ${s.metadata.name} selects one workload`);
      const containerPorts = pods[0]!.spec.template.spec.containers.flatMap((c) => c.ports ?? []);
      for (const p of s.spec.ports) {
        const cp = containerPorts.find((x) => x.name === p.name);
        t.truthy(cp, `${s.metadata.name} port ${p.name}`);
        t.is(cp!.protocol, p.protocol);
      }
    }
  });

  test(`${topology.name}: Quantum over UDP, gRPC and metrics over TCP; probes and scrape annotations at the metrics port`, (t) => {
    const ms = all(topology);
    const services = ms.filter((m) => m.kind === 'Service') as ServiceManifest[];
    const processes = [...topology.regions.flatMap((r) => [...r.leaders, ...r.datanodes]), ...topology.coordinators];
    for (const p of processes) {
      const s = services.find((x) => x.metadata.name === dnsName(p.id))!;
      const port = (addr: string) => Number(addr.slice(addr.lastIndexOf(':') + 1));
      const expected = [
        ...('grpc' in p ? [{ name: 'grpc', port: port(p.grpc), protocol: 'TCP' }] : []),
        ...('quantum' in p ? [{ name: 'quantum', port: port(p.quantum), protocol: 'UDP' }] : []),
        { name: 'metrics', port: port(p.metrics), protocol: 'TCP' },
      ];
      t.deepEqual(s.spec.ports.map(({ name, port, protocol }) => ({ name, port, protocol })), expected, p.id);
    }
    for (const w of workloads(ms).filter((x) => x.metadata.name !== 'etcd')) {
      const c = w.spec.template.spec.containers[0]!;
      const metrics = c.ports!.find((p) => p.name === 'metrics')!;
      for (const probe of [c.readinessProbe, c.livenessProbe]) {
        t.is(probe?.httpGet?.path, '/healthz', w.metadata.name);
        t.true(probe?.httpGet?.port === 'metrics' || probe?.httpGet?.port === metrics.containerPort, w.metadata.name);
      }
      const a = w.spec.template.metadata.annotations!;
      t.is(a['prometheus.io/scrape'], 'true');
      t.is(a['prometheus.io/port'], String(metrics.containerPort));
      t.is(a['prometheus.io/path'], '/metrics');
    }
    const hpa = ms.find((m) => m.kind === 'HorizontalPodAutoscaler') as Manifest & { spec: { scaleTargetRef: { kind: string; name: string }; metrics: { type: string }[] } };
    t.truthy(ms.find((m) => m.kind === hpa.spec.scaleTargetRef.kind && m.metadata.name === hpa.spec.scaleTargetRef.name));
    t.is(hpa.spec.metrics[0]!.type, 'Pods');
  });

  test(`${topology.name}: the ConfigMap's topology is valid and names each process by its Service`, (t) => {
    const r = renderK8s(topology);
    const cm = r.files.flatMap((f) => f.manifests).find((m) => m.kind === 'ConfigMap') as Manifest & { data: Record<string, string> };
    const check = checkTopologyText(cm.data['topology.yaml']!, TOPOLOGY_PATH);
    t.true(check.ok, JSON.stringify(check.ok ? '' : check.problems));
    if (!check.ok) return;
    const k8s = check.topology;
    const suffix = `.${r.namespace}.svc.cluster.local`;
    for (const [i, region] of k8s.regions.entries()) {
      for (const [j, l] of region.leaders.entries()) {
        t.is(l.id, topology.regions[i]!.leaders[j]!.id);
        for (const a of [l.grpc, l.quantum, l.metrics]) t.true(a.startsWith(`${dnsName(l.id)}${suffix}:`), a);
      }
      for (const d of region.datanodes) {
        t.true(d.grpc.startsWith(`${dnsName(d.id)}${suffix}:`));
        t.true(d.dataDir.startsWith('/var/lib/aetherflow/'));
      }
    }
    for (const c of k8s.coordinators) t.true(c.quantum.startsWith(`${dnsName(c.id)}${suffix}:`));
    t.deepEqual(k8s.etcd.endpoints, Array.from({ length: topology.etcd.members }, (_, i) => `etcd-${i}.etcd${suffix}:2379`));
    t.deepEqual(k8s.links, topology.links);
    t.deepEqual(k8s.snapshot, topology.snapshot);
  });
}

test('the schema validator is live: a malformed StatefulSet fails', (t) => {
  const sts = workloads(all(topologies[0]!)).find((w) => w.kind === 'StatefulSet')!;
  const broken = { ...sts, spec: { ...sts.spec, replicas: 'one', template: { ...sts.spec.template, spec: { containers: [{ image: 'x' }] } } } };
  t.throws(() => new StatefulSet(broken as never).validate());
});

test('a topology with external etcd endpoints renders no etcd and keeps the endpoints', (t) => {
  const base = topologies[0]!;
  const external: Topology = { ...base, etcd: { ...base.etcd, endpoints: ['etcd.example.com:2379'] } };
  const r = renderK8s(external);
  const ms = r.files.flatMap((f) => f.manifests);
  t.false(ms.some((m) => m.metadata.name === 'etcd'));
  t.deepEqual((r.topology['etcd'] as { endpoints: string[] }).endpoints, ['etcd.example.com:2379']);
});

/** A topology of external etcd with `security.etcd` naming files written into `dir` (contents are opaque to the renderer). */
function withEtcdCredentials(dir: string, fields: readonly ('tls' | 'password')[]): Topology {
  const base = topologies[0]!;
  const file = (name: string, text: string) => {
    writeFileSync(join(dir, name), text);
    return join(dir, name);
  };
  const tls = fields.includes('tls') ? { caFile: file('etcd-ca.pem', 'CA\n'), certFile: file('etcd-client.pem', 'CERT\n'), keyFile: file('etcd-client-key.pem', 'KEY\n') } : { caFile: null, certFile: null, keyFile: null };
  const auth = fields.includes('password') ? { username: 'aetherflow', passwordFile: file('etcd-password', 's3cret\n') } : { username: null, passwordFile: null };
  return { ...base, etcd: { ...base.etcd, endpoints: ['etcd.example.com:2379'] }, security: { ...base.security, etcd: { ...tls, ...auth } } };
}

test('security.etcd becomes a Secret every process mounts, and the topology names the mounted files', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'aetherflow-k8s-etcd-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const r = renderK8s(withEtcdCredentials(dir, ['tls', 'password']));
  const file = r.files.find((f) => f.name === '04-etcd-credentials.yaml');
  t.truthy(file);
  const secret = file!.manifests[0] as Manifest & { data: Record<string, string> };
  t.notThrows(() => new Secret(secret as never).validate());
  t.is(secret.metadata.name, 'aetherflow-etcd-credentials');
  const decoded = Object.fromEntries(Object.entries(secret.data).map(([k, v]) => [k, Buffer.from(v, 'base64').toString()]));
  // The password as the processes read it: the file's trailing newline dropped.
  t.deepEqual(decoded, { 'ca.crt': 'CA\n', 'client.crt': 'CERT\n', 'client.key': 'KEY\n', password: 's3cret' });
  t.deepEqual(r.topology['security'], {
    insecure: false,
    certsDir: CERTS_DIR,
    quantumKeyFile: null,
    etcd: { caFile: `${ETCD_CREDENTIALS_DIR}/ca.crt`, certFile: `${ETCD_CREDENTIALS_DIR}/client.crt`, keyFile: `${ETCD_CREDENTIALS_DIR}/client.key`, username: 'aetherflow', passwordFile: `${ETCD_CREDENTIALS_DIR}/password` },
  });
  const cm = r.files.flatMap((f) => f.manifests).find((m) => m.kind === 'ConfigMap') as Manifest & { data: Record<string, string> };
  const check = checkTopologyText(cm.data['topology.yaml']!, TOPOLOGY_PATH);
  t.true(check.ok, JSON.stringify(check.ok ? '' : check.problems));
  const processes = workloads(r.files.flatMap((f) => f.manifests));
  t.is(processes.length, topologies[0]!.regions.reduce((n, x) => n + x.leaders.length + x.datanodes.length, topologies[0]!.coordinators.length));
  for (const w of processes) {
    const spec = w.spec.template.spec;
    t.true(spec.containers[0]!.volumeMounts!.some((v) => v.name === 'etcd-credentials' && v.mountPath === ETCD_CREDENTIALS_DIR), w.metadata.name);
    const volume = spec.volumes!.find((v) => v.name === 'etcd-credentials')!;
    t.is(volume.secret!.secretName, 'aetherflow-etcd-credentials');
    t.deepEqual(volume.secret!.items!.map((i) => i.path).sort(), Object.keys(decoded).sort());
    t.notThrows(() => new (w.kind === 'Deployment' ? Deployment : StatefulSet)(w as never).validate());
  }
});

test('security.etcd with a password only mounts the password; a file that cannot be read is TOPOLOGY_INVALID; the rendered etcd takes none', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'aetherflow-k8s-etcd-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const password = withEtcdCredentials(dir, ['password']);
  const r = renderK8s(password);
  const secret = r.files.find((f) => f.name === '04-etcd-credentials.yaml')!.manifests[0] as Manifest & { data: Record<string, string> };
  t.deepEqual(Object.keys(secret.data), ['password']);
  t.like(r.topology['security'], { etcd: { caFile: null, certFile: null, keyFile: null, username: 'aetherflow', passwordFile: `${ETCD_CREDENTIALS_DIR}/password` } });

  rmSync(join(dir, 'etcd-password'));
  const err = t.throws(() => renderK8s(password), { instanceOf: AetherError });
  t.is(err?.code, 'TOPOLOGY_INVALID');
  t.regex(err!.message, /etcd-password/);

  // The etcd the renderer adds listens in plaintext inside the cluster, as `up`'s local one does.
  const local = { ...withEtcdCredentials(dir, ['tls']), etcd: topologies[0]!.etcd };
  const rl = renderK8s(local);
  t.false(rl.files.some((f) => f.name === '04-etcd-credentials.yaml'));
  t.false('etcd' in (rl.topology['security'] as object));
  for (const w of workloads(rl.files.flatMap((f) => f.manifests))) t.false(w.spec.template.spec.volumes?.some((v) => v.name === 'etcd-credentials') ?? false);
});

test('a Quantum key file becomes a Secret mounted into leaders and coordinators', (t) => {
  const base = topologies[0]!;
  const r = renderK8s({ ...base, security: { ...base.security, quantumKeyFile: '/home/me/quantum.key' } });
  const keyFile = (r.topology['security'] as { quantumKeyFile: string }).quantumKeyFile;
  for (const w of workloads(r.files.flatMap((f) => f.manifests)).filter((x) => x.metadata.name !== 'etcd')) {
    const mounted = w.spec.template.spec.containers[0]!.volumeMounts!.some((v) => keyFile.startsWith(`${v.mountPath}/`));
    t.is(mounted, w.kind === 'Deployment', w.metadata.name);
    t.notThrows(() => new (w.kind === 'Deployment' ? Deployment : StatefulSet)(w as never).validate());
  }
});

test('a secure topology mounts each process its own certificates; an insecure one none', (t) => {
  const base = topologies[0]!;
  const secure = renderK8s(base);
  t.like(secure.topology['security'], { insecure: false, certsDir: CERTS_DIR, quantumKeyFile: null });
  for (const w of workloads(secure.files.flatMap((f) => f.manifests)).filter((x) => x.metadata.name !== 'etcd')) {
    const spec = w.spec.template.spec;
    const id = w.spec.template.metadata.labels['aetherflow.io/id']!;
    t.true(spec.containers[0]!.volumeMounts!.some((v) => v.name === 'certs' && v.mountPath === CERTS_DIR), w.metadata.name);
    const volume = spec.volumes!.find((v) => v.name === 'certs')!;
    t.is(volume.secret!.secretName, `${id}-certs`);
    const files = volume.secret!.items!.map((i) => i.path);
    t.true(files.includes('ca.crt') && files.some((f) => /^node\..+\.key$/.test(f)), w.metadata.name);
    t.is(files.includes('quantum.key'), w.kind === 'Deployment', w.metadata.name);
  }
  const insecure = renderK8s({ ...base, security: { ...base.security, insecure: true } });
  for (const w of workloads(insecure.files.flatMap((f) => f.manifests))) t.false(w.spec.template.spec.volumes?.some((v) => v.name === 'certs') ?? false);
});

test('with a certificates directory the Secrets are rendered, naming the Kubernetes hosts', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'aetherflow-k8s-certs-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const base = topologies[1]!;
  await ensureCertificates(dir, renderK8s(base).topology as unknown as CertificateSubjects);
  const r = renderK8s(base, { certsDir: dir });
  const secrets = r.files.find((f) => f.name === '05-certificates.yaml')!.manifests as (Manifest & { data: Record<string, string> })[];
  t.is(secrets.length, workloads(r.files.flatMap((f) => f.manifests)).filter((w) => w.metadata.name !== 'etcd').length);
  for (const s of secrets) t.notThrows(() => new Secret(s as never).validate());
  const leader = secrets.find((s) => s.metadata.name === 'us-east-l1-certs')!;
  const cert = new X509Certificate(Buffer.from(leader.data['node.us-east-l1.crt']!, 'base64'));
  t.is(nodeIdOf(cert), 'us-east-l1');
  t.is(cert.checkHost(`us-east-l1.${r.namespace}.svc.cluster.local`), `us-east-l1.${r.namespace}.svc.cluster.local`);
  t.true(cert.checkIssued(new X509Certificate(Buffer.from(leader.data['ca.crt']!, 'base64'))));
  // A directory missing a node's certificate renders nothing.
  rmSync(join(dir, 'node.us-east-l1.crt'));
  const err = t.throws(() => renderK8s(base, { certsDir: dir }));
  t.is((err as AetherError).code, 'CERTIFICATE');
});

test('three etcd members form one cluster', (t) => {
  const base = topologies[1]!;
  const ms = all({ ...base, etcd: { ...base.etcd, members: 3 } });
  const etcd = ms.find((m) => m.kind === 'StatefulSet' && m.metadata.name === 'etcd') as Workload;
  t.is(etcd.spec.replicas, 3);
  const args = etcd.spec.template.spec.containers[0]!.args!.join(' ');
  for (const i of [0, 1, 2]) t.true(args.includes(`etcd-${i}=http://etcd-${i}.etcd.aetherflow-wan.svc.cluster.local:2380`));
});

test('ids that map to one Kubernetes name fail TOPOLOGY_INVALID', (t) => {
  const base = topologies[0]!;
  const r0 = base.regions[0]!;
  const clash: Topology = { ...base, regions: [{ ...r0, datanodes: [...r0.datanodes, { ...r0.datanodes[0]!, id: 'US_EAST.d1' }] }, ...base.regions.slice(1)] };
  t.is(dnsName('US_EAST.d1'), dnsName('us-east-d1'));
  const err = t.throws(() => renderK8s(clash), { instanceOf: AetherError });
  t.is(err?.code, 'TOPOLOGY_INVALID');
  t.is(dnsName('7-up'), 'af-7-up');
});

test('the YAML stream parses back to the same objects (no anchors, no folding)', (t) => {
  const ms = all(topologies[1]!);
  const text = manifestsYaml(ms);
  t.false(/(^|\s)[&*]a[0-9]+(\s|$)/m.test(text), 'YAML anchors or aliases');
  const docs = parseAllDocuments(text);
  t.deepEqual(
    (Array.isArray(docs) ? docs : []).map((d) => d.toJS() as unknown),
    JSON.parse(JSON.stringify(ms)),
  );
});

test('aetherflow render k8s --out DIR writes one file per component', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'aetherflow-k8s-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const out = captureStdout();
  const code = await run(['render', 'k8s', join(root, 'topology', 'wan.yaml'), '--out', dir, '--json', '--image', 'registry.example/aetherflow:1']).finally(out.restore);
  t.is(code, 0);
  const report = JSON.parse(out.text()) as { namespace: string; files: { file: string; objects: string[] }[] };
  t.is(report.namespace, 'aetherflow-wan');
  const names = readdirSync(dir).sort();
  t.deepEqual(names, report.files.map((f) => f.file.slice(dir.length + 1)).sort());
  t.true(names.includes('00-namespace.yaml') && names.includes('10-etcd.yaml') && names.includes('30-leader-us-east-l1.yaml'));
  const leader = parseAllDocuments(readFileSync(join(dir, '30-leader-us-east-l1.yaml'), 'utf8'));
  const docs = (Array.isArray(leader) ? leader : []).map((d) => d.toJS() as Manifest);
  t.deepEqual(docs.map((d) => d.kind), ['Service', 'Deployment']);
  t.is((docs[1] as Workload).spec.template.spec.containers[0]!.name, 'leader');
  t.regex(JSON.stringify(docs[1]), /registry\.example\/aetherflow:1/);
  t.false(names.includes('05-certificates.yaml'), 'no Secrets without --certs-dir');
});

// Serial: it captures stdout, as the other render test does.
test.serial('aetherflow render k8s --certs-dir makes the certificates and writes their Secrets', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'aetherflow-k8s-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const out = captureStdout();
  const code = await run(['render', 'k8s', join(root, 'topology', 'local.yaml'), '--out', join(dir, 'k8s'), '--certs-dir', join(dir, 'certs'), '--json']).finally(out.restore);
  t.is(code, 0);
  t.true(readdirSync(join(dir, 'k8s')).includes('05-certificates.yaml'));
  t.true(readdirSync(join(dir, 'certs')).includes('ca.key'));
});

function captureStdout(): { text: () => string; restore: () => void } {
  const chunks: string[] = [];
  const write = process.stdout.write.bind(process.stdout);
  process.stdout.write = ((chunk: string | Uint8Array) => {
    chunks.push(chunk.toString());
    return true;
  }) as typeof process.stdout.write;
  return { text: () => chunks.join(''), restore: () => (process.stdout.write = write) };
}
