import test from 'ava';
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

// The handbook cannot point at nothing: every relative link of README.md and docs/*.md
// names a file or folder of the repository, and none names notes kept outside it.

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

function handbook(): string[] {
  const docs = join(ROOT, 'docs');
  return [join(ROOT, 'README.md'), ...readdirSync(docs).filter((f) => f.endsWith('.md')).map((f) => join(docs, f))];
}

/** Markdown link and image targets outside code spans and fenced blocks: `[text](target)`, `![alt](target "title")`. */
export function linkTargets(markdown: string): string[] {
  const out: string[] = [];
  let fenced = false;
  for (const line of markdown.split('\n')) {
    if (/^\s*(```|~~~)/.test(line)) {
      fenced = !fenced;
      continue;
    }
    if (fenced) continue;
    const text = line.replace(/`[^`]*`/g, '');
    for (const m of text.matchAll(/!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g)) out.push(m[1]!);
  }
  return out;
}

/** GitHub's anchor of a heading: lower case, punctuation dropped (hyphens and underscores kept), spaces to hyphens. */
export function anchorOf(heading: string): string {
  return heading
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\s_-]/gu, '')
    .replace(/\s/g, '-');
}

function anchors(markdown: string): Set<string> {
  const out = new Set<string>();
  let fenced = false;
  for (const line of markdown.split('\n')) {
    if (/^\s*(```|~~~)/.test(line)) fenced = !fenced;
    const m = fenced ? null : /^#{1,6}\s+(.*)$/.exec(line);
    if (m) out.add(anchorOf(m[1]!));
  }
  return out;
}

function isRelative(target: string): boolean {
  return !/^[a-z][a-z0-9+.-]*:/i.test(target) && !target.startsWith('#');
}

test('linkTargets finds links and images, not code', (t) => {
  const md = ['See [a](docs/a.md#x) and ![p](plots/p.png "t").', '`[not](code.md)`', '```', '[no](fenced.md)', '```', '[web](https://example.com)'].join('\n');
  t.deepEqual(linkTargets(md), ['docs/a.md#x', 'plots/p.png', 'https://example.com']);
});

test('anchorOf follows GitHub', (t) => {
  t.is(anchorOf('Dynamic settings (not in the file)'), 'dynamic-settings-not-in-the-file');
  t.is(anchorOf('Quantum, the transport between regions'), 'quantum-the-transport-between-regions');
  t.is(anchorOf('`security`'), 'security');
});

test('every relative link in README.md and docs/*.md points to an existing file (and heading)', (t) => {
  const broken: string[] = [];
  let checked = 0;
  for (const file of handbook()) {
    for (const target of linkTargets(readFileSync(file, 'utf8')).filter((x) => isRelative(x) || x.startsWith('#'))) {
      const [rawPath, fragment] = target.split('#') as [string, string | undefined];
      const path = rawPath === '' ? file : resolve(dirname(file), decodeURIComponent(rawPath));
      checked++;
      if (!existsSync(path)) broken.push(`${file.slice(ROOT.length)}: ${target}`);
      else if (fragment && path.endsWith('.md') && !anchors(readFileSync(path, 'utf8')).has(fragment)) broken.push(`${file.slice(ROOT.length)}: ${target} (no such heading)`);
    }
  }
  t.deepEqual(broken, []);
  t.true(checked > 10, `only ${checked} relative links found`);
});

test('the handbook refers to nothing outside the repository', (t) => {
  // Built from parts, so this file does not name them itself.
  const names = ['../' + 'shared', ['DESIGN', 'md'].join('.'), ['CONTRACT', 'md'].join('.')];
  const outside = new RegExp(names.map((n) => n.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')).join('|'));
  const found = handbook().flatMap((file) =>
    readFileSync(file, 'utf8')
      .split('\n')
      .flatMap((line, i) => (outside.test(line) ? [`${file.slice(ROOT.length)}:${i + 1}: ${line.trim()}`] : [])),
  );
  t.deepEqual(found, []);
});

test("README's layout table names every top-level folder of the repository", (t) => {
  const tracked = execFileSync('git', ['ls-files'], { cwd: ROOT, encoding: 'utf8' })
    .split('\n')
    .filter((f) => f.includes('/'))
    .map((f) => f.slice(0, f.indexOf('/')));
  const folders = [...new Set(tracked)].sort();
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  t.deepEqual(
    folders.filter((d) => !readme.includes(`| \`${d}/\` |`)),
    [],
  );
  t.true(folders.length >= 15);
});
