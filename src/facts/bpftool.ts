import { probe, type Probe } from '../resources/probe.js';
import { hostScript } from '../render/script.js';

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

/** templates/scripts/bpftool-facts.sh: every real binary, best first, and whether it reads the BTF. */
export const BPFTOOL_FACTS_SCRIPT = hostScript('bpftool-facts');

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
