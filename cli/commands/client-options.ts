import { Option, type Command } from 'commander';
import { AetherError } from '../../common/errors.js';
import { formatGlt, type Glt } from '../../glts/glt.js';
import { connect, type AetherClient } from '../../client/client.js';
import { globalOptions } from '../program.js';
import type { GlobalOptions } from '../output.js';

/** A non-negative integer option (--limit, --wait); USAGE otherwise. */
export function parseCount(name: string) {
  return (text: string): number => {
    if (!/^(0|[1-9][0-9]{0,8})$/.test(text)) throw new AetherError('USAGE', `${name} must be a non-negative integer, got ${JSON.stringify(text)}`);
    return Number(text);
  };
}

/** `--certs-dir DIR`, on every command that talks to a deployment's gRPC services. */
export function certsDirOption(): Option {
  return new Option('--certs-dir <dir>', 'where ca.crt and client.crt/client.key are (unused when the topology says security.insecure: true)').default(undefined, "the topology's security.certsDir");
}

/** Runs `fn` with a client of the topology the global options name (and `--certs-dir`), closing it afterwards. */
export async function withClient<T>(cmd: Command, fn: (client: AetherClient, opts: GlobalOptions) => Promise<T>): Promise<T> {
  const opts = globalOptions(cmd);
  const { certsDir } = cmd.opts<{ certsDir?: string }>();
  const client = connect({ topologyFile: opts.topology, ...(certsDir !== undefined ? { certsDir } : {}) });
  try {
    return await fn(client, opts);
  } finally {
    client.close();
  }
}

/** A GLT for tables and JSON: its text form. */
export function gltText(g: Glt | undefined): string | undefined {
  return g === undefined ? undefined : formatGlt(g);
}
