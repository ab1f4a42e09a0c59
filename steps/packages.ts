import { checkDesired, applyDesired, type Desired } from '../src/resources/desired.js';
import type { HostFacts } from '../src/facts/host.js';
import type { Step } from '../src/runner/types.js';

/**
 * packages — every package the lab needs is installed, nothing else.
 *
 * Tracing: bpftrace, bpftool, clang, llvm, libbpf-dev, libelf-dev, libc6-dev, make;
 * tools: curl, jq, apache2-utils (ab), iproute2 (tc); PHP: apache2 with mod_php, php-fpm, php-cli, memcached with
 * php-memcached, php-apcu. bpftool comes from `linux-tools-<kernel>` on Ubuntu and
 * from the `bpftool` package on Debian. Installs with --no-install-recommends in one
 * apt-get call; `apt-get update` only when apt does not know a package.
 */
export function labPackages(f: HostFacts): string[] {
  return [
    'bpftrace',
    ...bpftoolPackages(f),
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

/** Ubuntu ships bpftool inside the kernel-versioned linux-tools; Debian as `bpftool`. */
export function bpftoolPackages(f: HostFacts): string[] {
  if (f.os.id !== 'ubuntu') return ['bpftool'];
  // An Ubuntu kernel (5.15.0-1051-aws, 6.8.0-45-generic) has its own linux-tools
  // package; a foreign kernel (a container on another host) falls back to -generic.
  const ubuntuKernel = /^\d+\.\d+\.\d+-\d+-[a-z]+$/.test(f.kernel);
  return ['linux-tools-common', ubuntuKernel ? `linux-tools-${f.kernel}` : 'linux-tools-generic'];
}

async function desired(f: HostFacts): Promise<Desired> {
  return { packages: labPackages(f) };
}

const step: Step = {
  id: 'packages',
  title: 'Tracing, build and PHP packages are installed',
  needs: ['preflight'],
  async check(ctx) {
    const f = await ctx.facts();
    const { changes, notes } = await checkDesired(
      ctx,
      await desired(f),
      `all ${labPackages(f).length} packages installed`,
    );
    return { changes, notes };
  },
  async apply(ctx, changes) {
    await applyDesired(ctx, await desired(await ctx.facts()), changes);
  },
  async verify(ctx) {
    const r = await ctx.host.exec(
      { script: 'bpftrace --version; bpftool version | head -1; clang --version | head -1' },
      { sudo: true, nothrow: true },
    );
    return [
      { ok: r.exitCode === 0, what: 'bpftrace, bpftool and clang run', detail: r.stdout.trim().split('\n').join('; ') },
    ];
  },
};
export default step;
