import type { Transport } from '../transports/transport.js';
import type { HostFacts } from '../facts/host.js';
import type { LabOptions } from '../options.js';
import type { Probe, ProbeResults } from '../resources/probe.js';

/**
 * One difference between the desired and the observed state, as data: what differs
 * (`kind` and its fields), the `action` that removes the difference, and a `detail` for
 * people (a unified diff for files, a reason for restarts…; secrets masked).
 */
export type Change = (
  | { kind: 'file'; path: string; action: 'create' | 'update' | 'chmod' | 'chown' | 'delete' }
  | { kind: 'package'; name: string; action: 'install' }
  | { kind: 'unit'; unit: string; action: 'enable' | 'start' | 'restart' | 'reload' }
  | { kind: 'apache-mod'; name: string; action: 'enable' | 'disable' }
  | { kind: 'apache-conf'; name: string; action: 'enable' }
  | { kind: 'artifact'; name: string; version: string; action: 'install' }
  | { kind: 'user'; name: string; action: 'create' }
  | { kind: 'password'; of: 'grafana'; action: 'reset' }
  /** The lab's BPF programs, built on the host (`programs` unknown until PHP is installed). */
  | { kind: 'bpf'; programs?: string[]; action: 'build' }
  /** Something else on the host must finish first. */
  | { kind: 'wait'; for: 'cloud-init' | 'dpkg-lock'; action: 'wait' }
  /** A step's whole work, which cannot be planned before an earlier step has run. */
  | { kind: 'step'; step: string; action: 'configure' | 'install' }
  | { kind: 'lightsail'; instance: string; action: 'create' | 'update' | 'delete' }
  | { kind: 'lightsail-keypair'; name: string; action: 'delete' }
) & { detail?: string };

/**
 * What a change is about, as people (and the JSON output's `resource`) read it:
 * `file:/etc/x`, `apt:clang`, `unit:apache2.service`, `artifact:prometheus@3.5.0`…
 */
export function changeLabel(c: Change): string {
  switch (c.kind) {
    case 'file':
      return `file:${c.path}`;
    case 'package':
      return `apt:${c.name}`;
    case 'unit':
      return `unit:${c.unit}`;
    case 'apache-mod':
    case 'apache-conf':
    case 'user':
    case 'lightsail-keypair':
      return `${c.kind}:${c.name}`;
    case 'artifact':
      return `artifact:${c.name}@${c.version}`;
    case 'password':
      return `${c.of}:admin-password`;
    case 'bpf':
      return `bpf:${c.programs?.join(',') ?? 'programs'}`;
    case 'wait':
      return c.for;
    case 'step':
      return c.step;
    case 'lightsail':
      return `lightsail:${c.instance}`;
  }
}

/** Changes of one kind (`ofKind(changes, 'unit', 'restart')`), typed. */
export function ofKind<K extends Change['kind']>(
  changes: readonly Change[],
  kind: K,
  action?: Extract<Change, { kind: K }>['action'],
): Extract<Change, { kind: K }>[] {
  return changes.filter(
    (c): c is Extract<Change, { kind: K }> => c.kind === kind && (action === undefined || c.action === action),
  );
}

export interface CheckResult {
  changes: Change[];
  /** Why the step is unchanged (or other remarks), one line each. */
  notes: string[];
  /**
   * The step cannot run here and says why and what to do (an artifact that cannot be
   * fetched offline, say). It is reported as skipped, never as passing.
   */
  skip?: string;
}

/** What a step's verify saw: each line is evidence printed to the user. */
export interface Evidence {
  ok: boolean;
  what: string;
  detail?: string;
  /** A component that could not be checked (e.g. not installed): never counted as passing. */
  skipped?: boolean;
}

export interface StepContext {
  readonly host: Transport;
  readonly stepId: string;
  readonly options: LabOptions;
  /** Host facts (OS, arch, PHP paths…); cached for the run, re-read after any apply. */
  facts(): Promise<HostFacts>;
  /** Run several read-only probes in ONE round trip. */
  probe<P extends Record<string, Probe<unknown>>>(probes: P): Promise<ProbeResults<P>>;
  /** Progress line for the renderer (long work: "apt-get: unpacking clang…"). */
  progress(line: string): void;
  /** The lab's name (for per-lab secrets and records). */
  readonly lab: string;
  /**
   * A secret of this lab (e.g. the Grafana admin password): generated once, kept 0600
   * on the operator's machine, never logged.
   */
  secret(name: string): Promise<string>;
  /** Local files of artifacts fetched by prepare(), by artifact id. */
  readonly artifacts: Map<string, { path: string; sha256: string }>;
}

/**
 * A step converges one part of the lab. check is read-only; apply performs exactly
 * the listed changes; the runner checks again after apply and fails on any change left.
 */
export interface Step {
  id: string;
  title: string;
  /** Steps that must run before this one (ordering only; the index lists them in order). */
  needs?: string[];
  /**
   * Runs for every selected step before any step changes anything: read-only on the
   * host; may fetch artifacts into the local cache. A UserError here stops the run with
   * exit 2 and nothing changed. Returns a reason to skip the step, or undefined.
   */
  prepare?(ctx: StepContext): Promise<string | undefined>;
  check(ctx: StepContext): Promise<CheckResult>;
  apply(ctx: StepContext, changes: Change[]): Promise<void>;
  /** Quick post-conditions, run after apply by `up` and by `verify`. */
  verify?(ctx: StepContext): Promise<Evidence[]>;
  /** Deeper end-to-end evidence, run by `verify` only (e.g. bpftrace sees a request). */
  prove?(ctx: StepContext): Promise<Evidence[]>;
}

export type StepStatus = 'unchanged' | 'changed' | 'failed' | 'skipped' | 'planned';

export interface StepResult {
  id: string;
  title: string;
  status: StepStatus;
  changes: Change[];
  notes: string[];
  evidence: Evidence[];
  durationMs: number;
  error?: string;
}
