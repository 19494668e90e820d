/**
 * `make test`'s layering check: exits 1, printing the cycle and an import along each of
 * its edges, when a top-level folder imports (through others) a folder that imports it.
 * Run: node --import tsx tools/folder-cycle-check.ts [root]
 */
import { findCycle, readFolderGraph } from './folder-graph.js';

const graph = readFolderGraph(process.argv[2] ?? '.');
const cycle = findCycle(graph);
if (cycle) {
  process.stderr.write(`import cycle between folders: ${cycle.join(' → ')}\n`);
  for (let i = 0; i + 1 < cycle.length; i++) {
    const edge = graph.get(cycle[i]!)!.get(cycle[i + 1]!)!;
    process.stderr.write(`  ${edge.file} imports ${edge.specifier}\n`);
  }
  process.exit(1);
}
