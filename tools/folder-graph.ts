/**
 * The import graph between the repository's top-level folders, and a search for a cycle
 * in it. A folder importing a folder that (through others) imports it back makes the
 * layers of the README's layout table meaningless, so `make test` refuses any.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';

/** folder → the folders its files import, each with one file and specifier that does it. */
export type FolderGraph = Map<string, Map<string, FolderEdge>>;

export interface FolderEdge {
  file: string;
  specifier: string;
}

/** Top-level folders that are not the product's layers: tests import across every layer on purpose. */
const SKIPPED = new Set(['node_modules', 'dist', 'test']);

/** The folders .gitignore names (`scratch/`, `proto/generated/`): local files, not the repository's. */
function ignoredFolders(root: string): Set<string> {
  let text = '';
  try {
    text = readFileSync(join(root, '.gitignore'), 'utf8');
  } catch {
    return new Set();
  }
  return new Set(text.split('\n').map((l) => l.trim()).filter((l) => l.endsWith('/') && !/[*?[]/.test(l)).map((l) => l.replace(/^\/|\/$/g, '')));
}

// Static imports, re-exports (`export … from`), side-effect imports and dynamic import().
const IMPORT = /(?:\bfrom\s*|\bimport\s*\(\s*|^\s*import\s+)['"]([^'"]+)['"]/gm;

/** The relative specifiers a TypeScript source imports or re-exports. */
export function importSpecifiers(source: string): string[] {
  const out: string[] = [];
  for (const m of source.matchAll(IMPORT)) {
    const specifier = m[1]!;
    if (specifier.startsWith('.')) out.push(specifier);
  }
  return out;
}

function tsFiles(root: string, dir: string, ignored: ReadonlySet<string>): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(join(root, dir), { withFileTypes: true })) {
    const path = dir === '' ? entry.name : join(dir, entry.name);
    if ((dir === '' && SKIPPED.has(entry.name)) || entry.name.startsWith('.') || ignored.has(path.split(sep).join('/'))) continue;
    if (entry.isDirectory()) out.push(...tsFiles(root, path, ignored));
    else if (entry.name.endsWith('.ts') && !entry.name.endsWith('.d.ts')) out.push(path);
  }
  return out;
}

/** A file's top-level folder; files at the root (index.ts) belong to the folder ".". */
function folderOf(path: string): string {
  const parts = path.split(sep);
  return parts.length === 1 ? '.' : parts[0]!;
}

/** Reads every .ts file under root outside node_modules, dist, test and ignored folders. */
export function readFolderGraph(root: string): FolderGraph {
  const graph: FolderGraph = new Map();
  for (const file of tsFiles(root, '', ignoredFolders(root))) {
    const from = folderOf(file);
    const edges = graph.get(from) ?? new Map<string, FolderEdge>();
    graph.set(from, edges);
    for (const specifier of importSpecifiers(readFileSync(join(root, file), 'utf8'))) {
      const target = relative(resolve(root), resolve(root, dirname(file), specifier));
      if (target.startsWith('..')) continue;
      const to = folderOf(target);
      if (to !== from && !edges.has(to)) edges.set(to, { file, specifier });
    }
  }
  return graph;
}

/**
 * One cycle of the graph as the folders along it, the first repeated at the end
 * (["bench", "cli", "bench"]), or undefined when there is none. Folders are visited
 * in name order so the same graph always reports the same cycle.
 */
export function findCycle(graph: ReadonlyMap<string, ReadonlyMap<string, unknown>>): string[] | undefined {
  const done = new Set<string>();
  const path: string[] = [];
  const onPath = new Set<string>();
  const visit = (folder: string): string[] | undefined => {
    if (onPath.has(folder)) return [...path.slice(path.indexOf(folder)), folder];
    if (done.has(folder)) return undefined;
    path.push(folder);
    onPath.add(folder);
    for (const next of [...(graph.get(folder)?.keys() ?? [])].sort()) {
      const cycle = visit(next);
      if (cycle) return cycle;
    }
    path.pop();
    onPath.delete(folder);
    done.add(folder);
    return undefined;
  };
  for (const folder of [...graph.keys()].sort()) {
    const cycle = visit(folder);
    if (cycle) return cycle;
  }
  return undefined;
}
