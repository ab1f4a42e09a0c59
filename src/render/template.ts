import { readFileSync, readdirSync } from 'node:fs';
import { join, relative, sep } from 'node:path';
import ejs from 'ejs';
import { packageRoot } from '../paths.js';

/** Every rendered config carries this phrase in its first line (a comment). */
export const MANAGED_MARKER = 'managed by ebpf-lab';

/** A template failed: which file, which line, and why. A bug in ebpf-lab, not a user error. */
export class TemplateError extends Error {
  override name = 'TemplateError';
  constructor(
    readonly template: string,
    readonly line: number | undefined,
    readonly reason: string,
  ) {
    super(`template ${template}${line === undefined ? '' : `:${line}`}: ${reason}`);
  }
}

/**
 * ejs's `<%= %>` goes through this instead of HTML escaping: YAML, INI and unit files must
 * come out byte for byte, and a missing value must stop the render instead of printing "".
 */
function strictEscape(value: unknown): string {
  if (value === undefined || value === null) {
    throw new Error(`a value printed with <%= %> is ${String(value)} (missing local?)`);
  }
  return String(value);
}

// A value that systemd would take apart (spaces, quotes, specifiers, variables) or that
// would end a YAML/INI line is refused: these files are hand-readable on purpose.
const UNIT_SAFE = /^[A-Za-z0-9_.,:/=+@-]+$/;

/**
 * Quoting helpers available to every template as `q`. They throw on values they cannot
 * represent safely, so a strange input fails the render instead of producing a broken file.
 */
export const templateHelpers = {
  /** A YAML double-quoted scalar (JSON strings are valid YAML). */
  yaml(v: unknown): string {
    return JSON.stringify(String(strictEscape(v)));
  },
  /** One word on a systemd ExecStart= line or similar; only a conservative charset. */
  unit(v: unknown): string {
    const s = strictEscape(v);
    if (!UNIT_SAFE.test(s)) throw new Error(`value ${JSON.stringify(s)} is not safe in a unit file`);
    return s;
  },
  /** An INI value in Grafana's triple quotes (so `#` and `;` are literal); no newlines or `"""`. */
  ini(v: unknown): string {
    const s = strictEscape(v);
    if (s === '') throw new Error('empty value in an INI file');
    if (/[\r\n]/.test(s) || s.includes('"""')) throw new Error('INI value contains a newline or """');
    return `"""${s}"""`;
  },
  /** A shell word inside double quotes (for /etc/default files sourced by systemd or sh). */
  shellWord(v: unknown): string {
    const s = strictEscape(v);
    if (!UNIT_SAFE.test(s)) throw new Error(`value ${JSON.stringify(s)} is not safe in an environment file`);
    return s;
  },
};

type Compiled = (locals: Record<string, unknown>) => string;
const compiled = new Map<string, Compiled>();

/** templates/<rel>.ejs, refusing paths that leave templates/. */
function templateFile(rel: string): string {
  const clean = rel.endsWith('.ejs') ? rel.slice(0, -4) : rel;
  if (clean.startsWith('/') || clean.split(/[\\/]/).includes('..')) {
    throw new TemplateError(rel, undefined, 'template path must be relative and stay inside templates/');
  }
  return join(packageRoot(), 'templates', `${clean}.ejs`);
}

function compile(rel: string, file: string): Compiled {
  const hit = compiled.get(file);
  if (hit) return hit;
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new TemplateError(rel, undefined, `cannot read ${file}: ${(e as Error).message}`);
  }
  // `<%-` prints undefined as an empty string: not allowed anywhere.
  const raw = text.split('\n').findIndex((l) => l.includes('<%-'));
  if (raw >= 0) throw new TemplateError(rel, raw + 1, 'unescaped output <%- is not allowed; use <%= %>');
  const fn = ejs.compile(text, { filename: file, escape: strictEscape, compileDebug: true, async: false });
  compiled.set(file, fn as Compiled);
  return fn as Compiled;
}

/** ejs prefixes messages with "file:LINE\n<context>\n\n"; turn that into a TemplateError. */
function wrap(rel: string, err: unknown): TemplateError {
  if (err instanceof TemplateError) return err;
  const msg = err instanceof Error ? err.message : String(err);
  const m = /^[^\n]*:(\d+)\n[\s\S]*?\n\n([\s\S]*)$/.exec(msg);
  return m ? new TemplateError(rel, Number(m[1]), m[2] ?? msg) : new TemplateError(rel, undefined, msg);
}

/**
 * True when the first line is a comment (#, ;, //, <!--) naming {@link MANAGED_MARKER}.
 * A leading `<?php` or `#!` line is skipped: PHP and scripts cannot start with a comment.
 */
export function startsWithMarker(text: string): boolean {
  const lines = text.split('\n', 3);
  const first = /^(<\?php|#!)/.test(lines[0] ?? '') ? lines[1] : lines[0];
  return first !== undefined && /^\s*(#|;|\/\/|<!--)/.test(first) && first.includes(MANAGED_MARKER);
}

/**
 * Renders `templates/<templateRelPath>.ejs` with `locals` (plus the `q` quoting helpers).
 * Throws a {@link TemplateError} (template + line) when a local is missing, a value cannot be
 * quoted safely, or the output's first line is not the "managed by ebpf-lab" comment.
 */
export function render(templateRelPath: string, locals: Record<string, unknown>): string {
  if ('q' in locals) throw new TemplateError(templateRelPath, undefined, 'local "q" is reserved for helpers');
  const file = templateFile(templateRelPath);
  let out: string;
  try {
    out = compile(templateRelPath, file)({ ...locals, q: templateHelpers });
  } catch (e) {
    throw wrap(templateRelPath, e);
  }
  if (!startsWithMarker(out)) {
    throw new TemplateError(templateRelPath, 1, `first line must be a comment saying "${MANAGED_MARKER}"`);
  }
  return out;
}

/** Every template, as the relative path `render` takes (without `.ejs`), sorted. */
export function listTemplates(): string[] {
  const root = join(packageRoot(), 'templates');
  const out: string[] = [];
  const walk = (dir: string): void => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const p = join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.name.endsWith('.ejs')) out.push(relative(root, p).split(sep).join('/').slice(0, -4));
    }
  };
  walk(root);
  return out.sort();
}
