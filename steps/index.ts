import preflight from './preflight.js';
import packages from './packages.js';
import php from './php.js';
import dtrace from './dtrace.js';
import sampleApp from './sample-app.js';
import bpfPrograms from './bpf-programs.js';
import ebpfExporter from './ebpf-exporter.js';
import prometheus from './prometheus.js';
import grafana from './grafana.js';
import btTools from './bt-tools.js';
import batchJob from './batch-job.js';
import { labPackages } from './packages.js';
import type { Step } from '../src/runner/types.js';

/** Every step, in the order they run. `--only`/`--skip` select from this list. */
export const STEPS: Step[] = [
  preflight,
  packages,
  php,
  dtrace,
  sampleApp,
  bpfPrograms,
  ebpfExporter,
  prometheus,
  grafana,
  btTools,
  batchJob,
];

/** Facts of the sandbox (always Debian 12), to compute its package repository offline. */
const SANDBOX_FACTS = {
  os: { id: 'debian', versionId: '12', codename: 'bookworm', pretty: 'Debian GNU/Linux 12 (bookworm)' },
  arch: 'x86_64',
  multiarch: 'x86_64-linux-gnu',
  kernel: 'sandbox',
  btf: true,
  virt: 'systemd-nspawn',
  cloudInit: false,
};

/** Every package any step may install on the sandbox: its local repository serves them. */
export function sandboxPackages(): string[] {
  // + the distribution's Prometheus: the sandbox has no internet for the upstream release.
  return [...new Set([...labPackages(SANDBOX_FACTS), 'prometheus'])].sort();
}
