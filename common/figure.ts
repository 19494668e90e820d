/**
 * A measured figure beside its goal. `bench … --json` and `chaos drill … --json` print
 * `{"figures": Figure[]}` (docs/BENCHMARKS.md); `met` is null when the figure has no goal.
 */
export interface Figure {
  readonly name: string;
  readonly measured: number;
  readonly unit: string;
  readonly goal: string | null;
  readonly met: boolean | null;
}
