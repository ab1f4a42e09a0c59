/**
 * Questions on a terminal, with @inquirer/prompts (loaded on first use). Commands pass an
 * {@link Interaction} down to targets; tests pass their own.
 */
import { UserError } from '../errors.js';
import { importPackage } from '../load.js';
import type { Interaction, Prompter } from '../targets/target.js';

/** Ctrl-C in a prompt is the user stopping, not a bug: exit 2 with nothing created. */
async function asked<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    if ((e as Error).name === 'ExitPromptError')
      throw new UserError(
        'cancelled at the prompt; nothing was changed',
        'run the command again, or give the answer as a flag',
      );
    throw e;
  }
}

const prompts = () => importPackage<typeof import('@inquirer/prompts')>('@inquirer/prompts');

export const inquirer: Prompter = {
  select: (o) => asked(async () => (await prompts()).select(o)),
  confirm: (o) => asked(async () => (await prompts()).confirm(o)),
  number: (o) => asked(async () => (await prompts()).number(o)),
};

/** This process's terminal: questions only when both stdin and stdout are one. */
export function terminal(): Interaction {
  return { isTTY: () => Boolean(process.stdin.isTTY && process.stdout.isTTY), prompter: inquirer };
}
