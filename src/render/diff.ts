import { createRequire } from 'node:module';

/** diff, loaded on first use: a run whose files are all up to date (a no-op re-run) never pays for it. */
const diffLib = (): typeof import('diff') => createRequire(import.meta.url)('diff') as typeof import('diff');

/** A unified diff of a managed file, or a masked summary for secret-bearing files. */
export function fileDiff(path: string, before: string | undefined, after: string, secret = false): string {
  if (secret) return `(content of ${path} not shown: it holds a secret)`;
  if (before !== undefined && (isBinary(before) || isBinary(after))) return `(binary content of ${path} differs)`;
  const patch = diffLib().createTwoFilesPatch(
    before === undefined ? '/dev/null' : path,
    path,
    before ?? '',
    after,
    undefined,
    undefined,
    { context: 3 },
  );
  // Drop the "Index"/separator preamble: keep from the --- line.
  return patch.slice(patch.indexOf('---')).trimEnd();
}

function isBinary(s: string): boolean {
  return s.includes('\u0000');
}
