import test, { type Implementation } from 'ava';

/**
 * Declares a test that finds a bug not fixed yet. It is skipped — and shows as skipped,
 * with the bug in its title — unless AETHERFLOW_KNOWN_FAILING=1 (`make
 * test-known-failing`), so CI stays green while the bug is open without weakening the
 * test. README "Known failures" lists them; drop the wrapper when the bug is fixed.
 */
export function knownFailing(bug: string): (title: string, fn: Implementation<[]>) => void {
  const run = process.env['AETHERFLOW_KNOWN_FAILING'] === '1';
  return (title, fn) => (run ? test : test.skip)(`${title} [known failing: ${bug}]`, fn);
}
