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
import { STEP_IDS } from './catalog.js';
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

// The ids a command checks --only/--skip against before the steps are loaded are theirs.
if (STEPS.map((s) => s.id).join() !== STEP_IDS.join())
  throw new Error(`steps/catalog.ts STEP_IDS is not the steps' ids: ${STEPS.map((s) => s.id).join()}`);

export { sandboxPackages, type SandboxOsFacts } from './catalog.js';
