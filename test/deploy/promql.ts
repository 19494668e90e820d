/** A metric selector found in a PromQL expression: the metric name and the label names it matches on. */
export interface MetricReference {
  readonly name: string;
  readonly labels: readonly string[];
}

/** Keywords that are followed by a parenthesised list of label names, not an expression. */
const LABEL_LIST = new Set(['by', 'without', 'on', 'ignoring', 'group_left', 'group_right']);
/** Aggregations may put `by (…)` between their name and their "(". */
const AGGREGATIONS = ['sum', 'min', 'max', 'avg', 'group', 'stddev', 'stdvar', 'count', 'count_values', 'bottomk', 'topk', 'quantile'];
const KEYWORDS = new Set([...LABEL_LIST, ...AGGREGATIONS, 'and', 'or', 'unless', 'bool', 'offset', 'inf', 'nan']);

/**
 * The metric selectors of a PromQL expression, by a small tokenizer rather than a parser:
 * strings, durations in [...] and label matchers in {...} are skipped over (matchers'
 * label names are kept), identifiers followed by "(" are functions or aggregations, and
 * keywords like `by` swallow their label list. Enough for the queries in deploy/.
 */
export function metricReferences(expr: string): MetricReference[] {
  const refs: MetricReference[] = [];
  let i = 0;
  const skipSpace = () => {
    while (i < expr.length && /\s/.test(expr[i]!)) i++;
  };
  const closing = (open: string, close: string): number => {
    let depth = 0;
    for (let j = i; j < expr.length; j++) {
      const c = expr[j]!;
      if (c === '"' || c === "'" || c === '`') {
        j = endOfString(expr, j);
        continue;
      }
      if (c === open) depth++;
      else if (c === close && --depth === 0) return j;
    }
    throw new Error(`unbalanced ${open} in ${expr}`);
  };
  while (i < expr.length) {
    const c = expr[i]!;
    if (c === '"' || c === "'" || c === '`') {
      i = endOfString(expr, i) + 1;
    } else if (c === '[') {
      i = closing('[', ']') + 1;
    } else if (c === '{') {
      // A matcher without a metric name ({__name__=…}) is not used in deploy/.
      throw new Error(`selector without a metric name in ${expr}`);
    } else if (/[a-zA-Z_:]/.test(c)) {
      const start = i;
      while (i < expr.length && /[a-zA-Z0-9_:]/.test(expr[i]!)) i++;
      const word = expr.slice(start, i);
      skipSpace();
      if (LABEL_LIST.has(word.toLowerCase())) {
        if (expr[i] === '(') i = closing('(', ')') + 1;
      } else if (KEYWORDS.has(word.toLowerCase()) || expr[i] === '(') {
        continue;
      } else if (expr[i] === '{') {
        const end = closing('{', '}');
        const body = expr.slice(i + 1, end);
        const labels = [...body.replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`/g, '""').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)\s*(?:=~|!~|!=|=)/g)].map((m) => m[1]!);
        refs.push({ name: word, labels });
        i = end + 1;
      } else {
        refs.push({ name: word, labels: [] });
      }
    } else if (/[0-9.]/.test(c)) {
      while (i < expr.length && /[0-9a-zA-Z.]/.test(expr[i]!)) i++;
    } else {
      i++;
    }
  }
  return refs;
}

function endOfString(expr: string, start: number): number {
  const quote = expr[start]!;
  for (let j = start + 1; j < expr.length; j++) {
    if (expr[j] === '\\' && quote !== '`') j++;
    else if (expr[j] === quote) return j;
  }
  throw new Error(`unterminated string in ${expr}`);
}
