import { afterEach, describe, expect, it } from 'vitest';
import { IMPORT_HOOK, importPackage } from '../../src/load.js';

describe("importPackage: the launcher's import() in the bundle, import() elsewhere", () => {
  afterEach(() => {
    delete (globalThis as Record<symbol, unknown>)[IMPORT_HOOK];
  });

  it('without the hook (the modules, tests): import()', async () => {
    const m = await importPackage<typeof import('@inquirer/prompts')>('@inquirer/prompts');
    expect(typeof m.select).toBe('function');
  });

  it('with the hook (the bundle run by bin/ebpf-lab.js): the hook is asked, with the name', async () => {
    const asked: string[] = [];
    (globalThis as Record<symbol, unknown>)[IMPORT_HOOK] = async (name: string) => {
      asked.push(name);
      return { marker: 'from the hook' };
    };
    expect(await importPackage('@inquirer/prompts')).toEqual({ marker: 'from the hook' });
    expect(asked).toEqual(['@inquirer/prompts']);
  });
});
