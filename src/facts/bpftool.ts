import { probe, type Probe } from '../resources/probe.js';

/**
 * Which bpftool binary can work on this host's kernel. Ubuntu's /usr/sbin/bpftool is a
 * wrapper that runs /usr/lib/linux-tools/$(uname -r)/bpftool and exits 2 when the running
 * kernel has no linux-tools package (a vendor kernel, a container on another host, tools
 * not installed yet). So every real binary is listed with its version, and each one is
 * asked to parse the running kernel's BTF: an old bpftool (22.04's 5.15) cannot read a 6.x
 * kernel's BTF ("Unsupported BTF_KIND"), and then cannot build vmlinux.h or load CO-RE objects.
 */
export interface BpftoolCandidate {
  path: string;
  /** e.g. '7.4.0'; '' when `version` printed nothing. */
  version: string;
  libbpf: string;
  /** It parsed /sys/kernel/btf/vmlinux. */
  readsBtf: boolean;
}

export interface BpftoolFacts {
  candidates: BpftoolCandidate[];
  /** The binary to use, or undefined when none can read this kernel's BTF. */
  chosen?: BpftoolCandidate;
  /** /usr/sbin/bpftool is Ubuntu's kernel-version wrapper (not a binary). */
  wrapper: boolean;
}

/**
 * Candidates in order of preference: the running kernel's own tools, the distribution's
 * /usr/sbin/bpftool when it is a real binary, then every other linux-tools directory.
 * `| head -1` stops the dump after its first line: parsing happens before any output.
 */
export const BPFTOOL_FACTS_SCRIPT = [
  'k=$(uname -r); seen=""',
  'if head -c2 /usr/sbin/bpftool 2>/dev/null | grep -q "#!"; then echo "wrapper"; fi',
  'for b in /usr/lib/linux-tools/$k/bpftool /usr/sbin/bpftool $(ls -1d /usr/lib/linux-tools-*/bpftool /usr/lib/linux-tools/*/bpftool 2>/dev/null | sort -rV); do',
  '  [ -x "$b" ] || continue; head -c2 "$b" | grep -q "#!" && continue',
  '  r=$(readlink -f "$b"); case " $seen " in *" $r "*) continue;; esac; seen="$seen $r"',
  '  v=$("$b" version 2>/dev/null | head -2 | tr "\\n" " ")',
  '  if "$b" btf dump file /sys/kernel/btf/vmlinux format raw 2>/dev/null | head -1 | grep -q "^\\[1\\]"; then btf=yes; else btf=no; fi',
  '  printf "%s\\t%s\\t%s\\n" "$b" "$btf" "$v"',
  'done',
].join('\n');

export function parseBpftoolFacts(out: string): BpftoolFacts {
  const candidates: BpftoolCandidate[] = [];
  let wrapper = false;
  for (const line of out.split('\n')) {
    if (line.trim() === 'wrapper') wrapper = true;
    const [path, btf, version = ''] = line.split('\t');
    if (!path?.startsWith('/') || btf === undefined) continue;
    candidates.push({
      path,
      version: /bpftool v?(\d[\w.-]*)/.exec(version)?.[1] ?? '',
      libbpf: /libbpf v?(\d[\w.-]*)/.exec(version)?.[1] ?? '',
      readsBtf: btf === 'yes',
    });
  }
  return { candidates, chosen: candidates.find((c) => c.readsBtf), wrapper };
}

export const bpftoolProbe: Probe<BpftoolFacts> = probe(BPFTOOL_FACTS_SCRIPT, parseBpftoolFacts, { id: 'bpftool' });

/** One line for evidence and notes: which binary, which version, why. */
export function describeBpftool(f: BpftoolFacts): string {
  if (!f.chosen) {
    const seen = f.candidates.map((c) => `${c.path} v${c.version || '?'}`).join(', ');
    return seen
      ? `no bpftool here can read this kernel's BTF (tried ${seen})`
      : `no bpftool binary found${f.wrapper ? ' (/usr/sbin/bpftool is only the linux-tools wrapper)' : ''}`;
  }
  const c = f.chosen;
  return `${c.path} (bpftool v${c.version || '?'}, libbpf v${c.libbpf || '?'})`;
}
