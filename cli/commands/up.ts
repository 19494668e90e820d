import type { Command } from 'commander';
import { basename, join } from 'node:path';
import { loadTopology } from '../../topology/load.js';
import { Launch, type LaunchEvent } from '../../topology/launcher.js';
import { runtimeDir } from '../../topology/local-etcd.js';
import { printJson } from '../../common/output.js';
import { printTopologyWarnings } from '../output.js';
import { globalOptions } from '../program.js';
import { logLevelOption } from './roles.js';

/** `aetherflow up [--region R]…`: runs the topology (or some of its regions) on this machine until SIGINT/SIGTERM. */
export function registerUp(program: Command): void {
  program
    .command('up')
    .description('start every process of the topology (or of the named regions) on this machine, and a local etcd when the topology names no endpoints; runs until Ctrl-C/SIGTERM/SIGHUP, then stops everything it started')
    .option('--region <name>', 'only this region\'s processes (repeatable): how a multi-machine deployment runs it', (v: string, prev: string[] | undefined) => [...(prev ?? []), v])
    .addOption(logLevelOption())
    .addHelpText(
      'after',
      `
Logs: .aetherflow/<name>/logs/<id>.log (JSON lines). A process that dies is restarted with backoff.
Unless the topology says security.insecure: true, a CA and the certificates of every
node and of the client are created in security.certsDir when missing (existing ones are
kept; see \`aetherflow certs\`). When the regions run on several machines, create them
once (\`aetherflow certs create\`) and copy the directory to each: every machine must
trust the same CA.
With --json, progress is printed as JSON lines ({"event": …}).

Example:
  aetherflow up
  aetherflow up --topology topology/wan.yaml --region us-east`,
    )
    .action(async (o: { region?: string[]; logLevel?: string }, cmd: Command) => {
      const opts = globalOptions(cmd);
      const topology = loadTopology(opts.topology);
      if (opts.json) for (const w of topology.warnings) printJson({ event: 'warning', ...w });
      else printTopologyWarnings(topology.warnings);
      const print = opts.json ? (e: LaunchEvent) => printJson({ event: e.type, ...withoutType(e) }) : progressPrinter(join(runtimeDir(topology), 'logs'));
      // Signals that arrive while starting are honoured once the start has settled.
      let stopRequested: (() => void) | undefined;
      const stopSignal = new Promise<void>((resolve) => (stopRequested = resolve));
      const onSignal = (): void => stopRequested!();
      process.on('SIGINT', onSignal);
      process.on('SIGTERM', onSignal);
      // A closed terminal (an ssh session ending) must not leave the local etcd behind.
      process.on('SIGHUP', onSignal);
      try {
        const launch = await Launch.start(topology, { regions: o.region ?? [], onEvent: print, ...(o.logLevel ? { logLevel: o.logLevel } : {}) });
        try {
          await Promise.race([launch.ready().then(() => !opts.json && process.stdout.write(`all ${launch.processes.length} processes ready; logs in ${runtimeDir(topology)}/logs; Ctrl-C stops them\n`)), stopSignal]);
          await stopSignal;
        } finally {
          await launch.stop();
        }
      } finally {
        process.off('SIGINT', onSignal);
        process.off('SIGTERM', onSignal);
        process.off('SIGHUP', onSignal);
      }
    });
}

function withoutType(e: LaunchEvent): Record<string, unknown> {
  const { type: _type, ...rest } = e;
  return rest;
}

/** Human progress: one line per process when it is ready, and every exit and restart. */
function progressPrinter(logDir: string): (e: LaunchEvent) => void {
  let total = 0;
  const ready = new Set<string>();
  const out = (line: string): void => void process.stdout.write(line + '\n');
  return (e) => {
    switch (e.type) {
      case 'certificates':
        out(e.created.length === 0 ? `certificates in ${e.dir}` : `certificates in ${e.dir}: created ${e.created.map((f) => basename(f)).join(', ')}`);
        break;
      case 'etcd-starting':
        out(`starting a local etcd (${e.members} member${e.members === 1 ? '' : 's'})…`);
        break;
      case 'etcd-ready':
        out(`etcd ready at ${e.endpoints.join(', ')} (pid ${e.pids.join(', ')})`);
        break;
      case 'starting':
        total = e.processes.length;
        out(`starting ${total} processes…`);
        break;
      case 'process': {
        const p = e.process;
        const what = `${p.id.padEnd(14)} ${p.role.padEnd(11)} ${p.region.padEnd(10)}`;
        if (e.state === 'ready') {
          const again = ready.has(p.id);
          ready.add(p.id);
          out(`${again ? 'ready again' : `[${ready.size}/${total}] ready`}  ${what} pid ${e.pid}${p.grpc ? `  grpc ${p.grpc}` : ''}  metrics ${p.metrics}${again ? `  (restart ${e.restarts})` : ''}`);
        } else if (e.state === 'exited') {
          out(`exited       ${what} pid ${e.pid ?? '-'} (${e.signal ?? `code ${e.exitCode}`}); log: ${join(logDir, `${p.id}.log`)}`);
        } else if (e.state === 'backing-off') {
          out(`restarting   ${what} in ${e.delayMs} ms`);
        } else if (e.state === 'stopped' && e.stopMs !== undefined && e.exitCode !== 0) {
          out(`stopped uncleanly ${what} (${e.signal ?? `code ${e.exitCode}`} ${e.stopMs} ms after SIGTERM); log: ${join(logDir, `${p.id}.log`)}`);
        }
        break;
      }
      case 'stopping':
        out('stopping…');
        break;
      case 'stopped':
        out('stopped; no process left');
        break;
    }
  };
}
