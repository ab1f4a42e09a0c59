/**
 * The metric contract between the BPF programs (bpf/*.yaml), Prometheus and the Grafana
 * dashboards. Names are as Prometheus stores them (with ebpf_exporter's `ebpf_exporter_`
 * prefix). Dashboard tests check every PromQL expression against this list, and a test of
 * the bpf/ YAML cross-checks it from the other side.
 */

/** Prefix ebpf_exporter puts in front of every metric declared in a config's YAML. */
export const EXPORTER_PREFIX = 'ebpf_exporter_';

/** The provisioned Prometheus data source's uid; dashboards refer to it directly. */
export const GRAFANA_DATASOURCE_UID = 'ebpf-lab-prometheus';

/** ebpf_exporter config names (bpf/<name>.yaml + <name>.bpf.o). */
export const EXPORTER_CONFIGS = ['php_request', 'php_compile', 'php_exception', 'php_function', 'memcached'] as const;

export interface LabMetric {
  /** Name in the YAML (without the exporter prefix). */
  name: string;
  type: 'counter' | 'histogram';
  /** Labels in the YAML, without the histogram bucket label. */
  labels: readonly string[];
  /** Which config declares it. */
  config: (typeof EXPORTER_CONFIGS)[number];
}

/** Every metric the lab's BPF programs export. */
export const LAB_METRICS: readonly LabMetric[] = [
  { name: 'php_request_duration_seconds', type: 'histogram', labels: ['sapi', 'uri', 'method'], config: 'php_request' },
  { name: 'php_request_dropped_total', type: 'counter', labels: ['sapi'], config: 'php_request' },
  { name: 'php_compile_file_total', type: 'counter', labels: ['sapi', 'dir'], config: 'php_compile' },
  { name: 'php_exception_thrown_total', type: 'counter', labels: ['sapi', 'class'], config: 'php_exception' },
  { name: 'php_exception_caught_total', type: 'counter', labels: ['sapi', 'class'], config: 'php_exception' },
  { name: 'php_function_calls_total', type: 'counter', labels: ['sapi', 'class', 'function'], config: 'php_function' },
  { name: 'memcached_set_value_bytes', type: 'histogram', labels: [], config: 'memcached' },
];

/** Metrics ebpf_exporter exports about itself (no prefix added: they already carry it). */
export const EXPORTER_BUILTIN_METRICS = [
  'ebpf_exporter_ebpf_program_attached',
  'ebpf_exporter_ebpf_program_info',
  'ebpf_exporter_enabled_configs',
] as const;

/** Series Prometheus makes up for every scrape target. */
export const PROMETHEUS_SYNTHETIC_METRICS = ['up', 'scrape_duration_seconds', 'scrape_samples_scraped'] as const;

/**
 * Every series name a query may use: each lab metric with its prefix (and `_bucket`, `_sum`,
 * `_count` for histograms), the exporter built-ins and Prometheus' per-target series.
 */
export function queryableMetricNames(): Set<string> {
  const out = new Set<string>([...EXPORTER_BUILTIN_METRICS, ...PROMETHEUS_SYNTHETIC_METRICS]);
  for (const m of LAB_METRICS) {
    const full = EXPORTER_PREFIX + m.name;
    if (m.type === 'histogram') for (const s of ['_bucket', '_sum', '_count']) out.add(full + s);
    else out.add(full);
  }
  return out;
}
