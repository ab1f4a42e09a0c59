/** The --target of a command: parsed, its inputs resolved (prompts included), then opened. */
import { sandboxPackages } from '../../steps/catalog.js';
import { parseTarget, type ChosenTarget } from '../targets/index.js';
import type { FlagValues, Interaction, OpenedTarget, Purpose } from '../targets/target.js';
import type { Transport } from '../transports/transport.js';
import { terminal } from './prompt.js';

/** What every command with --target takes. */
export interface TargetInput {
  /** The --target string (default: sandbox). */
  target?: string;
  /** The target's own flags by commander name (key, region, profile, config, bundle, …). */
  targetFlags?: FlagValues;
  /** Where questions go (default: this process's terminal). */
  io?: Interaction;
  /** quiet: no connection notes on stderr. */
  verbosity?: 'quiet' | 'normal' | 'verbose';
}

/** Parses and resolves: everything is decided (and asked) before anything is touched. */
export async function chooseTarget(input: TargetInput, purpose: Purpose) {
  const chosen: ChosenTarget = parseTarget(input.target);
  const ready = await chosen.resolve(input.targetFlags ?? {}, { purpose, io: input.io ?? terminal() });
  return { chosen, ready };
}

/** Opens a lab for a run; `create` (up) may create or boot it. */
export async function openLab(
  input: TargetInput,
  o: { create: boolean; log: (line: string) => void },
): Promise<OpenedTarget & { chosen: ChosenTarget }> {
  const { chosen, ready } = await chooseTarget(input, o.create ? 'create' : 'use');
  const opened = await ready.open({ create: o.create, packages: sandboxPackages, log: o.log });
  return { ...opened, chosen };
}

/** Opens an existing lab for an exercise command (never creates one) and closes it after `fn`. */
export async function withLab<T>(input: TargetInput, fn: (host: Transport, label: string) => Promise<T>): Promise<T> {
  const log = input.verbosity === 'quiet' ? () => {} : (l: string) => void process.stderr.write(l + '\n');
  const { transport, chosen } = await openLab(input, { create: false, log });
  try {
    return await fn(transport, chosen.spec.label);
  } finally {
    await transport.close();
  }
}
