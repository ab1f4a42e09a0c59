/**
 * The lab's layout on a host: where its files live and which ports its services answer
 * on. Steps, commands, the runner and the callers of templates read these here, so the
 * lab's shape is written down once.
 */

/** What the lab installs of its own: tools, programs, binaries. */
export const LAB_DIR = '/opt/ebpf-lab';
/** The lab's state on the host (run lock, pending restarts, dashboards, exercise state). */
export const STATE_DIR = '/var/lib/ebpf-lab';

/**
 * The run lock: one run at a time per host, a kernel lock (flock) on STATE_DIR held by the
 * run's holder process (src/runner/host-lock.ts); this file says whose run holds it.
 */
export const RUN_OWNER = `${STATE_DIR}/run.owner`;
/** Pending restarts and reloads (`restart@apache2.service`), written before the config that needs them. */
export const PENDING_DIR = `${STATE_DIR}/pending`;
/** Where dashboards/*.json are copied for Grafana's dashboards provider. */
export const DASHBOARDS_DIR = `${STATE_DIR}/dashboards`;

/** apache2's document root: the sample pages, served by mod_php at / and by php-fpm at /fpm/. */
export const DOCROOT = '/var/www/html';
/** The sample pages' files, relative to {@link DOCROOT}. */
export const SAMPLE_FILES = [
  'index.php',
  'mem.php',
  'exception.php',
  'error.php',
  'path1/a.php',
  'path2/a.php',
  'phpinfo.php',
];
/** The sample pages as requested (relative to / or /fpm/), each with its status and a marker of its answer. */
export const SAMPLE_PAGES: { page: string; status: number; expect: RegExp }[] = [
  // `/` and `/fpm/` themselves: the sample app, not the distribution's default page.
  { page: '', status: 200, expect: /ebpf-lab sample app/ },
  { page: 'index.php', status: 200, expect: /ebpf-lab sample app/ },
  { page: 'mem.php?n=20', status: 200, expect: /stored=20 of 20/ },
  { page: 'exception.php', status: 500, expect: /caught RuntimeException/ },
  { page: 'error.php', status: 500, expect: /^/ },
  { page: 'path1/a.php', status: 200, expect: /path1\/a\.php/ },
  { page: 'path2/a.php', status: 200, expect: /path2\/a\.php/ },
  { page: 'phpinfo.php', status: 200, expect: /DTrace Support/ },
];
/** php-fpm's socket, which apache2 proxies /fpm/ to (Debian and Ubuntu packaging). */
export const fpmSocket = (phpVersion: string): string => `/run/php/php${phpVersion}-fpm.sock`;

/** The batch-job exercise's sample PHP CLI job. */
export const JOB_PATH = `${LAB_DIR}/jobs/nightly-report.php`;
/** The bpftrace tools (bt/*.bt, with this host's probe paths). */
export const BT_DIR = `${LAB_DIR}/bt`;
/** The bpftrace tool that times batch jobs. */
export const BATCH_BT = `${BT_DIR}/php-batch-jobs.bt`;
/** The BPF programs' sources, built on the host. */
export const BPF_SRC = `${LAB_DIR}/bpf-src`;
/** The built BPF objects with their ebpf_exporter configs (the exporter's config dir). */
export const BPF_OUT = `${LAB_DIR}/bpf`;
/** The ebpf_exporter binary of a release. */
export const exporterBinary = (version: string): string => `${LAB_DIR}/ebpf_exporter/${version}/ebpf_exporter`;
/** An unpacked Prometheus release. */
export const prometheusDir = (version: string): string => `${LAB_DIR}/prometheus/${version}`;

/** apache2: mod_php at /, php-fpm at /fpm/. */
export const HTTP_PORT = 80;
/** memcached, used by the sample pages and the batch job (loopback). */
export const MEMCACHED_PORT = 11211;
/** ebpf_exporter (loopback only). */
export const EXPORTER_PORT = 9435;
/** Prometheus (loopback only). */
export const PROMETHEUS_PORT = 9090;
/** Grafana (every address: attendees open it in their browser). */
export const GRAFANA_PORT = 3000;

export const EXPORTER_LISTEN = `127.0.0.1:${EXPORTER_PORT}`;
export const PROMETHEUS_LISTEN = `127.0.0.1:${PROMETHEUS_PORT}`;
export const PROMETHEUS_URL = `http://${PROMETHEUS_LISTEN}`;
/** Grafana as seen from the lab host itself. */
export const GRAFANA_URL = `http://127.0.0.1:${GRAFANA_PORT}`;
