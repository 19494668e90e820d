import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Command } from 'commander';
import { toAetherError } from '../../common/errors.js';
import { loadTopology } from '../../topology/load.js';
import { DEFAULT_IMAGE, manifestsYaml, renderK8s } from '../../topology/k8s.js';
import { globalOptions } from '../program.js';
import { printJson, printTable } from '../output.js';

interface K8sFlags {
  readonly out?: string;
  readonly namespace?: string;
  readonly image: string;
  readonly storage: string;
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
    .addHelpText(
      'after',
      `
Examples:
  aetherflow render k8s topology/wan.yaml --out k8s/     then: kubectl apply -f k8s/
  aetherflow render k8s topology/local.yaml | kubectl apply -f -
  aetherflow render k8s topology/local.yaml --json       a v1 List of every object`,
    )
    .action((fileArg: string | undefined, flags: K8sFlags, cmd: Command) => {
      const opts = globalOptions(cmd);
      const topology = loadTopology(fileArg ?? opts.topology);
      const rendered = renderK8s(topology, {
        image: flags.image,
        storage: flags.storage,
        ...(flags.namespace !== undefined ? { namespace: flags.namespace } : {}),
      });
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
