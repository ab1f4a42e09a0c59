/**
 * import() of a package that is an ES module only (@inquirer/prompts), for code that also
 * runs from the bundle (dist/ebpf-lab.cjs, see scripts/bundle.mjs). The launcher runs the
 * bundle as a script with V8's code cache, where import() has no loader behind it (Node 20
 * gives a cached script none); so the launcher hands its own import() over under
 * IMPORT_HOOK, and this uses it. Run from the modules (tests, dist/src), it is import().
 */
export const IMPORT_HOOK = Symbol.for('ebpf-lab.import');

export function importPackage<T>(name: string): Promise<T> {
  const hook = (globalThis as Record<symbol, unknown>)[IMPORT_HOOK] as ((n: string) => Promise<T>) | undefined;
  return hook ? hook(name) : (import(name) as Promise<T>);
}
