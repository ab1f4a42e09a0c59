import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { applyDesired, desiredChanges, desiredProbes, type Desired } from '../src/resources/desired.js';
import { probe } from '../src/resources/probe.js';
import { sha256 } from '../src/resources/files.js';
import { assetPath } from '../src/paths.js';
import { BPF_OUT, BPF_SRC } from '../src/lab/layout.js';
import { hostScript } from '../src/render/script.js';
import { quote } from '../src/transports/quote.js';
import { bpfMakeVars } from '../src/facts/bpf-targets.js';
import type { HostFacts } from '../src/facts/host.js';
import { bpftoolProbe, describeBpftool, type BpftoolFacts } from '../src/facts/bpftool.js';
import { CommandError } from '../src/errors.js';
import { ofKind, type Change, type Evidence, type Step, type StepContext } from '../src/runner/types.js';

/**
 * bpf-programs — the lab's BPF programs (bpf/*.bpf.c, CO-RE, libbpf) are built ON the
 * host with clang against a vmlinux.h from the host's own BTF, with probe targets from
 * facts (libphpX.Y.so for mod_php, the php-fpmX.Y binary, the multiarch libmemcached),
 * and sit with their ebpf_exporter configs in /opt/ebpf-lab/bpf (the exporter's config
 * dir). Sources live in /opt/ebpf-lab/bpf-src. A build record (STAMP) says what the last
 * finished build was made from (sources, headers, probe targets, compiler, kernel BTF) and
 * the sha256 of each object it made; the objects are rebuilt (all of them, make -B) when the
 * record is missing or any of that differs from what is on the host now.
 */
const STAMP = `${BPF_OUT}/.ebpf-lab-build`;

function walk(dir: string): string[] {
  return readdirSync(dir)
    .filter((n) => !n.startsWith('.'))
    .flatMap((n) => {
      const p = join(dir, n);
      return statSync(p).isDirectory() ? walk(p) : [p];
    });
}

let sources: ReadonlyMap<string, string> | undefined;

/**
 * Local bpf/ sources (relative path -> content), read once per process: they are the
 * package's own files, and a check asks for them several times (the desired files, the
 * program names, the build key), in each of a snapshot's passes.
 */
export function bpfSources(): ReadonlyMap<string, string> {
  const root = assetPath('bpf');
  sources ??= new Map(
    walk(root)
      .sort()
      .map((p) => [relative(root, p), readFileSync(p, 'utf8')]),
  );
  return sources;
}

/** Config names (`php_request`…): every bpf/<name>.bpf.c with its <name>.yaml. */
export function programNames(): string[] {
  return [...bpfSources().keys()].filter((k) => /^[a-z0-9_]+\.bpf\.c$/.test(k)).map((k) => k.replace(/\.bpf\.c$/, ''));
}

/** Programs on PHP's USDT probes (they cannot attach where PHP is built without DTrace). */
export function usdtProgramNames(): string[] {
  const src = bpfSources();
  return programNames().filter((n) => /LAB_PHP_PROBE\(|SEC\("usdt\//.test(src.get(`${n}.bpf.c`) ?? ''));
}

/**
 * The programs ebpf_exporter loads here: all of them, except the USDT ones when this host's
 * PHP has no USDT probes (they could not attach, and --config.strict would refuse the set).
 */
export function exporterProgramNames(f: Pick<HostFacts, 'php'>): string[] {
  const usdt = new Set(usdtProgramNames());
  return programNames().filter((n) => f.php?.usdt !== false || !usdt.has(n));
}

/** make variables: probe targets from facts (validated paths) and the output dir. */
export function makeVars(f: HostFacts): Record<string, string> {
  return { ...bpfMakeVars(f), OUT: BPF_OUT };
}

function desired(): Desired {
  const src = bpfSources();
  return {
    files: [
      ...[...src].map(([rel, content]) => ({ path: `${BPF_SRC}/${rel}`, content })),
      ...programNames().map((n) => ({ path: `${BPF_OUT}/${n}.yaml`, content: src.get(`${n}.yaml`)! })),
    ],
  };
}

/** What the build depends on here: every source and header, and the probe targets. */
export function buildKey(f: HostFacts): string {
  const src = [...bpfSources()].map(([k, v]) => `${k}\n${sha256(v)}`).join('\n');
  return sha256(src + JSON.stringify(makeVars(f)));
}

/**
 * What the build depends on, read on the host: the compiler and the kernel's BTF (vmlinux.h),
 * each by a fingerprint instead of running the tool (`clang --version` alone took 0.35 s of a
 * no-op run). Why each is enough:
 * - clang: the binary `clang` resolves to and the libraries that hold its front end and code
 *   generation (libclang-cpp beside it, libLLVM), each by path, inode, size and mtime. Its
 *   version and output are theirs; an upgrade, a downgrade or update-alternatives pointing
 *   elsewhere gives another path or a new file (dpkg writes a new inode). A changed
 *   fingerprint means a rebuild, which runs clang itself.
 * - BTF: /proc/version, the running kernel's release, build number, build time and compiler.
 *   The kernel's BTF is generated when that kernel is built, so the same build has the same BTF.
 */
const TOOLCHAIN =
  // Under the build's `set -e` too: a library glob that matches nothing must not end it.
  // `command -v clang` without its subshell: the first directory of PATH with a file clang
  // (dash's lookup: a regular file, symlinks followed), named as command -v names it.
  'c=; IFS=:; for d in $PATH; do [ -f "$d/clang" ] && c=$d/clang && break; done; unset IFS; ' +
  '[ -n "$c" ] && c=$(readlink -f "$c") || c=; ' +
  'c=$(stat -L --printf "%n %i %s %Y; " "$c" "${c%/bin/*}"/lib/libclang-cpp.so* /usr/lib/*/libLLVM*.so* 2>/dev/null) || true; ' +
  'read -r k </proc/version || true; printf "clang:%s btf:%s\\n" "$c" "$k"';

/**
 * The build (templates/scripts/bpf-build.sh): the build record is removed before the build
 * and written only after it finished, so a build that never finished leaves none. It holds
 * what went in (inputs, toolchain) and what came out (each object's sha256): an object
 * replaced or half-built since does not match.
 */
export function buildScript(key: string, vars: string[]): string {
  return hostScript('bpf-build', {
    STAMP,
    BPF_SRC,
    VARS: vars.map(quote).join(' '),
    KEY: key,
    TOOLCHAIN,
    OBJECTS: objectHashes(programNames()),
  });
}

/** `<name> <sha256>` lines of the objects on the host (templates/scripts/bpf-object-hashes.sh): the build records them, the check reads them. */
const objectHashes = (names: string[]) => hostScript('bpf-object-hashes', { BPF_OUT, NAMES: names.join(' ') });

export interface BuildState {
  /** The last finished build's record (empty when none). */
  stamp: Map<string, string>;
  /** Object name -> sha256 of the object on the host ('' = missing or empty). */
  objects: Map<string, string>;
  toolchain: string;
}

/** Parses the `bpf-build` probe (sections @stamp, @objects, @toolchain). */
export function parseBuildState(out: string): BuildState {
  const st: BuildState = { stamp: new Map(), objects: new Map(), toolchain: '' };
  let section = '';
  for (const line of out.split('\n')) {
    if (line.startsWith('@')) section = line;
    else if (!line.trim()) continue;
    else if (section === '@toolchain') st.toolchain = line;
    else {
      const i = line.indexOf(' ');
      const [k, v] = i < 0 ? [line, ''] : [line.slice(0, i), line.slice(i + 1)];
      if (section === '@stamp') st.stamp.set(k, v);
      if (section === '@objects') st.objects.set(k, v === 'missing' ? '' : v);
    }
  }
  return st;
}

/** Why the objects on the host are not what the current inputs build, or undefined. */
export function staleReason(st: BuildState, names: string[], key: string): string | undefined {
  const missing = names.filter((n) => !st.objects.get(n));
  if (missing.length) return `objects missing: ${missing.join(', ')}`;
  if (!st.stamp.size) return 'no record of a finished build (a build was interrupted, or the record was removed)';
  if (st.stamp.get('inputs') !== key) return 'sources or probe targets changed';
  if (st.stamp.get('toolchain') !== st.toolchain)
    return `compiler or kernel BTF changed (${st.stamp.get('toolchain') ?? '?'} -> ${st.toolchain})`;
  const differ = names.filter((n) => st.stamp.get(n) !== st.objects.get(n));
  if (differ.length)
    return `objects differ from what the last finished build made: ${differ.join(', ')} (replaced, or left by an interrupted build)`;
  return undefined;
}

async function check(ctx: StepContext) {
  const f = await ctx.facts();
  if (!f.php?.libphp || !f.php.fpmBinary || !f.libmemcached)
    return {
      changes: [{ kind: 'bpf', action: 'build', detail: 'after PHP and libmemcached are installed' }] as Change[],
    };
  const d = desired();
  const names = programNames();
  const r = await ctx.probe({
    ...desiredProbes(d),
    build: probe(hostScript('bpf-build-state', { STAMP, OBJECTS: objectHashes(names), TOOLCHAIN }), (o) => o, {
      id: 'bpf-build',
      args: names,
    }),
  });
  const changes = desiredChanges(d, r);
  const stale = staleReason(parseBuildState(r.build), names, buildKey(f));
  // A source's content (not its mode or owner) is what makes the objects stale.
  const edited = changes.some((c) => c.action === 'create' || c.action === 'update');
  if (stale || edited)
    changes.push({ kind: 'bpf', programs: names, action: 'build', detail: stale ?? 'sources changed' });
  return { changes };
}

const step: Step = {
  id: 'bpf-programs',
  title: 'BPF programs are built on the host against its BTF',
  needs: ['packages', 'php'],
  async check(ctx) {
    const { changes } = await check(ctx);
    return {
      changes,
      notes: changes.length ? [] : [`${programNames().length} programs built for this host's PHP and kernel`],
    };
  },
  async apply(ctx, changes) {
    const f = await ctx.facts();
    await applyDesired(ctx, desired(), ofKind(changes, 'file'));
    if (!changes.some((c) => c.action === 'build')) return;
    const tool = await bpftool(ctx);
    const vars = Object.entries({ ...makeVars(f), BPFTOOL: tool }).map(([k, v]) => `${k}=${v}`);
    ctx.progress(`make -B -C ${BPF_SRC} (clang -target bpf, ${programNames().length} programs)`);
    // The record goes first and comes back only after the whole build: an interrupted build
    // stays visible. -B: every object is rebuilt, whatever its mtime says.
    await ctx.host.exec(
      { script: buildScript(buildKey(f), vars) },
      {
        sudo: true,
        timeoutMs: 900_000,
        onOutput: (c) => ctx.progress(c.trim().split('\n').pop()?.slice(0, 120) ?? ''),
      },
    );
  },
  async verify(ctx) {
    const { bt } = await ctx.probe({ bt: bpftoolProbe });
    const tool: Evidence = {
      ok: Boolean(bt.chosen),
      what: "a bpftool that reads this kernel's BTF",
      detail: describeBpftool(bt),
    };
    const r = await ctx.host.exec(
      { script: hostScript('bpf-objects', { BPF_OUT, NAMES: programNames().join(' ') }) },
      { sudo: true, nothrow: true },
    );
    return [
      tool,
      ...r.stdout
        .trim()
        .split('\n')
        .map((l): Evidence => {
          const [n, size, yaml] = l.split(' ');
          return {
            ok: Number(size) > 0 && yaml === 'yaml',
            what: `${n}.bpf.o and ${n}.yaml in ${BPF_OUT}`,
            detail: `${size} bytes`,
          };
        }),
    ];
  },
  /** Every object loads through the kernel's verifier (pinned in a scratch bpffs dir, then removed). */
  async prove(ctx) {
    const names = programNames();
    const { bt } = await ctx.probe({ bt: bpftoolProbe });
    // A bpftool that cannot read this kernel's BTF fails on good objects: never report that
    // as a verifier failure.
    if (!bt.chosen)
      return names.map((n) => ({
        ok: false,
        skipped: true,
        what: `${n}.bpf.o passes the kernel verifier`,
        detail: `not checked: ${describeBpftool(bt)}`,
      }));
    const script = hostScript('bpf-load', { BPF_OUT, NAMES: names.join(' '), BPFTOOL: quote(bt.chosen.path) });
    const r = await ctx.host.exec({ script }, { sudo: true, nothrow: true, timeoutMs: 120_000 });
    return names.map((n): Evidence => {
      const line = r.stdout.split('\n').find((l) => l.startsWith(`${n} `)) ?? `${n} fail no output`;
      const [, status, ...rest] = line.split(' ');
      return {
        ok: status === 'ok',
        what: `${n}.bpf.o passes the kernel verifier`,
        detail:
          status === 'ok'
            ? `${rest[0]} programs loaded by ${bt.chosen!.path}`
            : `${rest.join(' ')} (${bt.chosen!.path})`,
      };
    });
  },
};
/** The chosen bpftool's path; a clear failure when none can read this kernel's BTF. */
async function bpftool(ctx: StepContext): Promise<string> {
  const { bt } = await ctx.probe({ bt: bpftoolProbe });
  if (bt.chosen) return bt.chosen.path;
  throw noBpftool(ctx, bt);
}

function noBpftool(ctx: StepContext, bt: BpftoolFacts): CommandError {
  return new CommandError(
    {
      command: 'bpftool btf dump file /sys/kernel/btf/vmlinux format c',
      exitCode: 2,
      stdout: '',
      stderr: `${describeBpftool(bt)}: vmlinux.h cannot be generated. Install a newer linux-tools (e.g. linux-tools-generic-hwe-22.04 on Ubuntu 22.04) or the bpftool package.`,
      durationMs: 0,
    },
    ctx.host.name,
    ctx.stepId,
  );
}
export default step;
