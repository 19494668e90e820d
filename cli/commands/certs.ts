import type { Command } from 'commander';
import { AetherError } from '../../common/errors.js';
import { ensureCertificates, renewCertificates, topologyCertsDir, type CertificatesReport } from '../../security/certs-dir.js';
import { loadTopology } from '../../topology/load.js';
import type { Topology } from '../../topology/types.js';
import { printJson } from '../../common/output.js';
import { globalOptions } from '../program.js';

/**
 * `aetherflow certs create|renew`: the certificates of `security.certsDir`, as `cockroach
 * cert` makes them — a local CA, one certificate per node id of the topology naming its
 * id and its listeners' hosts, and the client's. `up` creates what is missing by itself;
 * these commands are for doing it ahead (e.g. to copy the directory to other machines)
 * and for renewing.
 */
export function registerCerts(program: Command): void {
  const certs = program
    .command('certs')
    .description('create or renew the CA, node and client certificates in the topology\'s security.certsDir')
    .addHelpText(
      'after',
      `
Files (in security.certsDir, default .aetherflow/certs):
  ca.crt, ca.key           the deployment's CA (ECDSA P-256); keep ca.key off machines that do not sign
  node.<id>.crt/.key       one per leader, data node and coordinator id: SAN URI aetherflow://node/<id>
                           plus the IPs and DNS names of its listeners
  client.crt, client.key   what the CLI and connect() present
  quantum.key              Quantum's pre-shared key, unless security.quantumKeyFile names one
Keys are written with mode 0600.

Examples:
  aetherflow certs create --topology topology/wan.yaml
  aetherflow certs renew                      running processes pick the new files up`,
    );
  certs
    .command('create')
    .description('create the CA and every certificate and key that is missing; never overwrites a file')
    .action(async (_o: unknown, cmd: Command) => report(cmd, 'create', (t) => ensureCertificates(topologyCertsDir(t), t)));
  certs
    .command('renew')
    .description('issue every node and client certificate anew with the existing CA (the CA and quantum.key stay); running processes reload them for new connections')
    .action(async (_o: unknown, cmd: Command) => report(cmd, 'renew', (t) => renewCertificates(topologyCertsDir(t), t)));
}

async function report(cmd: Command, action: 'create' | 'renew', run: (topology: Topology) => Promise<CertificatesReport>): Promise<void> {
  const opts = globalOptions(cmd);
  const topology = loadTopology(opts.topology);
  if (topology.security.insecure) {
    throw new AetherError('USAGE', `${topology.file} says security.insecure: true, so its processes use no certificates; remove it to run secure`);
  }
  const dir = topologyCertsDir(topology);
  const done = await run(topology);
  if (opts.json) {
    printJson({ action, dir, created: done.created, kept: done.kept });
    return;
  }
  const verb = action === 'create' ? 'created' : 'renewed';
  for (const file of done.created) process.stdout.write(`${verb} ${file}\n`);
  process.stdout.write(`${dir}: ${done.created.length} file(s) ${verb}, ${done.kept.length} kept\n`);
}
