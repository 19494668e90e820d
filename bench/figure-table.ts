import { printTable } from '../common/output.js';
import type { Figure } from '../common/figure.js';

/** Figures as the human-readable table the benchmarks print without --json: measured with its unit, goal, met. */
export function printFigures(figures: readonly Figure[]): void {
  printTable(['figure', 'measured', 'goal', 'met'], figures.map((f) => [f.name, Number.isFinite(f.measured) ? `${f.measured} ${f.unit}` : '–', f.goal ?? '', f.met === null ? '' : f.met ? 'yes' : 'NO']));
}
