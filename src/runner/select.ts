import { UserError } from '../errors.js';

/**
 * Resolves --only/--skip against the registry; unknown ids are a user error. Light on purpose:
 * a command checks its flags with it before the steps themselves are loaded.
 */
export function selectSteps<T extends { id: string }>(all: readonly T[], only?: string[], skip?: string[]): T[] {
  const ids = new Set(all.map((s) => s.id));
  for (const id of [...(only ?? []), ...(skip ?? [])])
    if (!ids.has(id)) throw new UserError(`unknown step "${id}"`, `known steps: ${[...ids].join(', ')}`);
  return all.filter((s) => (!only?.length || only.includes(s.id)) && !skip?.includes(s.id));
}
