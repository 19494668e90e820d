import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { LineCounter, parseDocument, isNode, type Document } from 'yaml';
import { AetherError, toAetherError } from '../common/errors.js';
import { checkSemantics, checkWarnings } from './checks.js';
import type { TopologyProblem } from './problem.js';
import { validateSchema } from './schema.js';
import type { Topology } from './types.js';

/**
 * The outcome of checking a topology text: the topology when valid (its warnings in
 * `topology.warnings`), every problem otherwise, with the warnings found meanwhile.
 */
export type TopologyCheck =
  | { readonly ok: true; readonly topology: Topology }
  | { readonly ok: false; readonly problems: readonly TopologyProblem[]; readonly warnings: readonly TopologyProblem[] };

function locator(doc: Document, lines: LineCounter) {
  return (segments: readonly (string | number)[]) => {
    // A missing field has no node of its own: point at the nearest enclosing one.
    for (let n = segments.length; n >= 0; n--) {
      const node = doc.getIn(segments.slice(0, n), true);
      if (isNode(node) && node.range) {
        const pos = lines.linePos(node.range[0]);
        return { line: pos.line, col: pos.col };
      }
    }
    return undefined;
  };
}

/** Parses and validates topology text; `file` names it in every problem. Never throws for bad input. */
export function checkTopologyText(text: string, file: string): TopologyCheck {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: true });
  if (doc.errors.length > 0) {
    return {
      ok: false,
      problems: doc.errors.map((e) => ({
        file,
        path: '',
        code: 'yaml-syntax' as const,
        message: e.message.split('\n')[0]!,
        ...lines.linePos(e.pos[0]),
      })),
      warnings: [],
    };
  }
  const data: unknown = doc.toJS();
  if (typeof data !== 'object' || data === null || Array.isArray(data)) {
    return { ok: false, problems: [{ file, path: '', code: 'not-a-mapping', message: 'a topology file is a YAML mapping (version, name, regions, …)' }], warnings: [] };
  }
  const locate = locator(doc, lines);
  const problems = [...validateSchema(data, file, locate), ...checkSemantics(data, file, locate)];
  // After the schema filled the defaults: a budget above the default interval warns too.
  const warnings = checkWarnings(data, file, locate);
  if (problems.length > 0) return { ok: false, problems, warnings };
  // The schema has checked every field and filled every default.
  return { ok: true, topology: { ...(data as Omit<Topology, 'file' | 'warnings'>), file, warnings } };
}

/** Reads and validates a topology file; throws TOPOLOGY_INVALID with `details.problems` listing every problem. */
export function loadTopology(path: string): Topology {
  const file = resolve(path);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw toAetherError(err, 'TOPOLOGY_INVALID', `cannot read topology file ${file}`);
  }
  const result = checkTopologyText(text, file);
  if (result.ok) return result.topology;
  throw new TopologyInvalidError(file, result.problems);
}

export class TopologyInvalidError extends AetherError {
  readonly problems: readonly TopologyProblem[];
  constructor(file: string, problems: readonly TopologyProblem[]) {
    const first = problems[0]!;
    const where = `${first.path || '(document)'}${first.line !== undefined ? ` (line ${first.line}:${first.col})` : ''}`;
    super('TOPOLOGY_INVALID', `${file}: ${problems.length} problem(s); first: ${where}: ${first.message} [${first.code}]`, { details: { file, problems } });
    this.problems = problems;
  }
}
