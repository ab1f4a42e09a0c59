import type { HostFacts } from '../facts/host.js';

/**
 * ebpf_exporter's [Service] sandboxing and privileges, as data: the unit file is rendered
 * from it, and the pre-restart `--config.check --config.strict` runs under exactly the same
 * settings (systemd-run -p …), so the check fails where the service would.
 *
 * Privileges, reasoned out (all targets run kernel >= 5.15, so CAP_BPF exists):
 *  - CAP_BPF: create maps and load the programs.
 *  - CAP_PERFMON: attach uprobes/USDT (perf_event_open with the uprobe PMU) and read user
 *    memory from the programs (probe_read_user_str of URIs, class names).
 *  - CAP_SYS_ADMIN only where the kernel demands it: Ubuntu's kernels ship
 *    kernel.perf_event_paranoid=4 with a patch that refuses perf_event_open to any caller
 *    without CAP_SYS_ADMIN once the setting is above 2 (CAP_PERFMON is not enough there;
 *    Debian's similar patch, at 3, accepts CAP_PERFMON). Read from the host: the setting
 *    and whether the running kernel is Ubuntu's (/proc/version_signature).
 *  - /sys/kernel/btf/vmlinux (CO-RE relocations) is mode 0444; the probed binaries and
 *    their directories are world-readable: no CAP_DAC_READ_SEARCH.
 *  - LimitMEMLOCK=infinity is applied by systemd before the user switch (kernels < 5.11
 *    charge maps to RLIMIT_MEMLOCK), so no CAP_SYS_RESOURCE.
 */
export interface ExporterPrivileges {
  capabilities: string[];
  /** Why each capability beyond CAP_BPF/CAP_PERFMON is there (shown in the unit and in notes). */
  reasons: string[];
}

/** Ubuntu's perf_event_open patch applies above this paranoid level. */
const UBUNTU_PATCH_LEVEL = 2;

export function exporterPrivileges(f: Pick<HostFacts, 'perfEventParanoid' | 'ubuntuKernel'>): ExporterPrivileges {
  const capabilities = ['CAP_BPF', 'CAP_PERFMON'];
  const reasons: string[] = [];
  if (f.ubuntuKernel && (f.perfEventParanoid ?? 0) > UBUNTU_PATCH_LEVEL) {
    capabilities.push('CAP_SYS_ADMIN');
    reasons.push(
      `CAP_SYS_ADMIN: this Ubuntu kernel has kernel.perf_event_paranoid=${f.perfEventParanoid}, and Ubuntu's patch refuses perf_event_open without CAP_SYS_ADMIN above ${UBUNTU_PATCH_LEVEL}`,
    );
  }
  return { capabilities, reasons };
}

/** [Service] settings other than ExecStart/Type/Restart, in unit-file order. */
export function exporterServiceProperties(p: ExporterPrivileges): [string, string][] {
  const caps = p.capabilities.join(' ');
  return [
    ['DynamicUser', 'yes'],
    ['AmbientCapabilities', caps],
    ['CapabilityBoundingSet', caps],
    ['LimitMEMLOCK', 'infinity'],
    ['NoNewPrivileges', 'yes'],
    ['ProtectSystem', 'strict'],
    ['ProtectHome', 'yes'],
    ['PrivateTmp', 'yes'],
    ['PrivateDevices', 'yes'],
    ['ProtectKernelModules', 'yes'],
    ['ProtectKernelTunables', 'yes'],
    ['ProtectKernelLogs', 'yes'],
    ['ProtectControlGroups', 'yes'],
    ['ProtectClock', 'yes'],
    ['ProtectHostname', 'yes'],
    ['RestrictNamespaces', 'yes'],
    ['RestrictRealtime', 'yes'],
    ['RestrictSUIDSGID', 'yes'],
    ['LockPersonality', 'yes'],
    ['MemoryDenyWriteExecute', 'yes'],
    ['SystemCallArchitectures', 'native'],
    ['RestrictAddressFamilies', 'AF_UNIX AF_INET AF_INET6 AF_NETLINK'],
  ];
}

/**
 * argv that runs `command` once, in the foreground, as a transient service with the
 * exporter unit's own user, capabilities and sandboxing; its exit code is the command's.
 */
export function asExporterService(p: ExporterPrivileges, command: string[]): string[] {
  const props = exporterServiceProperties(p).flatMap(([k, v]) => ['-p', `${k}=${v}`]);
  return ['systemd-run', '--quiet', '--wait', '--pipe', '--collect', '--service-type=exec', ...props, '--', ...command];
}
