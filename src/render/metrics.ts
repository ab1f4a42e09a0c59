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
 * The workshop's series (egmc/php-sessionless-conference-ebpf-workshop, whose dashboard reads
 * what the php example of egmc/ebpf_exporter's `ebpf-php-sample` branch exports) and how the
 * lab answers to each name, with the workshop's label names:
 * - `rule`: a recording rule in templates/etc/prometheus/ebpf-lab-workshop.rules.yml derives it
 *   from the lab metric `from` (the prometheus step installs the rules);
 * - `relabel`: the lab's series already has this name; prometheus.yml's scrape config adds the
 *   workshop's label (a recording rule cannot write to a name the exporter already uses
 *   without the workshop's bare-name queries seeing every series twice);
 * - `same`: the lab's series has this name and the workshop's labels already.
 * Every derived series keeps the lab's `sapi` label (the workshop traced mod_php only).
 */
export interface WorkshopMetric {
  /** Full name as Prometheus stores it (with the exporter prefix), without histogram suffixes. */
  name: string;
  type: 'counter' | 'histogram';
  /** The workshop's labels, without the histogram bucket label. */
  labels: readonly string[];
  via: 'rule' | 'relabel' | 'same';
  /** The lab metric it comes from (LAB_METRICS name). */
  from: string;
}

export const WORKSHOP_METRICS: readonly WorkshopMetric[] = [
  {
    name: 'ebpf_exporter_php_request_time_sec',
    type: 'histogram',
    labels: ['request_uri', 'request_method'],
    via: 'rule',
    from: 'php_request_duration_seconds',
  },
  {
    name: 'ebpf_exporter_memcached_set_val_length',
    type: 'histogram',
    labels: [],
    via: 'rule',
    from: 'memcached_set_value_bytes',
  },
  {
    name: 'ebpf_exporter_php_compile_file_total',
    type: 'counter',
    labels: ['filename'],
    via: 'relabel',
    from: 'php_compile_file_total',
  },
  {
    name: 'ebpf_exporter_php_exception_thrown_total',
    type: 'counter',
    labels: ['class'],
    via: 'same',
    from: 'php_exception_thrown_total',
  },
  {
    name: 'ebpf_exporter_php_exception_caught_total',
    type: 'counter',
    labels: ['class'],
    via: 'same',
    from: 'php_exception_caught_total',
  },
];

/** The recording-rule group (templates/etc/prometheus/ebpf-lab-workshop.rules.yml). */
export const WORKSHOP_RULE_GROUP = 'ebpf-lab-workshop';

/** Series names of a metric: histograms have `_bucket`, `_sum` and `_count`. */
function seriesNames(full: string, type: 'counter' | 'histogram'): string[] {
  return type === 'histogram' ? ['_bucket', '_sum', '_count'].map((s) => full + s) : [full];
}

/**
 * Every series name a query may use: each lab metric with its prefix (and `_bucket`, `_sum`,
 * `_count` for histograms), the workshop's names the recording rules produce, the exporter
 * built-ins and Prometheus' per-target series.
 */
export function queryableMetricNames(): Set<string> {
  const out = new Set<string>([...EXPORTER_BUILTIN_METRICS, ...PROMETHEUS_SYNTHETIC_METRICS]);
  for (const m of LAB_METRICS) for (const n of seriesNames(EXPORTER_PREFIX + m.name, m.type)) out.add(n);
  for (const m of WORKSHOP_METRICS) for (const n of seriesNames(m.name, m.type)) out.add(n);
  return out;
}

/**
 * Label names a series carries in Prometheus (besides job and instance), by series name:
 * the lab's labels, the workshop's for the names it answers to (plus the lab's `sapi`),
 * and `le` on buckets.
 */
export function seriesLabels(): Map<string, Set<string>> {
  const out = new Map<string, Set<string>>();
  const add = (full: string, type: 'counter' | 'histogram', labels: readonly string[]) => {
    for (const n of seriesNames(full, type)) {
      const set = out.get(n) ?? new Set<string>(['job', 'instance']);
      labels.forEach((l) => set.add(l));
      if (n.endsWith('_bucket')) set.add('le');
      out.set(n, set);
    }
  };
  for (const m of LAB_METRICS) add(EXPORTER_PREFIX + m.name, m.type, m.labels);
  for (const m of WORKSHOP_METRICS) {
    const lab = LAB_METRICS.find((l) => l.name === m.from);
    add(m.name, m.type, [...m.labels, ...(lab?.labels.includes('sapi') ? ['sapi'] : [])]);
  }
  return out;
}
