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
import { release } from 'node:os';
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

/** What the sandbox's package set depends on: its OS release (the kernel is this machine's). */
export interface SandboxOsFacts {
  distro: string;
  versionId: string;
  suite: string;
}

/**
 * Every package any step may install on a sandbox of `os`: its local repository serves them
 * (alternatives `a|b` are resolved against that OS's archive when the repository is built).
 */
export function sandboxPackages(os: SandboxOsFacts): string[] {
  const facts = { os: { id: os.distro, versionId: os.versionId, codename: os.suite, pretty: '' }, kernel: release() };
  // + the distribution's Prometheus: the sandbox has no internet for the upstream release.
  return [...new Set([...labPackages(facts), 'prometheus'])].sort();
}
