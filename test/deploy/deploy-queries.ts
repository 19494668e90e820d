import { readFileSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';

/** The PromQL deploy/ runs: the Grafana dashboards' panel queries and the alerting rules' expressions. */

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const RULES_DIR = join(root, 'deploy', 'prometheus');
export const DASHBOARD_DIR = join(root, 'deploy', 'grafana');

export interface Rule {
  readonly alert?: string;
  readonly expr: string;
  readonly for?: string;
  readonly labels?: Record<string, string>;
  readonly annotations?: Record<string, string>;
}

export function alertRules(): Rule[] {
  const doc = parse(readFileSync(join(RULES_DIR, 'alerts.yml'), 'utf8')) as { groups: { rules: Rule[] }[] };
  return doc.groups.flatMap((g) => g.rules);
}

export interface Panel {
  readonly title: string;
  readonly type: string;
  readonly targets?: readonly { readonly expr: string }[];
  readonly panels?: readonly Panel[];
}
export interface Dashboard {
  readonly panels: readonly Panel[];
  readonly templating: { readonly list: readonly { readonly name: string; readonly type: string; readonly definition?: string }[] };
}

/** Every dashboard in deploy/grafana, with its file and text. */
export function dashboards(): { readonly file: string; readonly text: string; readonly dashboard: Dashboard }[] {
  return readdirSync(DASHBOARD_DIR)
    .filter((f) => f.endsWith('.json'))
    .map((f) => {
      const text = readFileSync(join(DASHBOARD_DIR, f), 'utf8');
      return { file: f, text, dashboard: JSON.parse(text) as Dashboard };
    });
}

/** Every panel's queries, rows' nested panels included. */
export function dashboardExprs(d: Dashboard): string[] {
  const all = (ps: readonly Panel[]): Panel[] => ps.flatMap((p) => [p, ...all(p.panels ?? [])]);
  return all(d.panels).flatMap((p) => (p.targets ?? []).map((x) => x.expr));
}

/** The dashboards' queries and the rules' expressions together. */
export function deployExpressions(): string[] {
  return [...dashboards().flatMap((d) => dashboardExprs(d.dashboard)), ...alertRules().map((r) => r.expr)];
}
