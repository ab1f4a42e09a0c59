import { doctorChecks, doctorProbe, type DoctorCheck } from '../facts/doctor.js';
import { runProbes } from '../resources/probe.js';
import { withLab, type TargetInput } from './lab-target.js';

/**
 * doctor — can this host run the lab, and if not, why and what to do: read-only checks
 * (kernel, BTF, capabilities, bpf()/perf_event_open with a real tiny program, tracefs,
 * uprobes, PHP's DTrace build and USDT notes, bpftrace/bpftool and their known issues,
 * netem for inject-latency). Exit 1 when a check fails; warnings do not fail.
 */
const MARK: Record<DoctorCheck['status'], string> = { ok: 'ok  ', warn: 'WARN', fail: 'FAIL' };

export function doctorLines(checks: DoctorCheck[]): string[] {
  const out: string[] = [];
  for (const c of checks) {
    out.push(`${MARK[c.status]} ${c.what} — ${c.detail}`);
    if (c.fix) out.push(`     fix: ${c.fix}`);
  }
  const n = (s: DoctorCheck['status']) => checks.filter((c) => c.status === s).length;
  out.push(`${n('fail') ? 'NOT READY' : 'ready'}: ${n('ok')} ok, ${n('warn')} warning(s), ${n('fail')} failed`);
  return out;
}

export async function doctorCommand(
  input: TargetInput & { output?: string },
  write: (s: string) => void,
): Promise<number> {
  return withLab(input, async (host, label) => {
    const { facts } = await runProbes(host, { facts: doctorProbe });
    const checks = doctorChecks(facts);
    const failed = checks.some((c) => c.status === 'fail');
    if (input.output === 'json')
      write(JSON.stringify({ target: label, host: host.name, ok: !failed, checks }, null, 2));
    else {
      write(`doctor on ${label} (${host.name}):`);
      doctorLines(checks).forEach(write);
    }
    return failed ? 1 : 0;
  });
}
