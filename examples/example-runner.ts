import { parseArgs } from 'node:util';
import { AetherError, connect, type AetherClient } from '../index.js';

/** An example's own options, beside the --topology, --certs-dir and --timeout-s every example takes. */
export interface ExampleOption {
  readonly description: string;
  /** Shown in --help; undefined: the example decides (said in the description). */
  readonly default?: string;
}

export interface ExampleSpec {
  /** The file's name without .ts, as in `node --import tsx examples/<name>.ts`. */
  readonly name: string;
  readonly summary: string;
  readonly options?: Readonly<Record<string, ExampleOption>>;
}

export interface ExampleContext {
  readonly client: AetherClient;
  /** The example's own options as given (or their defaults). */
  readonly options: Readonly<Record<string, string | undefined>>;
  /** Prints a line; the last one is named if the example runs out of time. */
  say(line: string): void;
}

const DEFAULT_TIMEOUT_S = 30;

/** A positive integer option, else USAGE naming it. */
export function positiveInteger(name: string, text: string | undefined): number {
  if (text === undefined || !/^[1-9][0-9]{0,8}$/.test(text)) throw new AetherError('USAGE', `--${name} must be a positive integer, got ${JSON.stringify(text)}`);
  return Number(text);
}

function usage(spec: ExampleSpec): string {
  const rows: [string, string][] = [
    ['--topology <file>', 'topology file (default: $AETHERFLOW_TOPOLOGY, else topology/local.yaml)'],
    ['--certs-dir <dir>', "where ca.crt and client.crt/client.key are (default: $AETHERFLOW_CERTS_DIR, else the topology's security.certsDir: .aetherflow/certs for local.yaml)"],
    ['--timeout-s <n>', `give up, exit 1, after this many seconds (default ${DEFAULT_TIMEOUT_S})`],
    ...Object.entries(spec.options ?? {}).map(([name, o]): [string, string] => [`--${name} <value>`, `${o.description}${o.default !== undefined ? ` (default ${o.default})` : ''}`]),
  ];
  const width = Math.max(...rows.map(([flag]) => flag.length)) + 2;
  return [`${spec.name}: ${spec.summary}`, '', `usage: node --import tsx examples/${spec.name}.ts [options]`, ...rows.map(([flag, text]) => `  ${flag.padEnd(width)}${text}`)].join('\n');
}

/**
 * Runs an example as a program: parses its command line, connects to the deployment,
 * runs `main` within --timeout-s, then exits 0, or non-zero with the reason on stderr —
 * 2 for a usage or input error (bad option, unknown region, missing certificate), 1 for
 * anything else (the deployment unreachable, a check that failed, out of time).
 */
export function runExample(spec: ExampleSpec, main: (ctx: ExampleContext) => Promise<void>): void {
  let lastLine = 'starting';
  const say = (line: string): void => {
    lastLine = line;
    console.log(line);
  };
  const fail = (err: unknown): never => {
    const coded = err instanceof AetherError;
    console.error(`${spec.name} failed: ${coded ? `${err.code}: ` : ''}${err instanceof Error ? err.message : String(err)}`);
    process.exit(coded && err.isInputError ? 2 : 1);
  };

  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({
      options: {
        topology: { type: 'string' },
        'certs-dir': { type: 'string' },
        'timeout-s': { type: 'string' },
        help: { type: 'boolean' },
        ...Object.fromEntries(Object.keys(spec.options ?? {}).map((name) => [name, { type: 'string' as const }])),
      },
      strict: true,
    });
  } catch (err) {
    console.error(usage(spec));
    return fail(new AetherError('USAGE', err instanceof Error ? err.message : String(err)));
  }
  const values = parsed.values as Record<string, string | boolean | undefined>;
  if (values['help'] === true) {
    console.log(usage(spec));
    process.exit(0);
  }
  const text = (name: string): string | undefined => {
    const v = values[name];
    return typeof v === 'string' ? v : undefined;
  };

  let client: AetherClient | undefined;
  (async () => {
    const timeoutS = positiveInteger('timeout-s', text('timeout-s') ?? String(DEFAULT_TIMEOUT_S));
    setTimeout(() => fail(new AetherError('TIMEOUT', `not done within ${timeoutS} s; last step: ${lastLine}`)), timeoutS * 1000).unref();
    const topologyFile = text('topology') ?? (process.env['AETHERFLOW_TOPOLOGY'] || 'topology/local.yaml');
    const certsDir = text('certs-dir') ?? (process.env['AETHERFLOW_CERTS_DIR'] || undefined);
    client = connect({ topologyFile, ...(certsDir !== undefined ? { certsDir } : {}) });
    say(`${spec.name}: deployment "${client.topology.name}" (${topologyFile}), regions ${client.topology.regions.map((r) => r.name).join(', ')}`);
    const options = Object.fromEntries(Object.entries(spec.options ?? {}).map(([name, o]) => [name, text(name) ?? o.default]));
    await main({ client, options, say });
  })().then(
    () => {
      client?.close();
      say(`${spec.name}: OK`);
      process.exit(0);
    },
    (err: unknown) => {
      client?.close();
      fail(err);
    },
  );
}
