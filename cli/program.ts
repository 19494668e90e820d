import { Command, CommanderError, Option } from 'commander';
import { AetherError } from '../common/errors.js';
import { defaultTopologyPath, reportError, type GlobalOptions } from './output.js';
import { commands } from './commands/index.js';

/** Builds the `aetherflow` command tree. Every command file registers itself in commands/index.ts. */
export function buildProgram(): Command {
  const program = new Command('aetherflow')
    .description('AetherFlow: a global snapshot-sync kernel. Every region serves identical reads at a Global Logical Timestamp (GLT), refreshed every ~50 ms.')
    .addOption(new Option('--topology <file>', 'topology file').default(defaultTopologyPath(), '$AETHERFLOW_TOPOLOGY or topology/local.yaml'))
    .option('--json', 'print one JSON document on stdout (streams: JSON lines)', false)
    .option('--debug', 'print stack traces with errors', false)
    .exitOverride()
    .configureOutput({ outputError: () => {} });
  program.addHelpText(
    'after',
    `
GLTs are written <wall ns>.<logical>, e.g. 1763751000123456789.3; "latest" means the region's frontier.
Errors print as error[CODE]: message (exit 2 for bad input, 1 for runtime failures).

Examples:
  aetherflow up                               start topology/local.yaml on this machine
  aetherflow put user:1 alice --region us-east
  aetherflow get user:1 --region eu-west --min-glt 1763751000123456789.3 --wait 200
  aetherflow topology check topology/wan.yaml`,
  );
  for (const register of commands) register(program);
  return program;
}

export function globalOptions(cmd: Command): GlobalOptions {
  const o = cmd.optsWithGlobals() as { topology: string; json: boolean; debug: boolean };
  return { topology: o.topology, json: Boolean(o.json), debug: Boolean(o.debug) };
}

/** Runs the CLI and returns the process exit code. */
export async function run(argv: readonly string[]): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv as string[], { from: 'user' });
    return process.exitCode === undefined ? 0 : Number(process.exitCode);
  } catch (err) {
    const json = argv.includes('--json');
    const debug = argv.includes('--debug');
    if (err instanceof CommanderError) {
      if (err.exitCode === 0) return 0; // --help, --version
      return reportError(new AetherError('USAGE', `${err.message.replace(/^error: /, '')} (see aetherflow --help)`), { json, debug });
    }
    return reportError(err, { json, debug });
  }
}
