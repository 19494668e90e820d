import type { Command } from 'commander';
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

/** Runs `fn` with a client of the topology the global options name, closing it afterwards. */
export async function withClient<T>(cmd: Command, fn: (client: AetherClient, opts: GlobalOptions) => Promise<T>): Promise<T> {
  const opts = globalOptions(cmd);
  const client = connect({ topologyFile: opts.topology });
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
