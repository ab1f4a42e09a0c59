/**
 * The contract every kind of target implements (sandbox, ssh://, local, lightsail). A target
 * module exports one {@link Target}; src/targets/index.ts lists them. Nothing here loads the
 * engine: a target module imports its heavy parts (ssh2, the AWS SDK, the sandbox builder)
 * only inside the methods that need them, so parsing the command line stays fast.
 */
import type { LabRecord } from '../state.js';
import type { Transport } from '../transports/transport.js';

/** What every parsed --target has; each target adds its own fields. */
export interface TargetSpec {
  kind: string;
  /** Canonical form, e.g. `sandbox:default`, `ssh://root@10.0.0.5:22`. */
  label: string;
}

/** Flag values as the command line parsed them, by commander's camelCase name (`allowFrom`). */
export type FlagValues = Readonly<Record<string, unknown>>;

/** A flag a target accepts, on top of the command's own. */
export interface TargetFlag {
  /** commander syntax: `--region <region>`, `--yes`. */
  flags: string;
  description: string;
  /** reach: needed to find or open the lab (every command with --target); create: `up` only. */
  use: 'reach' | 'create';
  /** May be given more than once (values collected in a list). */
  repeat?: boolean;
}

/** Terminal prompts (implemented in commands with @inquirer/prompts; replaced in tests). */
export interface Prompter {
  select<V extends string>(o: {
    message: string;
    choices: { name: string; value: V; description?: string }[];
    default?: V;
  }): Promise<V>;
  confirm(o: { message: string; default?: boolean }): Promise<boolean>;
  number(o: { message: string; min: number; max: number; default?: number }): Promise<number | undefined>;
}

/** How a command may ask its user: prompts only on a terminal; without one, nothing waits. */
export interface Interaction {
  isTTY(): boolean;
  prompter: Prompter;
}

/** Why the inputs are resolved: `up` may create, `down` deletes, anything else uses an existing lab. */
export type Purpose = 'create' | 'use' | 'down';

export interface ResolveContext {
  purpose: Purpose;
  io: Interaction;
}

export interface OpenOptions {
  /** `up`: create or boot the lab when needed; otherwise it must exist. */
  create: boolean;
  /** Packages a sandbox's local repository must serve for its OS (computed from the steps). */
  packages: (os: { distro: string; versionId: string; suite: string }) => readonly string[];
  log: (line: string) => void;
  /**
   * Told once the ssh handshake has started, with the name the open transport will have: the
   * run loads the rest of itself and starts meanwhile (see pendingTransport).
   */
  connecting?: (name: string) => void;
}

/** Where a browser on this machine opens the lab (see src/targets/urls.ts). */
export interface LabUrls {
  pages?: string;
  fpm?: string;
  grafana?: string;
  prometheus?: string;
  /** An `ssh -L` line for what stays on the lab's loopback. */
  tunnel?: string;
}

export interface OpenedTarget {
  transport: Transport;
  record: Omit<LabRecord, 'createdAt'>;
  /** Where to open the lab from here (printed at the end of `up`; never stored: ports change). */
  urls?: LabUrls;
}

/** One `status` row: the registry record plus what the target sees now. */
export interface StatusRow extends LabRecord {
  state: string;
  grafanaUrl?: string;
  grafanaPassword?: string;
  /** Set instead of grafanaPassword when the password was not asked for: how to ask for it. */
  grafanaPasswordHidden?: string;
  urls?: LabUrls;
}

/**
 * One kind of target. `S` is its parsed --target, `I` its resolved inputs (from flags,
 * config files, the environment and prompts: everything decided before anything is touched).
 */
export interface Target<S extends TargetSpec = TargetSpec, I = unknown> {
  readonly kind: string;
  /** The --target forms, for help and errors: `sandbox`, `sandbox:NAME`. */
  readonly forms: readonly string[];
  /** One line for `--help`. */
  readonly summary: string;
  /** Flags only this kind of target takes (a flag no target of the command takes is bad input). */
  readonly flags: readonly TargetFlag[];
  readonly defaults: {
    /** Where Prometheus comes from when --prometheus is not given. */
    prometheusSource: 'release' | 'package';
  };
  /** `down` destroys the host itself (runtime changes on it need no cleaning). */
  readonly downDestroysHost: boolean;
  /** The spec when `raw` is this kind of target, undefined when it is another kind; UserError when malformed. */
  parse(raw: string): S | undefined;
  /** The lab's name in the registry (labs.json). */
  recordName(spec: S): string;
  /** Everything the target needs, prompts included (only through ctx.io), before anything is touched. */
  resolve(spec: S, flags: FlagValues, ctx: ResolveContext): Promise<I>;
  /** One connection for a whole run. */
  open(spec: S, inputs: I, o: OpenOptions): Promise<OpenedTarget>;
  /** Destroys what ebpf-lab created (only that), forgets the lab; returns the exit code. */
  down(spec: S, inputs: I, write: (line: string) => void): Promise<number>;
  /** A registry record with its live state. */
  status(record: LabRecord): Promise<StatusRow>;
  formatStatus(row: StatusRow): string;
  /** Arguments for OpenSSH's `ssh` that log in to the lab (destination last). */
  sshArgs(spec: S, inputs: I): Promise<string[]>;
}

/** A target of any kind (the registry's element type). */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type AnyTarget = Target<any, any>;
