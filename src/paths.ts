import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

let cached: string | undefined;

/**
 * The directory holding ebpf-lab's package.json: the root of templates/, dashboards/, bt/
 * and bpf/. Found by walking up from this module, so it is the same whether the code runs
 * from src/ (vitest, tsx) or from dist/src/ (the published build).
 */
export function packageRoot(): string {
  if (cached !== undefined) return cached;
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(join(dir, 'package.json'))) {
      cached = dir;
      return dir;
    }
    const parent = dirname(dir);
    if (parent === dir) throw new Error(`no package.json above ${fileURLToPath(import.meta.url)}`);
    dir = parent;
  }
}

/** Absolute path of a file shipped with the package, e.g. `assetPath('dashboards')`. */
export function assetPath(...parts: string[]): string {
  return join(packageRoot(), ...parts);
}
