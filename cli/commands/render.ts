import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Command } from 'commander';
import { toAetherError } from '../../common/errors.js';
import { ensureCertificates, type CertificateSubjects } from '../../security/certs-dir.js';
import { loadTopology } from '../../topology/load.js';
import { DEFAULT_IMAGE, manifestsYaml, renderK8s } from '../../topology/k8s.js';
import { DEFAULT_SCRAPE_INTERVAL, defaultRulesFile, prometheusConfig, prometheusConfigYaml } from '../../topology/prometheus-config.js';
import { globalOptions } from '../program.js';
import { printJson, printTable } from '../../common/output.js';

interface K8sFlags {
  readonly out?: string;
  readonly namespace?: string;
  readonly image: string;
  readonly storage: string;
  readonly certsDir?: string;
}

interface PrometheusFlags {
  readonly out?: string;
  readonly rules?: string;
  readonly interval: string;
}

/**
 * `aetherflow render k8s TOPOLOGY [--out DIR]`: Kubernetes manifests for a topology (topology/k8s.ts);
 * `aetherflow render prometheus [--out FILE]`: a Prometheus configuration scraping it (topology/prometheus-config.ts).
 */
export function registerRender(program: Command): void {
  const render = program.command('render').description('render deployment files for a topology');
  render
    .command('prometheus')
    .description("a Prometheus configuration (prometheus.yml) scraping every process's metrics address, one job per role, each target labelled role, id and region, with AetherFlow's alerting rules")
    .argument('[topology]', 'the topology YAML file (default: --topology)')
    .option('--out <file>', 'write the configuration to FILE; default: stdout')
    .option('--rules <path>', "the alerting rules file Prometheus loads (default: the repository's deploy/prometheus/alerts.yml); made absolute")
    .option('--interval <duration>', 'scrape and rule evaluation interval', DEFAULT_SCRAPE_INTERVAL)
    .addHelpText(
      'after',
      `
Examples:
  aetherflow up &                                           then, in another shell:
  aetherflow render prometheus --out /tmp/prometheus.yml
  prometheus --config.file=/tmp/prometheus.yml --storage.tsdb.path=/tmp/prom-data
                                                            open http://localhost:9090/alerts
  aetherflow render prometheus topology/wan.yaml --rules /etc/prometheus/aetherflow-alerts.yml

Targets are the topology's metrics addresses as written (host:port, plain HTTP on /metrics),
in the jobs aetherflow-datanode, aetherflow-leader and aetherflow-coordinator. Every
process exports its own role, id and region labels; the config sets honor_labels so those
win (region_member and the frontier gauges carry a region other than their process's).
Standby candidates are scraped too: their election_state 0 is what the election alerts read.

Why ${DEFAULT_SCRAPE_INTERVAL}: commits come every ~50 ms, but the alerts judge seconds to minutes
(a frontier over 1 s old, for 1 m). The lag gauges are computed when scraped, so one scrape
shows a stalled frontier; scraping at 50 ms would only cost every process a registry
serialisation 20 times a second. eventloop_longest_task_seconds covers the time between
two scrapes, so a shorter --interval sees each stall in a shorter window.

For Kubernetes, scrape by the pods' annotations instead (deploy/README.md).`,
    )
    .action((fileArg: string | undefined, flags: PrometheusFlags, cmd: Command) => {
      const opts = globalOptions(cmd);
      const topology = loadTopology(fileArg ?? opts.topology);
      const options = { rulesFile: resolve(flags.rules ?? defaultRulesFile()), interval: flags.interval };
      if (flags.out === undefined) {
        if (opts.json) printJson(prometheusConfig(topology, options));
        else process.stdout.write(prometheusConfigYaml(topology, options));
        return;
      }
      const file = resolve(flags.out);
      const text = prometheusConfigYaml(topology, options);
      try {
        writeFileSync(file, text);
      } catch (err) {
        throw toAetherError(err, 'INVALID_ARGUMENT', `cannot write the Prometheus configuration to ${file}`);
      }
      if (opts.json) printJson({ file, rules: options.rulesFile, interval: options.interval });
      else process.stdout.write(`wrote ${file} (rules ${options.rulesFile}, interval ${options.interval}); run: prometheus --config.file=${file}\n`);
    });
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
without --certs-dir, create them yourself from certificates naming the Kubernetes hosts.

With external etcd.endpoints, the files security.etcd names (read here, as \`up\` would)
become the Secret aetherflow-etcd-credentials (ca.crt, client.crt, client.key, password),
mounted at /etc/aetherflow-etcd in every pod; the output then holds that key and password.`,
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
