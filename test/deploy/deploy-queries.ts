import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';

/** The PromQL deploy/ runs: the Grafana dashboard's panel queries and the alerting rules' expressions. */

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const RULES_DIR = join(root, 'deploy', 'prometheus');
export const DASHBOARD_FILE = join(root, 'deploy', 'grafana', 'aetherflow.json');

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

export function dashboard(): Dashboard {
  return JSON.parse(readFileSync(DASHBOARD_FILE, 'utf8')) as Dashboard;
}

/** Every panel's queries, rows' nested panels included. */
export function dashboardExprs(d: Dashboard): string[] {
  const all = (ps: readonly Panel[]): Panel[] => ps.flatMap((p) => [p, ...all(p.panels ?? [])]);
  return all(d.panels).flatMap((p) => (p.targets ?? []).map((x) => x.expr));
}

/** The dashboard's queries and the rules' expressions together. */
export function deployExpressions(): string[] {
  return [...dashboardExprs(dashboard()), ...alertRules().map((r) => r.expr)];
}
