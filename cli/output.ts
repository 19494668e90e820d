import { AetherError, toAetherError } from '../common/errors.js';
import type { TopologyProblem } from '../topology/problem.js';
import { toJson } from '../common/output.js';

/** Options every command takes (`aetherflow --help`). */
export interface GlobalOptions {
  readonly topology: string;
  readonly json: boolean;
  readonly debug: boolean;
}

export const DEFAULT_TOPOLOGY = 'topology/local.yaml';

export function defaultTopologyPath(): string {
  return process.env['AETHERFLOW_TOPOLOGY'] || DEFAULT_TOPOLOGY;
}

/** What is valid in a topology file but probably not meant, on stderr beside errors: `warning[code]: file: path (line L:C): message`. */
export function printTopologyWarnings(warnings: readonly TopologyProblem[]): void {
  for (const w of warnings) {
    process.stderr.write(`warning[${w.code}]: ${w.file}: ${w.path || '(document)'}${w.line !== undefined ? ` (line ${w.line}:${w.col})` : ''}: ${w.message}\n`);
  }
}

/** Prints an error as `error[CODE]: message` (or JSON with --json) and returns the exit code: 2 for bad input, 1 otherwise. */
export function reportError(err: unknown, options: Pick<GlobalOptions, 'json' | 'debug'>): number {
  const e = toAetherError(err);
  if (options.json) {
    process.stderr.write(toJson({ error: { code: e.code, message: e.message, ...(Object.keys(e.details).length ? { details: e.details } : {}) } }) + '\n');
  } else {
    process.stderr.write(`error[${e.code}]: ${e.message}\n`);
  }
  if (options.debug) process.stderr.write(`${(err instanceof Error && err.stack) || String(err)}\n`);
  return e instanceof AetherError && e.isInputError ? 2 : 1;
}
