import { execFileSync } from 'node:child_process';
import test from 'ava';

/** A Node process that loads the sources through tsx, with a resolve hook installed first. */
function runWithHook(hook: string, script: string): string {
  const register = `data:text/javascript,import{register}from"node:module";register(${JSON.stringify(`data:text/javascript,${hook}`)})`;
  return execFileSync(process.execPath, ['--import', 'tsx', '--import', register, '--input-type=module', '-e', script], { encoding: 'utf8' });
}

// Records every package a process resolves whose path names a plotting package.
const RECORD_PLOTTING = 'export async function resolve(s,c,n){const r=await n(s,c);if(/node_modules\\/(vega|@resvg)/.test(r.url))process.stdout.write("plotting "+s+"\\n");return r}';

test('no role process loads the plotting packages: the package API and every command, roles included, without them', (t) => {
  const out = runWithHook(RECORD_PLOTTING, "await import('./index.ts'); const { buildProgram } = await import('./cli/program.ts'); buildProgram(); process.stdout.write('loaded\\n');");
  t.is(out, 'loaded\n');
});

test('without the plotting packages a plot fails with PLOT_UNAVAILABLE', (t) => {
  const missing = 'export async function resolve(s,c,n){if(s==="vega")throw new Error("Cannot find package vega");return n(s,c)}';
  const out = runWithHook(missing, "const p = await import('./bench/plot.ts'); try { await p.plotRates([], '/nonexistent/plot.png'); } catch (e) { process.stdout.write(e.name + ' ' + e.code + '\\n'); }");
  t.is(out, 'PlotUnavailable PLOT_UNAVAILABLE\n');
});
