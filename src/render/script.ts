import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { packageRoot } from '../paths.js';

const PLACEHOLDER = /@([A-Z][A-Z0-9_]*)@/g;
const texts = new Map<string, string>();

/** templates/scripts/<name>.sh without its leading comment block, read once. */
function scriptText(name: string): string {
  if (!/^[a-z0-9-]+$/.test(name)) throw new Error(`bad host script name: ${name}`);
  let text = texts.get(name);
  if (text === undefined) {
    const lines = readFileSync(join(packageRoot(), 'templates', 'scripts', `${name}.sh`), 'utf8').split('\n');
    const body = lines.findIndex((l) => !/^\s*(#.*)?$/.test(l));
    text = lines.slice(Math.max(body, 0)).join('\n').trimEnd();
    texts.set(name, text);
  }
  return text;
}

/**
 * A shell script that runs on a host, from templates/scripts/<name>.sh: POSIX sh whose
 * `@NAME@` placeholders are filled with `values`, verbatim (they are shell text: quote
 * data with quote()/quoteArgv(), or pass a snippet such as a waitLoop). The file's
 * leading comment block (what the script does, its placeholders) is not sent.
 * A placeholder without a value, or a value without a placeholder, throws: a bug.
 */
export function hostScript(name: string, values: Record<string, string | number> = {}): string {
  const text = scriptText(name);
  const used = new Set<string>();
  const out = text.replace(PLACEHOLDER, (_, key: string) => {
    const v = values[key];
    if (v === undefined) throw new Error(`host script ${name}: no value for @${key}@`);
    used.add(key);
    return String(v);
  });
  const unused = Object.keys(values).filter((k) => !used.has(k));
  if (unused.length) throw new Error(`host script ${name}: no placeholder for ${unused.join(', ')}`);
  return out;
}

/** Every host script's name (templates/scripts/*.sh), sorted. */
export function hostScriptNames(): string[] {
  return readdirSync(join(packageRoot(), 'templates', 'scripts'))
    .filter((f) => f.endsWith('.sh'))
    .map((f) => f.slice(0, -3))
    .sort();
}
