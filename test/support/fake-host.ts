import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { FakeTransport, type FakeRule } from '../../src/transports/fake.js';
import { parseHostFacts, type HostFacts } from '../../src/facts/host.js';
import { sha256, type FileState } from '../../src/resources/files.js';
import { DEFAULT_OPTIONS, type LabOptions } from '../../src/options.js';
import type { UnitState } from '../../src/resources/systemd.js';
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
  /** Answers for other probes, by fact id. */
  other?: Record<string, unknown>;
}

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
