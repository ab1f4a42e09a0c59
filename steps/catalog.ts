/**
 * What a command must know about the steps before the steps themselves are loaded (they are
 * loaded while the host is being opened): their ids, to check --only/--skip, and the packages
 * they install, which a sandbox's package repository is built from. steps/index.ts checks
 * that the ids are the steps'.
 */
import { release } from 'node:os';
import type { HostFacts } from '../src/facts/host.js';

/** Every step's id, in the order they run. */
export const STEP_IDS = [
  'preflight',
  'packages',
  'php',
  'dtrace',
  'sample-app',
  'bpf-programs',
  'ebpf-exporter',
  'prometheus',
  'grafana',
  'bt-tools',
  'batch-job',
] as const;

/**
 * The packages step's packages: every package the lab needs.
 *
 * Tracing: bpftrace, bpftool, clang, llvm, libbpf-dev, libelf-dev, libc6-dev, make;
 * tools: curl, jq, apache2-utils (ab), iproute2 (tc); PHP: apache2 with mod_php, php-fpm, php-cli, memcached with
 * php-memcached, php-apcu. Installs with --no-install-recommends in one apt-get call;
 * `apt-get update` only when apt does not know a package.
 *
 * bpftool is a list of alternatives, the first the archive has wins (see {@link bpftoolAlternatives}).
 */
export function labPackages(f: Pick<HostFacts, 'os' | 'kernel'>): string[] {
  return [
    'bpftrace',
    bpftoolAlternatives(f),
    'clang',
    'llvm',
    'libbpf-dev',
    'libelf-dev',
    'libc6-dev',
    'make',
    'curl',
    'jq',
    // exercises: ab for `ebpf-lab bench`, tc for `ebpf-lab inject-latency`
    'apache2-utils',
    'iproute2',
    'apache2',
    'libapache2-mod-php',
    'php-fpm',
    'php-cli',
    'memcached',
    'php-memcached',
    'php-apcu',
  ];
}

/**
 * Where bpftool comes from, best first, as apt alternatives `a|b|c`:
 * - Debian: the `bpftool` package.
 * - Ubuntu: `linux-tools-<running kernel>` when the archive has it (what the
 *   /usr/sbin/bpftool wrapper looks for); else a real `bpftool` package (26.04 has one;
 *   24.04's is only a virtual name, which apt gives no candidate); else the newest
 *   generic tools the release has (the HWE ones first: 22.04's 5.15 bpftool cannot read a
 *   6.x kernel's BTF, its HWE 6.8 bpftool can). A kernel without its own linux-tools
 *   (a vendor kernel, a container on another host, a kernel newer than its tools) takes
 *   one of the latter; the bpf-programs step then finds the binary from facts.
 */
export function bpftoolAlternatives(f: Pick<HostFacts, 'os' | 'kernel'>): string {
  if (f.os.id !== 'ubuntu') return 'bpftool';
  const own = /^[0-9][a-z0-9.+-]*$/.test(f.kernel) ? [`linux-tools-${f.kernel}`] : [];
  return [...own, 'bpftool', `linux-tools-generic-hwe-${f.os.versionId}`, 'linux-tools-generic'].join('|');
}

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
