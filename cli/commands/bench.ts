import { Command } from 'commander';
import { benches } from '../../bench/index.js';

export function registerBench(program: Command): void {
  const bench = program
    .command('bench')
    .description('benchmarks; each prints its figures beside their goals (--json: {"figures":[{name,measured,unit,goal,met}]})');
  for (const register of benches) register(bench);
}
