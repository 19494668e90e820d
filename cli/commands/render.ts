import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Command } from 'commander';
import { toAetherError } from '../../common/errors.js';
import { ensureCertificates, type CertificateSubjects } from '../../security/certs-dir.js';
import { loadTopology } from '../../topology/load.js';
import { DEFAULT_IMAGE, manifestsYaml, renderK8s } from '../../topology/k8s.js';
import { globalOptions } from '../program.js';
import { printJson, printTable } from '../../common/output.js';

interface K8sFlags {
  readonly out?: string;
  readonly namespace?: string;
  readonly image: string;
  readonly storage: string;
  readonly certsDir?: string;
}

/** `aetherflow render k8s TOPOLOGY [--out DIR]`: Kubernetes manifests for a topology (topology/k8s.ts). */
export function registerRender(program: Command): void {
  const render = program.command('render').description('render deployment files for a topology');
  render
    .command('k8s')
    .description('Kubernetes manifests: a Namespace, the topology in a ConfigMap (hosts mapped to each process\'s headless Service), etcd as a StatefulSet unless the topology names endpoints, data nodes as StatefulSets with PersistentVolumeClaims, leaders and coordinators as Deployments with UDP (Quantum) and TCP (gRPC, metrics) Services, probes on /healthz, Prometheus scrape annotations and an autoscaler example')
    .argument('[topology]', 'the topology YAML file (default: --topology)')
    .option('--out <dir>', 'write one file per component into DIR (kubectl apply -f DIR); default: a YAML stream on stdout')
    .option('--namespace <ns>', 'namespace (default: aetherflow-<topology name>)')
    .option('--image <image>', 'the AetherFlow image built from the Dockerfile', DEFAULT_IMAGE)
    .option('--storage <size>', 'PersistentVolumeClaim size of each data node and etcd member', '10Gi')
    .option('--certs-dir <dir>', 'also render each process\'s certificate Secret, from DIR; missing certificates (for the Kubernetes host names) are created there first, existing ones kept')
    .addHelpText(
      'after',
      `
Examples:
  aetherflow render k8s topology/wan.yaml --out k8s/     then: kubectl apply -f k8s/
  aetherflow render k8s topology/local.yaml | kubectl apply -f -
  aetherflow render k8s topology/local.yaml --json       a v1 List of every object
  aetherflow render k8s topology/wan.yaml --certs-dir k8s-certs/ --out k8s/
                                                         with the certificate Secrets (they hold private keys)

Unless the topology says security.insecure: true, every process mounts the Secret
<process>-certs (ca.crt, node.<id>.crt/.key, quantum.key for leaders and coordinators);
without --certs-dir, create them yourself from certificates naming the Kubernetes hosts.`,
    )
    .action(async (fileArg: string | undefined, flags: K8sFlags, cmd: Command) => {
      const opts = globalOptions(cmd);
      const topology = loadTopology(fileArg ?? opts.topology);
      const options = {
        image: flags.image,
        storage: flags.storage,
        ...(flags.namespace !== undefined ? { namespace: flags.namespace } : {}),
      };
      let rendered = renderK8s(topology, options);
      if (flags.certsDir !== undefined && !topology.security.insecure) {
        // The certificates must name the hosts processes are dialled by in the cluster: the Kubernetes flavour's.
        const certsDir = resolve(flags.certsDir);
        await ensureCertificates(certsDir, rendered.topology as unknown as CertificateSubjects);
        rendered = renderK8s(topology, { ...options, certsDir });
      }
      const all = rendered.files.flatMap((f) => f.manifests);
      if (flags.out === undefined) {
        if (opts.json) printJson({ apiVersion: 'v1', kind: 'List', items: all });
        else process.stdout.write(manifestsYaml(all));
        return;
      }
      const dir = resolve(flags.out);
      try {
        mkdirSync(dir, { recursive: true });
        for (const f of rendered.files) writeFileSync(join(dir, f.name), manifestsYaml(f.manifests));
      } catch (err) {
        throw toAetherError(err, 'INVALID_ARGUMENT', `cannot write manifests to ${dir}`);
      }
      const files = rendered.files.map((f) => ({ file: join(dir, f.name), objects: f.manifests.map((m) => `${m.kind}/${m.metadata.name}`) }));
      if (opts.json) printJson({ namespace: rendered.namespace, dir, files });
      else {
        printTable(['file', 'objects'], files.map((f) => [f.file, f.objects.join(', ')]));
        process.stdout.write(`${all.length} objects in namespace ${rendered.namespace}; apply with: kubectl apply -f ${dir}\n`);
      }
    });
}
