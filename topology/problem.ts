/**
 * One thing wrong with a topology file. `path` is the place inside the document in the
 * form `regions[1].datanodes[0].grpc` ('' for the whole document); `code` is stable,
 * tests and scripts branch on it.
 */
export interface TopologyProblem {
  readonly file: string;
  readonly path: string;
  readonly code: TopologyProblemCode;
  readonly message: string;
  /** 1-based position in the file when known. */
  readonly line?: number;
  readonly col?: number;
}

export type TopologyProblemCode =
  | 'yaml-syntax'
  | 'not-a-mapping'
  | 'missing-field'
  | 'unknown-field'
  | 'wrong-type'
  | 'bad-value'
  | 'unsupported-version'
  | 'duplicate-id'
  | 'duplicate-region'
  | 'duplicate-address'
  | 'duplicate-datadir'
  | 'duplicate-link'
  | 'unknown-region'
  | 'bad-address'
  | 'ignored-field'
  | 'bad-link'
  | 'budget-exceeds-interval'
  | 'insecure'
  | 'no-region'
  | 'no-leader'
  | 'no-datanode'
  | 'no-coordinator';

/** `['regions', 1, 'grpc']` → `regions[1].grpc`. */
export function formatPath(segments: readonly (string | number)[]): string {
  let out = '';
  for (const s of segments) {
    if (typeof s === 'number') out += `[${s}]`;
    else out += out === '' ? s : `.${s}`;
  }
  return out;
}
