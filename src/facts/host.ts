import { UserError } from '../errors.js';
import { probe, type Probe } from '../resources/probe.js';
import { hostScript } from '../render/script.js';

/** What the steps need to know about a host; everything OS-specific comes from here. */
export interface HostFacts {
  os: { id: string; versionId: string; codename: string; pretty: string };
  arch: string;
  /** Debian multiarch triplet, e.g. x86_64-linux-gnu. */
  multiarch: string;
  kernel: string;
  btf: boolean;
  cloudInit: boolean;
  php?: PhpFacts;
  /** kernel.perf_event_paranoid (undefined when unreadable). */
  perfEventParanoid?: number;
  /** The running kernel is one of Ubuntu's (it has /proc/version_signature): its perf patch applies. */
  ubuntuKernel: boolean;
  libmemcached?: string;
  apcuSo?: string;
}

export interface PhpFacts {
  version: string;
  /** mod_php module, e.g. /usr/lib/apache2/modules/libphp8.1.so */
  libphp?: string;
  /** php-fpm binary, e.g. /usr/sbin/php-fpm8.1, and its unit php8.1-fpm.service */
  fpmBinary?: string;
  fpmUnit?: string;
  cli?: string;
  /** /etc/php/8.1 */
  confDir: string;
  /**
   * The module and the fpm binary carry PHP's USDT probes (stapsdt notes): PHP was built
   * with --enable-dtrace. Ubuntu 24.04's PHP 8.3 was not (LP #2088977): on such a host the
   * USDT-based programs, tools and checks cannot work, and say so instead of failing.
   */
  usdt: boolean;
}

export const SUPPORTED_OS = [
  { id: 'ubuntu', versionId: '22.04', name: 'Ubuntu 22.04' },
  { id: 'ubuntu', versionId: '24.04', name: 'Ubuntu 24.04' },
  { id: 'ubuntu', versionId: '26.04', name: 'Ubuntu 26.04' },
  { id: 'debian', versionId: '12', name: 'Debian 12' },
  { id: 'debian', versionId: '13', name: 'Debian 13' },
] as const;

const SECTIONS = [
  'osrel',
  'uname',
  'btf',
  'cloudinit',
  'libphp',
  'fpm',
  'cli',
  'memc',
  'apcu',
  'perf',
  'vsig',
  'stapsdt',
] as const;

/** One shell script printing every section, fenced by `== name` lines. */
export const HOST_FACTS_SCRIPT = hostScript('host-facts');

export const hostFactsProbe: Probe<HostFacts> = probe(HOST_FACTS_SCRIPT, (out) => parseHostFacts(out), { id: 'host' });

/** Splits a facts script's output into its `== name` sections (trimmed, non-empty lines). */
export function sections(out: string, names: readonly string[] = SECTIONS): Record<string, string[]> {
  const s: Record<string, string[]> = Object.fromEntries(names.map((k) => [k, []]));
  let cur: string | undefined;
  for (const line of out.split('\n')) {
    const m = /^== (\w+)$/.exec(line);
    if (m) cur = m[1];
    else if (cur && line.trim() !== '') s[cur]?.push(line.trim());
  }
  return s;
}

function osRelease(lines: string[]): Record<string, string> {
  const kv: Record<string, string> = {};
  for (const l of lines) {
    const m = /^([A-Z_]+)=(.*)$/.exec(l);
    if (m) kv[m[1]!] = m[2]!.replace(/^"(.*)"$/, '$1');
  }
  return kv;
}

const MULTIARCH: Record<string, string> = { x86_64: 'x86_64-linux-gnu', aarch64: 'aarch64-linux-gnu' };

/** Picks the highest PHP version among the paths found (a host may carry two). */
function pickVersion(paths: string[], re: RegExp): { version: string; path: string } | undefined {
  const found = paths.map((p) => ({ p, m: re.exec(p) })).filter((x) => x.m);
  found.sort((a, b) => b.m![1]!.localeCompare(a.m![1]!, undefined, { numeric: true }));
  const f = found[0];
  return f ? { version: f.m![1]!, path: f.p } : undefined;
}

export function parseHostFacts(out: string): HostFacts {
  const s = sections(out);
  const os = osRelease(s['osrel']!);
  const [arch = 'unknown', kernel = 'unknown'] = s['uname']!;
  const mod = pickVersion(s['libphp']!, /libphp(\d+\.\d+)\.so$/);
  const fpm = pickVersion(s['fpm']!, /php-fpm(\d+\.\d+)$/);
  const cli = pickVersion(s['cli']!, /\/php(\d+\.\d+)$/);
  const version = mod?.version ?? fpm?.version ?? cli?.version;
  const php: PhpFacts | undefined = version
    ? {
        version,
        libphp: mod?.version === version ? mod.path : undefined,
        fpmBinary: fpm?.version === version ? fpm.path : undefined,
        fpmUnit: fpm?.version === version ? `php${version}-fpm.service` : undefined,
        cli: cli?.version === version ? cli.path : undefined,
        confDir: `/etc/php/${version}`,
        usdt: [mod?.version === version ? mod.path : undefined, fpm?.version === version ? fpm.path : undefined]
          .filter((x): x is string => !!x)
          .every((p) => s['stapsdt']!.includes(p)),
      }
    : undefined;
  const memc = s['memc']!.filter((p) => /libmemcached\.so\.\d+$/.test(p)).sort()[0];
  return {
    os: {
      id: os['ID'] ?? 'unknown',
      versionId: os['VERSION_ID'] ?? '',
      codename: os['VERSION_CODENAME'] ?? '',
      pretty: os['PRETTY_NAME'] ?? 'unknown OS',
    },
    arch,
    multiarch: MULTIARCH[arch] ?? `${arch}-linux-gnu`,
    kernel,
    btf: s['btf']!.includes('yes'),
    cloudInit: s['cloudinit']!.length > 0,
    php,
    perfEventParanoid: /^-?\d+$/.test(s['perf']![0] ?? '') ? Number(s['perf']![0]) : undefined,
    ubuntuKernel: /^Ubuntu /.test(s['vsig']![0] ?? ''),
    libmemcached: memc,
    apcuSo: s['apcu']!.sort().pop(),
  };
}

/** The PHP facts the lab needs, or a UserError when PHP (mod_php and php-fpm) is not installed yet. */
export function phpFacts(
  f: HostFacts,
): Required<Pick<PhpFacts, 'version' | 'libphp' | 'fpmBinary' | 'fpmUnit' | 'confDir'>> {
  const p = f.php;
  if (!p?.libphp || !p.fpmBinary || !p.fpmUnit)
    throw new UserError(
      'PHP (mod_php and php-fpm) is not installed on this host yet',
      'run the packages step first: ebpf-lab up --only packages,php',
    );
  return { version: p.version, libphp: p.libphp, fpmBinary: p.fpmBinary, fpmUnit: p.fpmUnit, confDir: p.confDir };
}

export function supportedOs(f: HostFacts): string | undefined {
  return SUPPORTED_OS.find((o) => o.id === f.os.id && o.versionId === f.os.versionId)?.name;
}
