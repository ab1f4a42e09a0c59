import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { HostFacts } from '../facts/host.js';
import { packageRoot } from '../paths.js';

/**
 * Probe-path placeholders used in bt/*.bt, filled in at install time from host facts
 * (the paths differ per distro, PHP version and architecture).
 */
export const BT_PLACEHOLDERS = {
  /** mod_php module, e.g. /usr/lib/apache2/modules/libphp8.1.so */
  LIBPHP: 'libphp',
  /** php-fpm binary, e.g. /usr/sbin/php-fpm8.2 */
  PHP_FPM: 'phpFpm',
  /** PHP CLI binary, e.g. /usr/bin/php8.2 (the real file, not the alternatives symlink) */
  PHP_CLI: 'phpCli',
  /** e.g. /usr/lib/x86_64-linux-gnu/libmemcached.so.11 */
  LIBMEMCACHED: 'libmemcached',
  /** APCu extension, e.g. /usr/lib/php/20220829/apcu.so */
  APCU_SO: 'apcuSo',
} as const;

export type BtPlaceholder = keyof typeof BT_PLACEHOLDERS;

/** Host paths for the placeholders; only those a tool uses must be present. */
export type BtPaths = Partial<Record<(typeof BT_PLACEHOLDERS)[BtPlaceholder], string>>;

const TOKEN = /@([A-Z][A-Z0-9_]*)@/g;

/** Placeholders a bt source uses, in order of first appearance. */
export function btPlaceholders(source: string): BtPlaceholder[] {
  const seen: BtPlaceholder[] = [];
  for (const m of source.matchAll(TOKEN)) {
    const name = m[1] as string;
    if (!(name in BT_PLACEHOLDERS)) throw new Error(`unknown placeholder @${name}@ in bpftrace source`);
    if (!seen.includes(name as BtPlaceholder)) seen.push(name as BtPlaceholder);
  }
  return seen;
}

/**
 * Replaces every `@NAME@` in a bpftrace source by the host path. Throws on an unknown
 * placeholder, on a used placeholder with no path, and on a path bpftrace would misparse
 * (probe specs are split on `:` and end at whitespace, `,` or `{`).
 */
export function renderBt(source: string, paths: BtPaths): string {
  for (const name of btPlaceholders(source)) {
    const p = paths[BT_PLACEHOLDERS[name]];
    if (p === undefined || p === '') throw new Error(`no host path for @${name}@ (${BT_PLACEHOLDERS[name]})`);
    if (!/^\/[A-Za-z0-9_./+-]+$/.test(p)) throw new Error(`path for @${name}@ is not usable in a probe: ${p}`);
  }
  return source.replace(TOKEN, (_all, name: string) => paths[BT_PLACEHOLDERS[name as BtPlaceholder]] as string);
}

/** The placeholder paths from host facts (absent ones stay undefined; renderBt says which). */
export function btPathsFromFacts(facts: HostFacts): BtPaths {
  return {
    libphp: facts.php?.libphp,
    phpFpm: facts.php?.fpmBinary,
    phpCli: facts.php?.cli,
    libmemcached: facts.libmemcached,
    apcuSo: facts.apcuSo,
  };
}

/** A tool in bt/: its file name and source (with placeholders). */
export interface BtTool {
  file: string;
  source: string;
  /** First line of the header's "purpose" (after `// <file>: `). */
  summary: string;
}

let tools: readonly Readonly<BtTool>[] | undefined;

/**
 * Every bt/*.bt tool shipped with the package, sorted by file name; read once per process
 * (the package's own files: a check asks for them several times, in each snapshot pass).
 */
export function listBtTools(): readonly Readonly<BtTool>[] {
  const dir = join(packageRoot(), 'bt');
  tools ??= readdirSync(dir)
    .filter((f) => f.endsWith('.bt'))
    .sort()
    .map((file) => {
      const source = readFileSync(join(dir, file), 'utf8');
      const head = source.split('\n').find((l) => l.startsWith('// ') && l.includes(file)) ?? '';
      return Object.freeze({ file, source, summary: head.replace(/^\/\/\s*\S+:\s*/, '') });
    });
  return tools;
}
