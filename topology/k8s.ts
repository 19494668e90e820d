import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { stringify } from 'yaml';
import { AetherError } from '../common/errors.js';
import { loadEtcdCredentials } from './etcd-credentials.js';
import { loadNodeIdentity, nodeFiles, quantumKeyFile } from '../security/certs-dir.js';
import { parseHostPort } from '../common/host-port.js';
import type { Address, CoordinatorSpec, DatanodeSpec, EtcdSecuritySpec, LeaderSpec, Topology } from './types.js';
// Type-only (erased at build): the manifests are checked against the Kubernetes API types at
// compile time, excess properties included; test/deploy validates them against the schemas.
import type { IDeployment } from 'kubernetes-models/apps/v1/Deployment';
import type { IStatefulSet } from 'kubernetes-models/apps/v1/StatefulSet';
import type { IHorizontalPodAutoscaler } from 'kubernetes-models/autoscaling/v2/HorizontalPodAutoscaler';
import type { IConfigMap } from 'kubernetes-models/v1/ConfigMap';
import type { INamespace } from 'kubernetes-models/v1/Namespace';
import type { IPersistentVolumeClaim } from 'kubernetes-models/v1/PersistentVolumeClaim';
import type { IPodTemplateSpec } from 'kubernetes-models/v1/PodTemplateSpec';
import type { ISecret } from 'kubernetes-models/v1/Secret';
import type { IService } from 'kubernetes-models/v1/Service';

/**
 * Kubernetes manifests for a topology (`aetherflow render k8s`).
 *
 * Addresses. A topology names every process by host:port, and each process binds the
 * address it finds there. In Kubernetes every process gets a headless Service named after
 * its id (DNS-1035 form), and the renderer writes a Kubernetes flavour of the topology into
 * the ConfigMap: each host becomes `<service>.<namespace>.svc.cluster.local`, ports are
 * kept, data dirs move to the data node's volume, etcd endpoints to the rendered etcd
 * StatefulSet (unless the topology names external ones). A headless Service's name
 * resolves to its pod's own IP (published before the pod is ready, so processes can
 * bind and elect), so a process can bind it and peers reach it without kube-proxy NAT —
 * Quantum's UDP keeps its source address.
 *
 * Identity. A leader or coordinator candidate is a Deployment of one replica with the
 * Recreate strategy and a data node a StatefulSet of one replica: an id never runs twice.
 *
 * Certificates. Unless the topology is insecure, each process mounts the Secret
 * `<name>-certs` at CERTS_DIR (the Kubernetes topology's certsDir): ca.crt, its own
 * node.<id>.crt/.key and, for leaders and coordinators, quantum.key when the topology
 * names no Quantum key file. With `certsDir`, the renderer writes those Secrets from
 * that directory (certificates issued for the Kubernetes host names; `render k8s
 * --certs-dir` creates them); without it they are expected to exist.
 *
 * etcd credentials. With external etcd endpoints and `security.etcd`, the files it names
 * (read where the renderer runs, as `up` would) go into the Secret
 * `aetherflow-etcd-credentials` (ca.crt, client.crt, client.key, password), mounted at
 * ETCD_CREDENTIALS_DIR in every process, and the Kubernetes topology names them there.
 * The rendered etcd is plaintext in the cluster, like `up`'s local one: no credentials.
 */

/** One Kubernetes object, as a plain JSON-able value. */
export interface Manifest {
  readonly apiVersion: string;
  readonly kind: string;
  readonly metadata: { readonly name: string; readonly namespace?: string; readonly labels?: Record<string, string>; readonly annotations?: Record<string, string> };
  readonly [field: string]: unknown;
}

/** A file of the rendered set: `kubectl apply -f DIR` applies them in name order. */
export interface ManifestFile {
  readonly name: string;
  readonly manifests: readonly Manifest[];
}

export interface K8sOptions {
  /** Default `aetherflow-<topology name>`. */
  readonly namespace?: string;
  /** The image built by the Dockerfile. */
  readonly image?: string;
  /** Size of each data node's (and etcd member's) PersistentVolumeClaim. */
  readonly storage?: string;
  /**
   * Render each process's certificate Secret from this directory (holding ca.crt,
   * node.<id>.crt/.key for every id and quantum.key as `certs create` makes them for the
   * Kubernetes flavour of the topology); CERTIFICATE when a file is missing or invalid.
   */
  readonly certsDir?: string;
}

export interface K8sRender {
  readonly namespace: string;
  /** The Kubernetes flavour of the topology, as mounted at TOPOLOGY_PATH. */
  readonly topology: Record<string, unknown>;
  readonly files: readonly ManifestFile[];
}

export const DEFAULT_IMAGE = 'aetherflow:0.1.0';
export const ETCD_IMAGE = 'quay.io/coreos/etcd:v3.4.34';
export const TOPOLOGY_DIR = '/etc/aetherflow';
export const TOPOLOGY_PATH = `${TOPOLOGY_DIR}/topology.yaml`;
export const DATA_DIR = '/var/lib/aetherflow';
const QUANTUM_KEY_DIR = '/etc/aetherflow-secrets';
export const CERTS_DIR = '/etc/aetherflow-certs';
/** Secret files: readable by the owner and the pod's fsGroup (the image's user), no one else. */
const SECRET_MODE = 0o440;
const QUANTUM_KEY_SECRET = 'aetherflow-quantum-key';
export const ETCD_CREDENTIALS_DIR = '/etc/aetherflow-etcd';
const ETCD_CREDENTIALS_SECRET = 'aetherflow-etcd-credentials';
/** The file each `security.etcd` field becomes in the Secret and the mounted directory. */
const ETCD_CREDENTIAL_FILES = { caFile: 'ca.crt', certFile: 'client.crt', keyFile: 'client.key', passwordFile: 'password' } as const satisfies Partial<Record<keyof EtcdSecuritySpec, string>>;
const TOPOLOGY_CONFIGMAP = 'aetherflow-topology';
const ETCD_SERVICE = 'etcd';
const ETCD_CLIENT_PORT = 2379;
const ETCD_PEER_PORT = 2380;
/** StatefulSet names stay ≤ 52 characters so pod names and controller-revision labels stay ≤ 63. */
const NAME_MAX = 52;
/** The image's user (node:20's `node`), which owns the data volume through fsGroup. */
const USER_ID = 1000;

type Role = 'datanode' | 'leader' | 'coordinator';
/** File prefixes: data nodes first, so leaders find them. */
const ORDER: Readonly<Record<Role, string>> = { datanode: '20', leader: '30', coordinator: '40' };
interface Process {
  readonly role: Role;
  readonly spec: LeaderSpec | DatanodeSpec | CoordinatorSpec;
  readonly region: string;
  /** Service, workload and label name. */
  readonly name: string;
}

/** A DNS-1035 label from a topology id or name: lower case, letters, digits and '-'. */
export function dnsName(text: string): string {
  let s = text.toLowerCase().replace(/[^a-z0-9-]/g, '-');
  if (!/^[a-z]/.test(s)) s = `af-${s}`;
  return s.slice(0, NAME_MAX).replace(/-+$/, '');
}

export function renderK8s(topology: Topology, options: K8sOptions = {}): K8sRender {
  const namespace = options.namespace ?? dnsName(`aetherflow-${topology.name}`);
  const image = options.image ?? DEFAULT_IMAGE;
  const storage = options.storage ?? '10Gi';
  const instance = dnsName(topology.name);
  const processes = listProcesses(topology);
  const fqdn = (name: string) => `${name}.${namespace}.svc.cluster.local`;
  const externalEtcd = topology.etcd.endpoints.length > 0;
  const etcdSecurity = topology.security.etcd;
  const etcdFiles = externalEtcd ? (Object.keys(ETCD_CREDENTIAL_FILES) as (keyof typeof ETCD_CREDENTIAL_FILES)[]).filter((f) => etcdSecurity[f] !== null) : [];
  const etcdMembers = Array.from({ length: topology.etcd.members }, (_, i) => `${ETCD_SERVICE}-${i}`);

  const byId = new Map(processes.map((p) => [p.spec.id, p]));
  const moveAddress = (id: string, address: Address) => `${fqdn(byId.get(id)!.name)}:${port(address)}`;
  const k8sTopology: Record<string, unknown> = {
    version: topology.version,
    name: topology.name,
    etcd: {
      endpoints: externalEtcd ? [...topology.etcd.endpoints] : etcdMembers.map((m) => `${m}.${fqdn(ETCD_SERVICE)}:${ETCD_CLIENT_PORT}`),
      members: topology.etcd.members,
      dataDir: topology.etcd.dataDir,
    },
    clock: topology.clock,
    snapshot: topology.snapshot,
    regions: topology.regions.map((r) => ({
      name: r.name,
      leaders: r.leaders.map((l) => ({ id: l.id, grpc: moveAddress(l.id, l.grpc), quantum: moveAddress(l.id, l.quantum), metrics: moveAddress(l.id, l.metrics) })),
      datanodes: r.datanodes.map((d) => ({ id: d.id, grpc: moveAddress(d.id, d.grpc), dataDir: `${DATA_DIR}/${byId.get(d.id)!.name}`, metrics: moveAddress(d.id, d.metrics) })),
    })),
    coordinators: topology.coordinators.map((c) => ({ id: c.id, region: c.region, quantum: moveAddress(c.id, c.quantum), metrics: moveAddress(c.id, c.metrics) })),
    links: topology.links,
    storage: topology.storage,
    security: {
      insecure: topology.security.insecure,
      certsDir: CERTS_DIR,
      quantumKeyFile: topology.security.quantumKeyFile === null ? null : `${QUANTUM_KEY_DIR}/quantum.key`,
      ...(etcdFiles.length > 0
        ? {
            etcd: {
              ...etcdSecurity,
              ...Object.fromEntries(etcdFiles.map((f) => [f, `${ETCD_CREDENTIALS_DIR}/${ETCD_CREDENTIAL_FILES[f]}`])),
            },
          }
        : {}),
    },
  };
  const topologyYaml = `# The Kubernetes flavour of topology "${topology.name}", written by \`aetherflow render k8s\`:\n# hosts are the processes' headless Services, data dirs are on their volumes.\n${stringify(k8sTopology, { aliasDuplicateObjects: false, lineWidth: 0 })}`;
  const topologyHash = createHash('sha256').update(topologyYaml).digest('hex');

  const labels = (component: string, name: string, region?: string): Record<string, string> => ({
    'app.kubernetes.io/name': 'aetherflow',
    'app.kubernetes.io/instance': instance,
    'app.kubernetes.io/component': component,
    'aetherflow.io/id': name,
    ...(region !== undefined ? { 'aetherflow.io/region': dnsName(region) } : {}),
  });
  const selector = (name: string) => ({ 'app.kubernetes.io/instance': instance, 'aetherflow.io/id': name });
  const meta = (name: string, l: Record<string, string>) => ({ name, namespace, labels: l });

  const files: ManifestFile[] = [
    { name: '00-namespace.yaml', manifests: [{ apiVersion: 'v1', kind: 'Namespace', metadata: { name: namespace, labels: { 'app.kubernetes.io/name': 'aetherflow', 'app.kubernetes.io/instance': instance } } } satisfies INamespace] },
    {
      name: '01-topology.yaml',
      manifests: [{ apiVersion: 'v1', kind: 'ConfigMap', metadata: meta(TOPOLOGY_CONFIGMAP, { 'app.kubernetes.io/name': 'aetherflow', 'app.kubernetes.io/instance': instance }), data: { 'topology.yaml': topologyYaml } } satisfies IConfigMap],
    },
  ];
  if (etcdFiles.length > 0) files.push({ name: '04-etcd-credentials.yaml', manifests: [etcdCredentialsSecret()] });
  if (options.certsDir !== undefined && !topology.security.insecure) files.push({ name: '05-certificates.yaml', manifests: processes.map((p) => certsSecret(p, options.certsDir!)) });
  if (!externalEtcd) files.push({ name: '10-etcd.yaml', manifests: etcdManifests() });
  processes.forEach((p) => files.push({ name: `${ORDER[p.role]}-${p.role}-${p.name}.yaml`, manifests: processManifests(p) }));
  files.push({ name: '90-hpa-example.yaml', manifests: [hpaExample()] });
  return { namespace, topology: k8sTopology, files };

  function etcdManifests(): Manifest[] {
    const l = labels('etcd', ETCD_SERVICE);
    const peerUrl = (m: string) => `http://${m}.${fqdn(ETCD_SERVICE)}:${ETCD_PEER_PORT}`;
    return [
      {
        apiVersion: 'v1',
        kind: 'Service',
        metadata: meta(ETCD_SERVICE, l),
        spec: {
          clusterIP: 'None',
          publishNotReadyAddresses: true, // members must find each other before they are ready
          selector: selector(ETCD_SERVICE),
          ports: [
            { name: 'client', port: ETCD_CLIENT_PORT, targetPort: 'client', protocol: 'TCP' },
            { name: 'peer', port: ETCD_PEER_PORT, targetPort: 'peer', protocol: 'TCP' },
          ],
        },
      } satisfies IService,
      {
        apiVersion: 'apps/v1',
        kind: 'StatefulSet',
        metadata: meta(ETCD_SERVICE, l),
        spec: {
          serviceName: ETCD_SERVICE,
          replicas: etcdMembers.length,
          podManagementPolicy: 'Parallel', // all members start together to form the cluster
          selector: { matchLabels: selector(ETCD_SERVICE) },
          template: {
            metadata: { labels: l, annotations: scrape(ETCD_CLIENT_PORT) },
            spec: {
              containers: [
                {
                  name: 'etcd',
                  image: ETCD_IMAGE,
                  command: ['etcd'],
                  args: [
                    '--name=$(POD_NAME)',
                    '--data-dir=/var/run/etcd/data',
                    `--listen-client-urls=http://0.0.0.0:${ETCD_CLIENT_PORT}`,
                    `--advertise-client-urls=http://$(POD_NAME).${fqdn(ETCD_SERVICE)}:${ETCD_CLIENT_PORT}`,
                    `--listen-peer-urls=http://0.0.0.0:${ETCD_PEER_PORT}`,
                    `--initial-advertise-peer-urls=http://$(POD_NAME).${fqdn(ETCD_SERVICE)}:${ETCD_PEER_PORT}`,
                    `--initial-cluster=${etcdMembers.map((m) => `${m}=${peerUrl(m)}`).join(',')}`,
                    '--initial-cluster-state=new',
                    `--initial-cluster-token=aetherflow-${instance}`,
                  ],
                  env: [{ name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } }],
                  ports: [
                    { name: 'client', containerPort: ETCD_CLIENT_PORT, protocol: 'TCP' },
                    { name: 'peer', containerPort: ETCD_PEER_PORT, protocol: 'TCP' },
                  ],
                  readinessProbe: { httpGet: { path: '/health', port: 'client' }, periodSeconds: 5, failureThreshold: 3 },
                  livenessProbe: { httpGet: { path: '/health', port: 'client' }, initialDelaySeconds: 30, periodSeconds: 10, failureThreshold: 6 },
                  volumeMounts: [{ name: 'data', mountPath: '/var/run/etcd' }],
                  resources: { requests: { cpu: '100m', memory: '256Mi' } },
                },
              ],
            },
          },
          volumeClaimTemplates: [claim('data', labels('etcd', ETCD_SERVICE))],
        },
      } satisfies IStatefulSet,
    ];
  }

  function processManifests(p: Process): Manifest[] {
    const l = labels(p.role, p.name, p.region);
    const ports = addresses(p.spec);
    const service = {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: meta(p.name, l),
      spec: {
        clusterIP: 'None',
        publishNotReadyAddresses: true, // the process binds its own name before it is ready
        selector: selector(p.name),
        ports: ports.map((x) => ({ name: x.name, port: x.port, targetPort: x.name, protocol: x.protocol })),
      },
    } satisfies IService;
    const metricsPort = ports.find((x) => x.name === 'metrics')!.port;
    const keyed = p.role !== 'datanode' && topology.security.quantumKeyFile !== null;
    const certified = !topology.security.insecure;
    const podSpec: IPodTemplateSpec['spec'] = {
      securityContext: { runAsNonRoot: true, runAsUser: USER_ID, runAsGroup: USER_ID, fsGroup: USER_ID },
      terminationGracePeriodSeconds: 30,
      initContainers: [
        {
          // Bounded wait (2 min) for the pod's own Service name, which the process binds.
          name: 'wait-for-dns',
          image,
          command: ['sh', '-c', `for i in $(seq 1 120); do getent hosts ${fqdn(p.name)} >/dev/null && exit 0; sleep 1; done; echo "${fqdn(p.name)} does not resolve"; exit 1`],
          securityContext: { allowPrivilegeEscalation: false },
        },
      ],
      containers: [
        {
          name: p.role,
          image,
          imagePullPolicy: 'IfNotPresent',
          command: ['aetherflow'],
          args: [p.role, '--id', p.spec.id, '--topology', TOPOLOGY_PATH],
          env: [{ name: 'AETHERFLOW_TOPOLOGY', value: TOPOLOGY_PATH }],
          ports: ports.map((x) => ({ name: x.name, containerPort: x.port, protocol: x.protocol })),
          // /healthz answers 200 once the process is registered in etcd (standby candidates too).
          startupProbe: { httpGet: { path: '/healthz', port: 'metrics' }, periodSeconds: 2, failureThreshold: 60 },
          readinessProbe: { httpGet: { path: '/healthz', port: 'metrics' }, periodSeconds: 5, failureThreshold: 2 },
          livenessProbe: { httpGet: { path: '/healthz', port: 'metrics' }, periodSeconds: 10, failureThreshold: 6 },
          volumeMounts: [
            { name: 'topology', mountPath: TOPOLOGY_DIR, readOnly: true },
            ...(p.role === 'datanode' ? [{ name: 'data', mountPath: DATA_DIR }] : []),
            ...(keyed ? [{ name: 'quantum-key', mountPath: QUANTUM_KEY_DIR, readOnly: true }] : []),
            ...(certified ? [{ name: 'certs', mountPath: CERTS_DIR, readOnly: true }] : []),
            ...(etcdFiles.length > 0 ? [{ name: 'etcd-credentials', mountPath: ETCD_CREDENTIALS_DIR, readOnly: true }] : []),
          ],
          resources: { requests: p.role === 'datanode' ? { cpu: '250m', memory: '512Mi' } : { cpu: '250m', memory: '256Mi' } },
          securityContext: { allowPrivilegeEscalation: false },
        },
      ],
      volumes: [
        { name: 'topology', configMap: { name: TOPOLOGY_CONFIGMAP } },
        ...(keyed ? [{ name: 'quantum-key', secret: { secretName: QUANTUM_KEY_SECRET, items: [{ key: 'quantum.key', path: 'quantum.key' }] } }] : []),
        ...(certified ? [{ name: 'certs', secret: { secretName: certsSecretName(p), defaultMode: SECRET_MODE, items: certFiles(p).map((f) => ({ key: f, path: f })) } }] : []),
        ...(etcdFiles.length > 0
          ? [{ name: 'etcd-credentials', secret: { secretName: ETCD_CREDENTIALS_SECRET, defaultMode: SECRET_MODE, items: etcdFiles.map((f) => ({ key: ETCD_CREDENTIAL_FILES[f], path: ETCD_CREDENTIAL_FILES[f] })) } }]
          : []),
      ],
    };
    const template: IPodTemplateSpec = {
      metadata: { labels: l, annotations: { ...scrape(metricsPort), 'aetherflow.io/topology-sha256': topologyHash } },
      spec: podSpec,
    };
    if (p.role === 'datanode') {
      return [
        service,
        {
          apiVersion: 'apps/v1',
          kind: 'StatefulSet',
          metadata: meta(p.name, l),
          spec: {
            serviceName: p.name,
            replicas: 1,
            selector: { matchLabels: selector(p.name) },
            template,
            volumeClaimTemplates: [claim('data', l)],
          },
        } satisfies IStatefulSet,
      ];
    }
    return [
      service,
      {
        apiVersion: 'apps/v1',
        kind: 'Deployment',
        metadata: meta(p.name, l),
        spec: {
          replicas: 1,
          strategy: { type: 'Recreate' }, // never two processes with one id
          selector: { matchLabels: selector(p.name) },
          template,
        },
      } satisfies IDeployment,
    ];
  }

  /** The certificates directory's files one process needs, by name. */
  function certFiles(p: Process): string[] {
    const node = basename(nodeFiles(CERTS_DIR, p.spec.id).cert, '.crt');
    const quantum = p.role !== 'datanode' && topology.security.quantumKeyFile === null;
    return ['ca.crt', `${node}.crt`, `${node}.key`, ...(quantum ? [basename(quantumKeyFile(CERTS_DIR))] : [])];
  }

  function certsSecret(p: Process, dir: string): Manifest {
    // Loading checks the pair against ca.crt: a Secret never carries a broken identity.
    loadNodeIdentity(dir, p.spec.id);
    const data = Object.fromEntries(certFiles(p).map((f) => [f, readSecretFile(join(dir, f))]));
    return { apiVersion: 'v1', kind: 'Secret', metadata: meta(certsSecretName(p), labels(p.role, p.name, p.region)), type: 'Opaque', data } satisfies ISecret;
  }

  /** The etcd client credentials every process mounts; TOPOLOGY_INVALID naming a file that cannot be read. */
  function etcdCredentialsSecret(): Manifest {
    // The loader reads what the processes would, the password less its trailing newline.
    const c = loadEtcdCredentials(etcdSecurity);
    const bytes: Record<keyof typeof ETCD_CREDENTIAL_FILES, Buffer | undefined> = {
      caFile: c.tls?.rootCertificate,
      certFile: c.tls?.certChain,
      keyFile: c.tls?.privateKey,
      passwordFile: c.auth === undefined ? undefined : Buffer.from(c.auth.password),
    };
    const data = Object.fromEntries(etcdFiles.map((f) => [ETCD_CREDENTIAL_FILES[f], bytes[f]!.toString('base64')]));
    return { apiVersion: 'v1', kind: 'Secret', metadata: meta(ETCD_CREDENTIALS_SECRET, { 'app.kubernetes.io/name': 'aetherflow', 'app.kubernetes.io/instance': instance }), type: 'Opaque', data } satisfies ISecret;
  }

  /**
   * An autoscaler on a custom metric, writes per second per pod (rate of writes_total,
   * served by prometheus-adapter as `writes_per_second`; see deploy/README.md). AetherFlow's
   * processes have fixed ids, so it targets the first leader candidate with 1..1 replicas:
   * a working template to copy onto a stateless tier (e.g. a client gateway), inert here.
   */
  function hpaExample(): Manifest {
    const leader = processes.find((p) => p.role === 'leader')!;
    return {
      apiVersion: 'autoscaling/v2',
      kind: 'HorizontalPodAutoscaler',
      metadata: {
        ...meta(`${leader.name}-writes`, labels('autoscaler', leader.name, leader.region)),
        annotations: { 'aetherflow.io/example': 'custom-metric autoscaling template; candidates have fixed ids, so maxReplicas stays 1 for them' },
      },
      spec: {
        scaleTargetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: leader.name },
        minReplicas: 1,
        maxReplicas: 1,
        metrics: [{ type: 'Pods', pods: { metric: { name: 'writes_per_second' }, target: { type: 'AverageValue', averageValue: '5k' } } }],
      },
    } satisfies IHorizontalPodAutoscaler;
  }

  function claim(name: string, l: Record<string, string>): IPersistentVolumeClaim {
    return { apiVersion: 'v1', kind: 'PersistentVolumeClaim', metadata: { name, labels: l }, spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage } } } };
  }
}

function certsSecretName(p: Process): string {
  return `${p.name}-certs`;
}

/** A file's bytes as a Secret's base64 data; CERTIFICATE when it cannot be read. */
function readSecretFile(file: string): string {
  try {
    return readFileSync(file).toString('base64');
  } catch (err) {
    throw new AetherError('CERTIFICATE', `${file} cannot be read for its Secret`, { cause: err, details: { file } });
  }
}

/** The topology's processes with their Kubernetes names; two ids mapping to one name fail TOPOLOGY_INVALID. */
function listProcesses(topology: Topology): Process[] {
  const processes: Process[] = [
    ...topology.regions.flatMap((r) => [
      ...r.datanodes.map((spec) => ({ role: 'datanode' as const, spec, region: r.name, name: dnsName(spec.id) })),
      ...r.leaders.map((spec) => ({ role: 'leader' as const, spec, region: r.name, name: dnsName(spec.id) })),
    ]),
    ...topology.coordinators.map((spec) => ({ role: 'coordinator' as const, spec, region: spec.region, name: dnsName(spec.id) })),
  ];
  const taken = new Map<string, string>([
    [ETCD_SERVICE, '(the etcd Service)'],
    [TOPOLOGY_CONFIGMAP, '(the topology ConfigMap)'],
  ]);
  for (const p of processes) {
    const first = taken.get(p.name);
    if (first !== undefined) {
      throw new AetherError('TOPOLOGY_INVALID', `${topology.file}: id ${JSON.stringify(p.spec.id)} maps to the Kubernetes name ${JSON.stringify(p.name)}, already used by ${first}`, {
        details: { file: topology.file, id: p.spec.id, name: p.name },
      });
    }
    taken.set(p.name, JSON.stringify(p.spec.id));
  }
  return processes;
}

interface NamedPort {
  readonly name: 'grpc' | 'quantum' | 'metrics';
  readonly port: number;
  readonly protocol: 'TCP' | 'UDP';
}

function addresses(spec: LeaderSpec | DatanodeSpec | CoordinatorSpec): NamedPort[] {
  return [
    ...('grpc' in spec ? [{ name: 'grpc' as const, port: port(spec.grpc), protocol: 'TCP' as const }] : []),
    ...('quantum' in spec ? [{ name: 'quantum' as const, port: port(spec.quantum), protocol: 'UDP' as const }] : []),
    { name: 'metrics', port: port(spec.metrics), protocol: 'TCP' },
  ];
}

function port(address: Address): number {
  // The topology was validated: every address parses.
  return parseHostPort(address)!.port;
}

function scrape(port: number): Record<string, string> {
  return { 'prometheus.io/scrape': 'true', 'prometheus.io/port': String(port), 'prometheus.io/path': '/metrics' };
}

/** The manifests as one YAML stream (`kubectl apply -f -`). */
export function manifestsYaml(manifests: readonly Manifest[]): string {
  return manifests.map((m) => `---\n${stringify(m, { aliasDuplicateObjects: false, lineWidth: 0, blockQuote: 'literal' })}`).join('');
}
