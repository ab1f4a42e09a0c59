import { lookup } from 'node:dns/promises';

/** Answers of getaddrinfo that mean "no DNS here" (an offline machine), not a flaky network. */
const OFFLINE = new Set(['ENOTFOUND', 'EAI_AGAIN', 'EAI_FAIL', 'EAI_NONAME', 'ENODATA']);

/**
 * Resolves the host name of `url` before a download starts, and throws when there is no
 * answer (`ENOTFOUND: getaddrinfo ENOTFOUND github.com`, marked `final`: retrying will not
 * help). fetch() would fail the same way, but only after loading its HTTP stack, which
 * costs a re-run on an offline machine a good part of a second; the lookup costs
 * milliseconds and is made on every run (nothing is remembered, so a machine that comes
 * online fetches at once). Any other lookup error is left for the download to meet.
 */
export async function assertResolvable(url: string): Promise<void> {
  const host = new URL(url).hostname;
  try {
    await lookup(host);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code ?? '';
    if (OFFLINE.has(code)) throw Object.assign(new Error(`${code}: ${(e as Error).message}`), { final: true, code });
  }
}

/** An error of fetch() or {@link assertResolvable} that says the machine is offline. */
export function isOffline(e: unknown): boolean {
  const code = (e as { code?: string }).code ?? (e as { cause?: { code?: string } }).cause?.code ?? '';
  return OFFLINE.has(code) || code === 'ECONNREFUSED';
}
