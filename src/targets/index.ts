/**
 * Every kind of target, in the order --target strings are tried. Adding a target: one module
 * implementing {@link Target} plus one line here (test/unit/targets.test.ts checks the contract).
 */
import { UserError } from '../errors.js';
import { lightsailTarget } from './lightsail-target.js';
import { localTarget } from './local-target.js';
import { sandboxTarget } from './sandbox-target.js';
import { sshTarget } from './ssh-target.js';
import type {
  AnyTarget,
  FlagValues,
  OpenOptions,
  OpenedTarget,
  Purpose,
  ResolveContext,
  TargetFlag,
  TargetSpec,
} from './target.js';

export const TARGETS: readonly AnyTarget[] = [sandboxTarget, sshTarget, localTarget, lightsailTarget];

/** The --target used when none is given. */
export const DEFAULT_TARGET = 'sandbox';

export const targetForms = (): string => TARGETS.flatMap((t) => t.forms).join(', ');

/** A parsed --target bound to its kind: resolve its inputs, then open, down or ssh. */
export interface ChosenTarget {
  target: AnyTarget;
  spec: TargetSpec;
  recordName: string;
  /** Inputs from flags, files, the environment and prompts; nothing is touched yet. */
  resolve(flags: FlagValues, ctx: ResolveContext): Promise<ReadyTarget>;
}

export interface ReadyTarget {
  open(o: OpenOptions): Promise<OpenedTarget>;
  down(write: (line: string) => void): Promise<number>;
  sshArgs(): Promise<string[]>;
}

/** Parses --target; anything no target recognises is a user error naming the accepted forms. */
export function parseTarget(raw: string | undefined): ChosenTarget {
  const t = raw ?? DEFAULT_TARGET;
  for (const target of TARGETS) {
    const spec = target.parse(t);
    if (spec)
      return {
        target,
        spec,
        recordName: target.recordName(spec),
        async resolve(flags, ctx) {
          const inputs = await target.resolve(spec, flags, ctx);
          return {
            open: (o) => target.open(spec, inputs, o),
            down: (write) => target.down(spec, inputs, write),
            sshArgs: () => target.sshArgs(spec, inputs),
          };
        },
      };
  }
  if (/^[\w.-]+@[\w.-]+$/.test(t))
    throw new UserError(`unknown target "${t}"`, `did you mean ssh://${t}? Targets: ${targetForms()}`);
  throw new UserError(`unknown target "${t}"`, `targets: ${targetForms()}`);
}

/** The target that wrote a registry record (status). */
export function targetOfKind(kind: string): AnyTarget | undefined {
  return TARGETS.find((t) => t.kind === kind);
}

/** Long name of a flag: `--allow-from <cidr>` → `allow-from`. */
export const flagName = (f: TargetFlag): string => /--([a-z0-9-]+)/.exec(f.flags)![1]!;

/** commander's property name: `allow-from` → `allowFrom`. */
export const camel = (name: string): string => name.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());

/**
 * Every target flag a command offers: `reach` flags to every command with --target, `create`
 * flags to `up` only. Several targets may share a flag (declared once).
 */
export function targetFlags(purpose: Purpose): TargetFlag[] {
  const seen = new Map<string, TargetFlag>();
  for (const t of TARGETS)
    for (const f of t.flags)
      if ((f.use === 'reach' || purpose === 'create') && !seen.has(flagName(f))) seen.set(flagName(f), f);
  return [...seen.values()];
}

/**
 * Target flags given on the command line that the chosen target does not take: bad input,
 * with the targets that do take it. `given` holds long flag names (`allow-from`).
 */
export function checkTargetFlags(chosen: ChosenTarget, given: string[], purpose: Purpose): void {
  for (const name of given) {
    const own = chosen.target.flags.find((f) => flagName(f) === name);
    if (own && (own.use === 'reach' || purpose === 'create')) continue;
    const takers = TARGETS.filter((t) => t.flags.some((f) => flagName(f) === name)).map((t) => t.forms[0]);
    if (own)
      throw new UserError(
        `--${name} is used when ${chosen.spec.label} is created, by \`ebpf-lab up\` only`,
        `leave --${name} out here`,
      );
    throw new UserError(
      `--${name} does not apply to ${chosen.spec.label}`,
      `--${name} is for ${takers.join(', ') || 'other'} targets; leave it out here`,
    );
  }
}
