import { exporterPrivileges, exporterServiceProperties } from '../../src/render/exporter-service.js';
import type { HostFacts } from '../../src/facts/host.js';

/** The `service` and `reasons` locals of ebpf_exporter.service, as the step computes them from facts. */
export function exporterUnitPrivileges(f: Pick<HostFacts, 'ubuntuKernel' | 'perfEventParanoid'>) {
  const p = exporterPrivileges(f);
  return { service: exporterServiceProperties(p), reasons: p.reasons };
}
