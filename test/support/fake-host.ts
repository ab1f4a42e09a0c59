import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { FakeTransport, type FakeRule } from '../../src/transports/fake.js';
import { parseHostFacts, type HostFacts } from '../../src/facts/host.js';
import { sha256, type FileState } from '../../src/resources/files.js';
import { DEFAULT_OPTIONS, type LabOptions } from '../../src/options.js';
import type { UnitState } from '../../src/resources/systemd.js';
import type { BpftoolFacts } from '../../src/facts/bpftool.js';
import type { Probe, ProbeResults } from '../../src/resources/probe.js';
import type { StepContext } from '../../src/runner/types.js';

export function factsFixture(name: string): HostFacts {
  return parseHostFacts(readFileSync(join(__dirname, '..', 'fixtures', 'facts', `${name}.txt`), 'utf8'));
}

/** The state of a pretend host, as the probes would read it. */
export interface HostFixture {
  facts: HostFacts;
  files?: Record<string, { content: string; mode?: number; owner?: string; group?: string }>;
  /** Installed packages; `'all'` = every package asked about is installed. */
  installed?: string[] | 'all';
  units?: Record<string, Partial<UnitState>>;
  pending?: string[];
  /** Packages apt has a candidate for (`apt-cache policy`); default: every one asked about. */
  aptKnown?: string[];
  /** Answers for other probes, by fact id. */
  other?: Record<string, unknown>;
}

/** A host whose /usr/sbin/bpftool is a real binary that reads the kernel's BTF (Debian's). */
export const DEBIAN_BPFTOOL: BpftoolFacts = {
  candidates: [{ path: '/usr/sbin/bpftool', version: '7.1.0', libbpf: '1.1', readsBtf: true }],
  chosen: { path: '/usr/sbin/bpftool', version: '7.1.0', libbpf: '1.1', readsBtf: true },
  wrapper: false,
};

const RUNNING: UnitState = {
  enabled: 'enabled',
  active: 'active',
  mainPid: 100,
  env: {},
  envSource: 'proc',
  startedAt: 2_000_000_000,
};

function answer(fx: HostFixture, p: Probe<unknown>): unknown {
  const id = p.fact?.id;
  const args = p.fact?.args;
  switch (id) {
    case 'host':
      return fx.facts;
    case 'file': {
      const f = fx.files?.[args as string];
      if (!f) return { exists: false } satisfies FileState;
      return {
        exists: true,
        sha256: sha256(f.content),
        mode: f.mode ?? 0o644,
        owner: f.owner ?? 'root',
        group: f.group ?? 'root',
        content: f.content,
      } satisfies FileState;
    }
    case 'packages':
      return Object.fromEntries(
        (args as string[]).map((n) => [n, fx.installed === 'all' || (fx.installed ?? []).includes(n)]),
      );
    case 'apt-policy':
      return (args as string[])
        .filter((n) => fx.aptKnown === undefined || fx.aptKnown.includes(n))
        .map((n) => `${n}:\n  Installed: (none)\n  Candidate: 1.0\n`)
        .join('');
    case 'bpftool':
      return fx.other?.['bpftool'] ?? DEBIAN_BPFTOOL;
    case 'units':
      return Object.fromEntries((args as string[]).map((u) => [u, { ...RUNNING, ...fx.units?.[u] }]));
    case 'pending':
      return fx.pending ?? [];
    default:
      if (id && fx.other && id in fx.other) return fx.other[id];
      throw new Error(`fake host has no answer for probe ${id ?? '(unnamed)'}: ${p.script.slice(0, 80)}`);
  }
}

/** A StepContext over a FakeTransport whose probes are answered from `fx`. */
export function fakeContext(fx: HostFixture, opts: { options?: Partial<LabOptions>; rules?: FakeRule[] } = {}) {
  const host = new FakeTransport(opts.rules);
  const progress: string[] = [];
  const ctx: StepContext = {
    host,
    stepId: 'test',
    options: { ...DEFAULT_OPTIONS, ...opts.options },
    facts: async () => fx.facts,
    probe: async <P extends Record<string, Probe<unknown>>>(probes: P) =>
      Object.fromEntries(Object.entries(probes).map(([k, p]) => [k, answer(fx, p)])) as ProbeResults<P>,
    progress: (l) => progress.push(l),
    lab: 'test-lab',
    secret: async (name) => `secret-${name}`,
    artifacts: new Map(),
  };
  return { ctx, host, progress };
}
