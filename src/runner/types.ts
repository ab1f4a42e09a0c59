import type { Transport } from '../transports/transport.js';
import type { HostFacts } from '../facts/host.js';
import type { LabOptions } from '../options.js';
import type { Probe, ProbeResults } from '../resources/probe.js';

/**
 * One difference between the desired and the observed state, as plain data.
 * resource: `file:/etc/x`, `apt:clang`, `unit:apache2.service`, `artifact:ebpf_exporter@2.5.1`…
 */
export interface Change {
  resource: string;
  action: string;
  /** A unified diff for files, a reason for restarts, a package list… (secrets masked). */
  detail?: string;
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
