import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import test from 'ava';
import { findCycle, importSpecifiers, readFolderGraph } from '../../tools/folder-graph.js';

/** A repository of the given files (path → source) in a fresh directory. */
function fixture(files: Record<string, string>): string {
  const root = mkdtempSync(join(tmpdir(), 'aetherflow-folder-graph-'));
  for (const [path, source] of Object.entries(files)) {
    mkdirSync(dirname(join(root, path)), { recursive: true });
    writeFileSync(join(root, path), source);
  }
  return root;
}

const graphOf = (edges: Record<string, string[]>) => new Map(Object.entries(edges).map(([from, to]) => [from, new Map(to.map((t) => [t, true]))]));

test('every relative import form is read; packages and node: modules are not', (t) => {
  const source = [
    "import { a } from '../a/a.js';",
    "import type { B } from '../b/b.js';",
    "import {\n  c,\n  d,\n} from '../c/c.js';",
    "export { e } from './e.js';",
    "export * from '../f/f.js';",
    "import '../g/side-effect.js';",
    "const h = await import('../h/lazy.js');",
    "import { readFileSync } from 'node:fs';",
    "import vega from 'vega';",
  ].join('\n');
  t.deepEqual(importSpecifiers(source), ['../a/a.js', '../b/b.js', '../c/c.js', './e.js', '../f/f.js', '../g/side-effect.js', '../h/lazy.js']);
});

test('a cycle is found and reported along its folders; a layered graph has none', (t) => {
  t.is(findCycle(graphOf({ cli: ['bench', 'common'], bench: ['common'], common: [] })), undefined);
  t.deepEqual(findCycle(graphOf({ cli: ['bench'], bench: ['history', 'cli'], history: ['common'], common: [] })), ['bench', 'cli', 'bench']);
  t.deepEqual(findCycle(graphOf({ a: ['b'], b: ['c'], c: ['a'] })), ['a', 'b', 'c', 'a']);
});

test('the folder graph of a tiny repository: folders, not files; test/, dist/, node_modules/ and ignored folders left out', (t) => {
  const root = fixture({
    '.gitignore': 'scratch/\n/proto/generated/\n*.log\n',
    'scratch/s.ts': "import { x } from '../cli/x.js';",
    'proto/generated/g.ts': "import { x } from '../../cli/x.js';",
    'proto/p.ts': '',
    'index.ts': "export { x } from './cli/x.js';",
    'cli/x.ts': "import { y } from '../bench/y.js';\nimport { z } from './z.js';",
    'cli/z.ts': '',
    'bench/y.ts': "import type { w } from '../common/w.js';",
    'common/w.ts': '',
    'test/t.ts': "import { x } from '../cli/x.js';",
    'dist/cli/x.ts': "import { y } from '../../cli/x.js';",
    'node_modules/p/index.ts': "import { y } from '../../bench/y.js';",
  });
  t.teardown(() => rmSync(root, { recursive: true, force: true }));
  const graph = readFolderGraph(root);
  t.deepEqual([...graph.keys()].sort(), ['.', 'bench', 'cli', 'common', 'proto']);
  t.is(graph.get('proto')!.size, 0);
  t.deepEqual([...graph.get('cli')!.keys()], ['bench']);
  t.deepEqual(graph.get('bench')!.get('common'), { file: join('bench', 'y.ts'), specifier: '../common/w.js' });
  t.is(findCycle(graph), undefined);
});

test('the check fails on a cycle introduced between folders and names the imports along it', (t) => {
  const root = fixture({
    'bench/all.ts': "import { printJson } from '../cli/output.js';",
    'cli/output.ts': "export const printJson = 1;",
    'cli/commands/bench.ts': "import { benches } from '../../bench/all.js';",
  });
  t.teardown(() => rmSync(root, { recursive: true, force: true }));
  const error = t.throws(() => execFileSync(process.execPath, ['--import', 'tsx', 'tools/folder-cycle-check.ts', root], { stdio: 'pipe' })) as Error & { status: number; stderr: Buffer };
  t.is(error.status, 1);
  t.is(error.stderr.toString(), [
    'import cycle between folders: bench → cli → bench',
    `  ${join('bench', 'all.ts')} imports ../cli/output.js`,
    `  ${join('cli', 'commands', 'bench.ts')} imports ../../bench/all.js`,
    '',
  ].join('\n'));
});

test('this repository has no import cycle between its folders', (t) => {
  t.notThrows(() => execFileSync(process.execPath, ['--import', 'tsx', 'tools/folder-cycle-check.ts'], { stdio: 'pipe' }));
});
