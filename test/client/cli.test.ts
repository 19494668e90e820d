import test, { type ExecutionContext } from 'ava';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse, stringify } from 'yaml';
import { run } from '../../cli/program.js';
import { nextGlt, parseGlt } from '../../glts/glt.js';
import { advanceFrontier, startTestRegion } from './cluster.js';

/** Runs the CLI in this process, capturing what it prints. Tests in this file run serially (stdout is shared). */
async function cli(args: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const write = { out: process.stdout.write.bind(process.stdout), err: process.stderr.write.bind(process.stderr) };
  process.stdout.write = ((s: string | Uint8Array) => ((out += String(s)), true)) as typeof process.stdout.write;
  process.stderr.write = ((s: string | Uint8Array) => ((err += String(s)), true)) as typeof process.stderr.write;
  try {
    process.exitCode = undefined;
    const code = await run(args);
    return { code, out, err };
  } finally {
    process.stdout.write = write.out;
    process.stderr.write = write.err;
    process.exitCode = undefined;
  }
}

/** A test region and the CLI arguments naming its topology, written to a temp file; both removed at teardown. */
async function regionWithTopologyFile(t: ExecutionContext): Promise<{ r: Awaited<ReturnType<typeof startTestRegion>>; base: string[] }> {
  const r = await startTestRegion();
  const dir = mkdtempSync(join(tmpdir(), 'aetherflow-cli-'));
  t.teardown(async () => {
    await r.close();
    rmSync(dir, { recursive: true, force: true });
  });
  const { file: _file, warnings: _warnings, ...doc } = r.topology;
  const topo = join(dir, 'topo.yaml');
  writeFileSync(topo, stringify(doc));
  return { r, base: ['--topology', topo] };
}

test.serial('put, get, scan, del and snapshots through the CLI, tables and JSON', async (t) => {
  const { r, base } = await regionWithTopologyFile(t);

  const put = await cli([...base, '--json', 'put', 'user:1', 'alice', '--region', 'r1']);
  t.is(put.code, 0, put.err);
  const w = JSON.parse(put.out) as { key: string; ts: string; origin: string };
  t.is(w.key, 'user:1');
  const ts = parseGlt(w.ts);
  await advanceFrontier(r, nextGlt(ts));

  const get = await cli([...base, '--json', 'get', 'user:1', '--region', 'r1']);
  t.is(get.code, 0, get.err);
  const g = JSON.parse(get.out) as Record<string, unknown>;
  t.like(g, { key: 'user:1', found: true, value: 'alice', version: w.ts, origin: w.origin });

  const table = await cli([...base, 'get', 'user:1', '--region', 'r1']);
  t.regex(table.out.split('\n')[0]!, /^key\s+found\s+value\s+version\s+origin\s+glt$/);
  t.regex(table.out, /alice/);

  const scan = await cli([...base, '--json', 'scan', '--region', 'r1', '--prefix', 'user:']);
  t.is(scan.code, 0, scan.err);
  t.deepEqual((JSON.parse(scan.out) as { rows: { key: string }[] }).rows.map((x) => x.key), ['user:1']);

  const del = await cli([...base, 'del', 'user:1', '--region', 'r1']);
  t.is(del.code, 0, del.err);

  const snaps = await cli([...base, '--json', 'snapshots', '--limit', '3']);
  t.is(snaps.code, 0, snaps.err);
  t.deepEqual(JSON.parse(snaps.out), { snapshots: [] });
});

test.serial('errors print error[CODE] and exit 2 for bad input', async (t) => {
  const { base } = await regionWithTopologyFile(t);

  const region = await cli([...base, 'put', 'k', 'v', '--region', 'mars']);
  t.is(region.code, 2);
  t.regex(region.err, /^error\[UNKNOWN_REGION\]: /);

  const big = await cli([...base, '--json', 'put', 'k'.repeat(5000), 'v', '--region', 'r1']);
  t.is(big.code, 2);
  t.is((JSON.parse(big.err) as { error: { code: string } }).error.code, 'KEY_TOO_LARGE');

  const glt = await cli([...base, 'get', 'k', '--region', 'r1', '--glt', 'noon']);
  t.is(glt.code, 2);
  t.regex(glt.err, /^error\[GLT_PARSE\]/);

  const wait = await cli([...base, 'get', 'k', '--region', 'r1', '--wait', 'soon']);
  t.is(wait.code, 2);
  t.regex(wait.err, /^error\[USAGE\]/);

  const notReady = await cli([...base, 'get', 'k', '--region', 'r1', '--glt', '9999999999999999999.0', '--wait', '10']);
  t.is(notReady.code, 1);
  t.regex(notReady.err, /^error\[SNAPSHOT_NOT_READY\]/);

  const missing = await cli([...base, 'put', 'k', 'v']);
  t.is(missing.code, 2);
  t.regex(missing.err, /^error\[USAGE\]/);
  t.notRegex(missing.err + notReady.err + glt.err, /\n\s+at /, 'no stack traces');
});

test.serial('topology check lists every problem and exits 2', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'aetherflow-cli-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const bad = join(dir, 'bad.yaml');
  writeFileSync(bad, 'version: 1\nname: x\nregions:\n  - name: a\n    leaders: []\n    datanodes: []\ncoordinators:\n  - { id: c, region: b, quantum: "1.2.3.4:5", metrics: "nope" }\n');
  const res = await cli(['--json', 'topology', 'check', bad]);
  t.is(res.code, 2);
  const doc = JSON.parse(res.out) as { valid: boolean; problems: { path: string; code: string }[] };
  t.false(doc.valid);
  t.deepEqual(doc.problems.map((p) => `${p.path} ${p.code}`).sort(), [
    'coordinators[0].metrics bad-address',
    'coordinators[0].region unknown-region',
    'regions[0].datanodes no-datanode',
    'regions[0].leaders no-leader',
  ]);
  const table = await cli(['topology', 'check', bad]);
  t.is(table.code, 2);
  t.regex(table.out, /regions\[0\]\.leaders\s+5:\d+\s+no-leader/);
  const ok = await cli(['topology', 'check', 'topology/local.yaml']);
  t.is(ok.code, 0);
  t.regex(ok.out, /valid topology "local"/);
  t.is(ok.err, '', 'no warnings');
});

test.serial('topology check prints warnings and exits 0; --json lists them', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'aetherflow-cli-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'warned.yaml');
  const doc0 = parse(readFileSync('topology/local.yaml', 'utf8')) as Record<string, unknown>;
  writeFileSync(file, stringify({ ...doc0, snapshot: { intervalMs: 50, budgetMs: 80, missThreshold: 2 } }));
  const json = await cli(['--json', 'topology', 'check', file]);
  t.is(json.code, 0, json.err);
  const doc = JSON.parse(json.out) as { valid: boolean; warnings: { file: string; path: string; code: string }[] };
  t.true(doc.valid);
  t.deepEqual(doc.warnings.map((w) => `${w.file} ${w.path} ${w.code}`), [`${file} snapshot.budgetMs budget-exceeds-interval`, `${file} snapshot.missThreshold ignored-field`]);
  const table = await cli(['topology', 'check', file]);
  t.is(table.code, 0);
  t.regex(table.out, /valid topology "local"/);
  t.regex(table.err, /^warning\[budget-exceeds-interval\]: .*warned\.yaml: snapshot\.budgetMs \(line \d+:\d+\): /m);
  t.regex(table.err, /^warning\[ignored-field\]: .*warned\.yaml: snapshot\.missThreshold /m);
});

test.serial('--certs-dir names where the client certificate is; a directory without one fails CERTIFICATE', async (t) => {
  const { base } = await regionWithTopologyFile(t);
  const empty = mkdtempSync(join(tmpdir(), 'aetherflow-no-certs-'));
  t.teardown(() => rmSync(empty, { recursive: true, force: true }));
  const refused = await cli([...base, 'put', 'k', 'v', '--region', 'r1', '--certs-dir', empty]);
  t.is(refused.code, 2);
  t.regex(refused.err, /^error\[CERTIFICATE\]: /);
  const served = await cli([...base, '--json', 'put', 'k', 'v', '--region', 'r1']);
  t.is(served.code, 0, served.err);
});

test.serial('certs create makes what is missing and keeps the rest; renew replaces the leaves; an insecure topology is refused', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'aetherflow-certs-cli-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const doc = parse(readFileSync(join(import.meta.dirname, '..', '..', 'topology', 'local.yaml'), 'utf8')) as { security: Record<string, unknown> };
  const topo = join(dir, 'topo.yaml');
  writeFileSync(topo, stringify({ ...doc, security: { ...doc.security, certsDir: join(dir, 'certs') } }));

  const created = await cli(['--topology', topo, '--json', 'certs', 'create']);
  t.is(created.code, 0, created.err);
  const first = JSON.parse(created.out) as { created: string[]; kept: string[] };
  t.true(first.created.includes(join(dir, 'certs', 'node.us-east-d1.crt')));
  t.deepEqual(first.kept, []);
  const again = JSON.parse((await cli(['--topology', topo, '--json', 'certs', 'create'])).out) as { created: string[]; kept: string[] };
  t.deepEqual(again.created, []);
  t.is(again.kept.length, first.created.length);

  const caBefore = readFileSync(join(dir, 'certs', 'ca.crt'), 'utf8');
  const leafBefore = readFileSync(join(dir, 'certs', 'node.us-east-d1.crt'), 'utf8');
  const renewed = await cli(['--topology', topo, 'certs', 'renew']);
  t.is(renewed.code, 0, renewed.err);
  t.regex(renewed.out, /renewed .*node\.us-east-d1\.crt/);
  t.is(readFileSync(join(dir, 'certs', 'ca.crt'), 'utf8'), caBefore);
  t.not(readFileSync(join(dir, 'certs', 'node.us-east-d1.crt'), 'utf8'), leafBefore);

  writeFileSync(topo, stringify({ ...doc, security: { insecure: true } }));
  const insecure = await cli(['--topology', topo, 'certs', 'create']);
  t.is(insecure.code, 2);
  t.regex(insecure.err, /^error\[USAGE\]: /m);
});
