import { sections } from './host.js';
import { probe, type Probe } from '../resources/probe.js';
import { mainPidScript } from '../resources/systemd.js';
import { BPFTOOL_FACTS_SCRIPT, describeBpftool, parseBpftoolFacts, type BpftoolFacts } from './bpftool.js';
import { hostScript } from '../render/script.js';

/**
 * What `ebpf-lab doctor` reads on a host: raw facts (one script, `== name` sections,
 * read-only apart from a throwaway BPF program and a throwaway network namespace) and
 * the checks derived from them, each with a fix. Parsers work on recorded outputs.
 */
export interface DoctorFacts {
  kernel: string;
  os: string;
  btf: boolean;
  uid: number;
  /** Effective capability mask (CapEff) of the checking (sudo) shell. */
  capEff: bigint;
  tracefs: string[];
  uprobe: boolean;
  bpftrace?: string;
  /** The tiny real test: bpftrace attaching an interval probe (bpf() + perf_event_open). */
  bpfTest: { rc: number; out: string };
  beginTest: { rc: number; out: string };
  /** bpftrace can read kernel types (`bpftrace --info`: btf: yes); undefined when unknown. */
  bpftraceBtf?: boolean;
  /** Every bpftool binary, and the one that reads this kernel's BTF. */
  bpftool: BpftoolFacts;
  libbpfDev?: string;
  usdtHeader: boolean;
  php?: string;
  phpDtrace?: string;
  /** USDT notes (stapsdt) in the loaded mod_php module and the running php-fpm binary. */
  usdt: { what: 'mod_php' | 'php-fpm'; path: string; notes: number }[];
  netem: NetemFacts;
  memc: MemcFacts;
}

/**
 * The workshop's bt/memc.bt attaches a uprobe to memcached_set in libmemcached at a fixed
 * x86_64 path. Debian 12/13 and Ubuntu 22.04/24.04/26.04 all ship libmemcached.so.11 in the
 * multiarch directory (libmemcached11, or libmemcached11t64 after the time_t transition), so
 * the path holds on x86_64; on arm64 it is /usr/lib/aarch64-linux-gnu/.
 */
export const WORKSHOP_MEMC_LIB = '/usr/lib/x86_64-linux-gnu/libmemcached.so.11';

export interface MemcFacts {
  /** The file memc.bt names exists. */
  atWorkshopPath: boolean;
  /** libmemcached.so.11 files in multiarch directories. */
  found: string[];
  /** bpftrace listed uprobe:<WORKSHOP_MEMC_LIB>:memcached_set. */
  probeListed: boolean;
}

export interface NetemFacts {
  available: boolean;
  /** Why not, in the kernel's (tc's) words, plus the kernel config line when readable. */
  reason: string;
}

/** The qdiscs inject-latency uses, tried in a throwaway network namespace (nothing else is touched). */
export const NETEM_TEST = hostScript('netem-test');

export function parseNetem(out: string): NetemFacts {
  const lines = out
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean);
  const rc = Number(/^rc=(\d+)/.exec(lines[0] ?? '')?.[1] ?? 1);
  if (rc === 0) return { available: true, reason: 'prio + netem qdiscs work (tried in a throwaway network namespace)' };
  const msgs = lines.slice(1).filter((l) => !/CONFIG_/.test(l));
  const config = lines.filter((l) => /CONFIG_NET_SCH_/.test(l));
  return { available: false, reason: [...msgs, ...config].join('; ') || `tc failed (exit ${rc})` };
}

export const netemProbe: Probe<NetemFacts> = probe(NETEM_TEST, (o) => parseNetem(o), { id: 'netem' });

const SECTIONS = [
  'uname',
  'os',
  'btf',
  'caps',
  'tracefs',
  'uprobe',
  'bpftrace',
  'bpftest',
  'btinfo',
  'begintest',
  'bpftool',
  'libbpf',
  'php',
  'usdt',
  'netem',
  'memc',
] as const;

/** One script for every doctor fact; runs as root (sudo) like the lab does. */
export const DOCTOR_SCRIPT = hostScript('doctor-facts', {
  APACHE_PID: mainPidScript('apache2.service'),
  NETEM_TEST,
  WORKSHOP_MEMC_LIB,
  BPFTOOL_FACTS: BPFTOOL_FACTS_SCRIPT,
});

function btTest(lines: string[]): { rc: number; out: string } {
  if (!lines.length) return { rc: -1, out: 'bpftrace is not installed' };
  return { rc: Number(/^rc=(\d+)/.exec(lines[0]!)?.[1] ?? 1), out: lines.slice(1).join(' | ') };
}

export function parseDoctorFacts(out: string): DoctorFacts {
  const s = sections(out, SECTIONS);
  const capHex = /CapEff:\s*([0-9a-f]+)/i.exec(s['caps']!.join(' '))?.[1] ?? '0';
  const bt = /v?(\d+\.\d+\.\d+)/.exec(s['bpftrace']![0] ?? '')?.[1];
  const [libbpfDev, ...libRest] = s['libbpf']!;
  const phpLines = s['php']!;
  return {
    kernel: s['uname']![0] ?? 'unknown',
    os: s['os']![0] ?? 'unknown OS',
    btf: s['btf']!.includes('yes'),
    uid: Number(s['caps']![0] ?? -1),
    capEff: BigInt('0x' + capHex),
    tracefs: s['tracefs']!,
    uprobe: s['uprobe']!.length > 0,
    bpftrace: bt,
    bpfTest: btTest(s['bpftest']!),
    beginTest: btTest(s['begintest']!),
    bpftraceBtf: s['btinfo']!.length ? /btf[^:]*:\s*yes/.test(s['btinfo']!.join(' ')) : undefined,
    bpftool: parseBpftoolFacts(s['bpftool']!.join('\n')),
    libbpfDev: libbpfDev === 'usdt.bpf.h' ? undefined : libbpfDev,
    usdtHeader: [libbpfDev, ...libRest].includes('usdt.bpf.h'),
    php: phpLines.find((l) => /^\d+\.\d+/.test(l)),
    phpDtrace: phpLines.find((l) => /DTrace Support/.test(l)),
    usdt: s['usdt']!.map((l) => l.split(' '))
      .filter((p) => p.length === 3)
      .map(([what, path, n]) => ({ what: what as 'mod_php' | 'php-fpm', path: path!, notes: Number(n) || 0 })),
    netem: parseNetem(s['netem']!.join('\n')),
    memc: {
      atWorkshopPath: s['memc']!.includes(`workshop ${WORKSHOP_MEMC_LIB}`),
      found: s['memc']!.filter((l) => l.startsWith('found ')).map((l) => l.slice(6)),
      probeListed: s['memc']!.includes('probe listed'),
    },
  };
}

export const doctorProbe: Probe<DoctorFacts> = probe(DOCTOR_SCRIPT, (o) => parseDoctorFacts(o), { id: 'doctor' });

/** One doctor line: `fail` means the lab cannot work here, `warn` that a part of it cannot. */
export interface DoctorCheck {
  id: string;
  status: 'ok' | 'warn' | 'fail';
  what: string;
  detail: string;
  /** What to do about it (absent when ok). */
  fix?: string;
}

function kernelAtLeast(kernel: string, major: number, minor: number): boolean {
  const m = /^(\d+)\.(\d+)/.exec(kernel);
  if (!m) return false;
  return Number(m[1]) > major || (Number(m[1]) === major && Number(m[2]) >= minor);
}

function versionBelow(v: string | undefined, major: number, minor: number): boolean {
  const m = /(?:\d+:)?(\d+)\.(\d+)/.exec(v ?? '');
  return !!m && (Number(m[1]) < major || (Number(m[1]) === major && Number(m[2]) < minor));
}

const CAP = { SYS_ADMIN: 21n, PERFMON: 38n, BPF: 39n };
const hasCap = (mask: bigint, bit: bigint) => ((mask >> bit) & 1n) === 1n;

/** Every check of `ebpf-lab doctor`, in the order printed, from facts alone (pure: unit-tested on fixtures). */
export function doctorChecks(f: DoctorFacts): DoctorCheck[] {
  const c: DoctorCheck[] = [];
  const add = (id: string, status: DoctorCheck['status'], what: string, detail: string, fix?: string) =>
    c.push({ id, status, what, detail, ...(status === 'ok' ? {} : { fix }) });
  const k58 = kernelAtLeast(f.kernel, 5, 8);
  add(
    'kernel',
    k58 ? 'ok' : kernelAtLeast(f.kernel, 5, 2) ? 'warn' : 'fail',
    'kernel version',
    `${f.kernel} (${f.os})`,
    'use a 5.8+ kernel (CAP_BPF, ring buffers): Ubuntu 22.04 (5.15), 24.04 (6.8) or Debian 12 (6.1)',
  );
  add(
    'btf',
    f.btf ? 'ok' : 'fail',
    'kernel BTF (/sys/kernel/btf/vmlinux)',
    f.btf ? 'present: CO-RE programs and bpftrace can use kernel types' : 'missing',
    'boot a kernel built with CONFIG_DEBUG_INFO_BTF=y (stock Ubuntu and Debian kernels are)',
  );
  const caps = hasCap(f.capEff, CAP.SYS_ADMIN)
    ? 'CAP_SYS_ADMIN'
    : hasCap(f.capEff, CAP.BPF) && hasCap(f.capEff, CAP.PERFMON)
      ? 'CAP_BPF + CAP_PERFMON'
      : '';
  add(
    'caps',
    caps ? 'ok' : 'fail',
    'capabilities for BPF (root, or CAP_BPF and CAP_PERFMON)',
    `uid ${f.uid}, CapEff ${f.capEff.toString(16).padStart(16, '0')}${caps ? `: ${caps}` : ': neither CAP_SYS_ADMIN nor CAP_BPF+CAP_PERFMON'}`,
    'run with sudo as root; in a container grant them (systemd-nspawn --capability=all, docker --privileged)',
  );
  if (f.bpfTest.rc === -1)
    add(
      'syscalls',
      'warn',
      'bpf() and perf_event_open allowed',
      'not tested: bpftrace is not installed',
      'install bpftrace (ebpf-lab up does), then run doctor again',
    );
  else {
    const ok = f.bpfTest.rc === 0 && f.bpfTest.out.includes('ebpf-lab-ok');
    add(
      'syscalls',
      ok ? 'ok' : 'fail',
      'bpf() and perf_event_open allowed',
      ok
        ? 'bpftrace loaded and attached an interval probe'
        : `bpftrace failed (exit ${f.bpfTest.rc}): ${f.bpfTest.out}`,
      /not permitted|EPERM|denied/i.test(f.bpfTest.out)
        ? 'a seccomp filter or LSM blocks the syscalls: systemd-nspawn --system-call-filter="bpf perf_event_open", docker --privileged; for non-root users see kernel.unprivileged_bpf_disabled and kernel.perf_event_paranoid'
        : 'run `sudo bpftrace -e "interval:ms:100 { exit(); }"` on the host to see the full error',
    );
  }
  add(
    'tracefs',
    f.tracefs.length ? 'ok' : 'fail',
    'tracefs mounted',
    f.tracefs.length ? f.tracefs.join(', ') : 'not mounted (tracepoints and uprobe events need it)',
    'sudo mount -t tracefs nodev /sys/kernel/tracing',
  );
  add(
    'uprobe',
    f.uprobe ? 'ok' : 'fail',
    'uprobe support (USDT probes attach as uprobes)',
    f.uprobe ? 'uprobe PMU or uprobe_events present' : 'no uprobe PMU and no uprobe_events',
    'use a kernel built with CONFIG_UPROBE_EVENTS=y (stock Ubuntu and Debian kernels are)',
  );
  if (!f.php)
    add(
      'php-dtrace',
      'warn',
      'PHP built with DTrace (USDT probes)',
      'PHP is not installed yet',
      'ebpf-lab up installs the distribution PHP, which is built with DTrace',
    );
  else {
    const ok = /DTrace Support => (available|enabled)/.test(f.phpDtrace ?? '');
    add(
      'php-dtrace',
      ok ? 'ok' : 'fail',
      'PHP built with DTrace (USDT probes)',
      `PHP ${f.php}: ${f.phpDtrace ?? 'no "DTrace Support" line in php -i'}`,
      /DTrace Support => disabled/.test(f.phpDtrace ?? '') && !/available/.test(f.phpDtrace ?? '')
        ? "this PHP was built without --enable-dtrace (Ubuntu 24.04's PHP 8.3 is, LP #2088977): the lab's USDT programs, bt tools and checks cannot work here (verify reports them NOT VERIFIED; the memcached uprobes still work); use Ubuntu 22.04 or 26.04, Debian 12 or 13, or a PHP built with --enable-dtrace"
        : 'use the distribution packages (built with --enable-dtrace) or rebuild PHP with --enable-dtrace; set USE_ZEND_DTRACE=1 for compile/function probes',
    );
  }
  for (const what of ['mod_php', 'php-fpm'] as const) {
    const u = f.usdt.find((x) => x.what === what);
    if (!u)
      add(
        `usdt-${what}`,
        'warn',
        `USDT notes in the ${what} ${what === 'mod_php' ? 'module' : 'binary'}`,
        'not installed yet',
        'ebpf-lab up installs it',
      );
    else
      add(
        `usdt-${what}`,
        u.notes > 0 ? 'ok' : 'fail',
        `USDT notes in the ${what} ${what === 'mod_php' ? 'module' : 'binary'}`,
        `${u.path}: ${u.notes} stapsdt notes`,
        /DTrace Support => disabled/.test(f.phpDtrace ?? '') && !/available/.test(f.phpDtrace ?? '')
          ? 'this PHP was built without --enable-dtrace: see php-dtrace above'
          : 'the file was built without --enable-dtrace or stripped of its .note.stapsdt section: reinstall the distribution package',
      );
  }
  if (!f.bpftrace)
    add('bpftrace', 'warn', 'bpftrace', 'not installed', 'ebpf-lab up installs it (apt-get install bpftrace)');
  else {
    const issues: string[] = [];
    let fix = '';
    if (f.beginTest.rc !== 0 || !f.beginTest.out.includes('ebpf-lab-ok')) {
      issues.push(`BEGIN/END do not work (${f.beginTest.out || `exit ${f.beginTest.rc}`})`);
      fix =
        "stripped bpftrace (Ubuntu 22.04): install bpftrace-dbgsym from ddebs.ubuntu.com for BEGIN/END; the lab's bt tools avoid BEGIN/END";
    }
    if (f.bpftraceBtf === undefined && versionBelow(f.bpftrace, 0, 16) && kernelAtLeast(f.kernel, 6, 0)) {
      issues.push(`bpftrace ${f.bpftrace} may fail to parse a 6.x kernel's BTF (ENUM64)`);
      fix ||= 'use bpftrace 0.16 or later (Ubuntu 24.04 ships 0.20) for kernel-type access on 6.x kernels';
    }
    add(
      'bpftrace',
      issues.length ? 'warn' : 'ok',
      'bpftrace and its known issues',
      `v${f.bpftrace}${issues.length ? ': ' + issues.join('; ') : ', BEGIN/END work'}`,
      fix,
    );
  }
  if (f.bpftraceBtf === false)
    add(
      'bpftrace-btf',
      'warn',
      'bpftrace reads kernel types (BTF)',
      `bpftrace v${f.bpftrace ?? '?'} cannot read kernel ${f.kernel}'s BTF: your own tools using curtask->…, kernel struct casts or kfuncs fail here (the lab's bt tools use none of them)`,
      "stick to tracepoint/USDT/uprobe arguments, or use a bpftrace whose libbpf parses this kernel's BTF (Ubuntu 24.04's 0.20 or newer, or Ubuntu 22.04 on its own 5.15 kernel)",
    );
  const bt = f.bpftool;
  if (!bt.candidates.length)
    add(
      'bpftool',
      'warn',
      'bpftool and libbpf',
      describeBpftool(bt),
      'ebpf-lab up installs it (bpftool on Debian, linux-tools on Ubuntu)',
    );
  else if (!bt.chosen)
    add(
      'bpftool',
      'fail',
      "a bpftool that reads this kernel's BTF",
      describeBpftool(bt),
      'install newer linux-tools (Ubuntu 22.04: apt-get install linux-tools-generic-hwe-22.04) or the bpftool package',
    );
  else {
    const old = !f.usdtHeader;
    const detail = `${describeBpftool(bt)}, libbpf-dev ${f.libbpfDev ?? 'not installed'}${old ? ', no bpf/usdt.bpf.h' : ', has bpf/usdt.bpf.h'}`;
    const notOnPath = bt.wrapper && !bt.chosen.path.startsWith(`/usr/lib/linux-tools/${f.kernel}/`);
    add(
      'bpftool',
      old || notOnPath ? 'warn' : 'ok',
      'bpftool and libbpf',
      notOnPath
        ? `${detail}; \`bpftool\` on PATH is the linux-tools wrapper, which has no binary for kernel ${f.kernel}`
        : detail,
      [
        notOnPath ? `run ${bt.chosen.path} instead of bpftool (the workshop's \`bpftool map …\` commands too)` : '',
        old
          ? "libbpf < 0.8 (Ubuntu 22.04 has 0.5) has no usdt.bpf.h: the lab's programs carry their own lab_usdt.bpf.h; your own USDT programs need libbpf 0.8+"
          : '',
      ]
        .filter(Boolean)
        .join('; '),
    );
  }
  const m = f.memc;
  const memcWhat = `the workshop's bt/memc.bt (uprobe:${WORKSHOP_MEMC_LIB}:memcached_set)`;
  if (m.atWorkshopPath)
    add(
      'workshop-memc',
      m.probeListed || !f.bpftrace ? 'ok' : 'warn',
      memcWhat,
      m.probeListed
        ? 'the library is at that path and bpftrace lists memcached_set: memc.bt runs unchanged'
        : f.bpftrace
          ? 'the library is at that path but bpftrace does not list memcached_set in it'
          : 'the library is at that path (bpftrace is not installed yet to list the probe)',
      `run \`sudo bpftrace -l 'uprobe:${WORKSHOP_MEMC_LIB}:*'\` to see what the library exports`,
    );
  else if (m.found.length)
    add(
      'workshop-memc',
      'warn',
      memcWhat,
      `not at that path: this host has ${m.found.join(', ')}`,
      `change the path on memc.bt's uprobe line to ${m.found[0]} ` +
        `(sed -i 's#${WORKSHOP_MEMC_LIB}#${m.found[0]}#' bt/memc.bt), or run /opt/ebpf-lab/bt/memcached-set.bt, which ebpf-lab installs with this host's path`,
    );
  else
    add(
      'workshop-memc',
      'warn',
      memcWhat,
      'libmemcached is not installed',
      'ebpf-lab up installs php-memcached, which brings libmemcached.so.11 (package libmemcached11, or libmemcached11t64 on Ubuntu 24.04+ and Debian 13)',
    );
  add(
    'netem',
    f.netem.available ? 'ok' : 'warn',
    'tc netem (inject-latency)',
    f.netem.available ? f.netem.reason : `unavailable: ${f.netem.reason}`,
    'inject-latency needs the prio and netem qdiscs: a kernel with CONFIG_NET_SCH_NETEM and CONFIG_NET_SCH_PRIO (Ubuntu: linux-modules-extra-$(uname -r) when sch_netem.ko is missing)',
  );
  return c;
}
