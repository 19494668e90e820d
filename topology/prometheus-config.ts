import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';
import { AetherError } from '../common/errors.js';
import type { Topology } from './types.js';

export interface PrometheusConfigOptions {
  /** The alerting rules file (absolute, or relative to where Prometheus runs). */
  readonly rulesFile: string;
  /** Prometheus duration, e.g. "2s": scrape and rule evaluation interval. */
  readonly interval?: string;
}

/**
 * 2 s: commits come every ~50 ms, but nothing reads their metrics that finely. The
 * scrape-time gauges (frontier and replication lag) are exact whenever scraped, so a
 * frontier standing still passes the alerts' 1 s threshold within one more scrape; a
 * rate over [1m] still has 30 samples; and a dozen processes scraped every 2 s cost the
 * deployment little. Scraping at the pipeline's 50 ms would cost each process a
 * serialisation of its registry 20 times a second and show nothing the alerts use.
 */
export const DEFAULT_SCRAPE_INTERVAL = '2s';

/** The repository's alerting rules, found from this module in the source tree (tsx) or in dist/. */
export function defaultRulesFile(): string {
  const here = fileURLToPath(import.meta.url);
  return fileURLToPath(new URL(here.endsWith('.ts') ? '../deploy/prometheus/alerts.yml' : '../../deploy/prometheus/alerts.yml', import.meta.url));
}

const ROLES = ['datanode', 'leader', 'coordinator'] as const;
type Role = (typeof ROLES)[number];

interface Target {
  readonly role: Role;
  readonly id: string;
  readonly region: string;
  readonly address: string;
}

function targets(topology: Topology): Target[] {
  return [
    ...topology.regions.flatMap((r) => [
      ...r.datanodes.map((d) => ({ role: 'datanode' as const, id: d.id, region: r.name, address: d.metrics })),
      ...r.leaders.map((l) => ({ role: 'leader' as const, id: l.id, region: r.name, address: l.metrics })),
    ]),
    ...topology.coordinators.map((c) => ({ role: 'coordinator' as const, id: c.id, region: c.region, address: c.metrics })),
  ];
}

/**
 * A Prometheus configuration (prometheus.yml), as an object, scraping every process of a
 * topology at its `metrics` address: one job per role, each target labelled with its
 * role, id and region, and the alerting rules loaded from `rulesFile`.
 *
 * The processes already put role, id and region on every series (their registries'
 * default labels), and some series carry a region of their own (region_member on the
 * coordinator names the region it judges). Without honor_labels Prometheus would rename
 * those to exported_region and overwrite region with the target's, breaking the rules'
 * `by (region)`; with it, the process's labels win and the target labels only reach the
 * series that lack them (`up`, scrape_duration_seconds).
 */
export function prometheusConfig(topology: Topology, options: PrometheusConfigOptions): Record<string, unknown> {
  const interval = options.interval ?? DEFAULT_SCRAPE_INTERVAL;
  if (!/^\d+(ms|s|m)$/.test(interval)) throw new AetherError('USAGE', `interval ${JSON.stringify(interval)} is not a Prometheus duration like 2s or 500ms`);
  if (!existsSync(options.rulesFile)) throw new AetherError('USAGE', `rules file ${options.rulesFile} does not exist`, { details: { file: options.rulesFile } });
  const all = targets(topology);
  return {
    global: {
      scrape_interval: interval,
      // A process that cannot answer within the interval counts as down, rather than overlapping scrapes.
      scrape_timeout: interval,
      evaluation_interval: interval,
      external_labels: { aetherflow: topology.name },
    },
    rule_files: [options.rulesFile],
    scrape_configs: ROLES.filter((role) => all.some((t) => t.role === role)).map((role) => ({
      job_name: `aetherflow-${role}`,
      honor_labels: true,
      metrics_path: '/metrics',
      static_configs: all.filter((t) => t.role === role).map((t) => ({ targets: [t.address], labels: { role: t.role, id: t.id, region: t.region } })),
    })),
  };
}

/** prometheus.yml's text, with a header naming the topology it was rendered from. */
export function prometheusConfigYaml(topology: Topology, options: PrometheusConfigOptions): string {
  const config = prometheusConfig(topology, options);
  return `# Prometheus scrape configuration for topology "${topology.name}" (${topology.file}), written by \`aetherflow render prometheus\`.\n${stringify(config, { lineWidth: 0 })}`;
}
