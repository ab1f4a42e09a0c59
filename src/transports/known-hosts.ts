/**
 * The tool's own known-hosts file (never ~/.ssh/known_hosts) and the host-key decision:
 * pinned keys (sandbox, Lightsail) or trust on first use for plain ssh targets.
 * Lines use OpenSSH's format, `[host]:port keytype base64`, so `ssh-keygen -F` and
 * `ssh -o UserKnownHostsFile=<file>` can read the same file.
 */
import { createHash, randomBytes } from 'node:crypto';
import { chmod, mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { UserError } from '../errors.js';
import { withPath } from '../local-fs.js';

/** One host key as OpenSSH writes it: key type and the raw key blob. */
export interface HostKey {
  type: string;
  blob: Buffer;
}

export interface KnownHostEntry extends HostKey {
  /** The host field exactly as written (`[127.0.0.1]:2230`, `example.org`). */
  host: string;
}

/** OpenSSH fingerprint of a key blob: `SHA256:` + base64 of its sha256, padding removed. */
export function fingerprint(blob: Buffer): string {
  return 'SHA256:' + createHash('sha256').update(blob).digest('base64').replace(/=+$/, '');
}

/** The host field OpenSSH uses: a bare name for port 22, `[host]:port` otherwise. */
export function hostField(host: string, port: number): string {
  return port === 22 ? host : `[${host}]:${port}`;
}

/** The key type stored inside a blob (its first SSH string), or undefined if malformed. */
export function blobType(blob: Buffer): string | undefined {
  if (blob.length < 4) return undefined;
  const len = blob.readUInt32BE(0);
  if (len === 0 || len > 64 || 4 + len > blob.length) return undefined;
  return blob.subarray(4, 4 + len).toString('latin1');
}

/**
 * Parses `keytype base64 [comment]` (an OpenSSH public key line). Throws a UserError
 * when the line is not a key, or its type does not match the blob inside it.
 */
export function parsePublicKeyLine(line: string): HostKey {
  const [type, b64] = line.trim().split(/\s+/);
  const blob = b64 && /^[A-Za-z0-9+/]+=*$/.test(b64) ? Buffer.from(b64, 'base64') : undefined;
  if (!type || !blob || blobType(blob) !== type) {
    throw new UserError(
      `not an OpenSSH public key: ${JSON.stringify(line.slice(0, 80))}`,
      "expected 'ssh-ed25519 AAAA…' (the format of a .pub file or ssh-keyscan output)",
    );
  }
  return { type, blob };
}

/**
 * Parses a known-hosts text. Comments, blank lines, hashed hosts (`|1|…`) and marker lines
 * (`@revoked`, `@cert-authority`) are not entries; they are kept when the file is rewritten.
 */
export function parseKnownHosts(text: string): KnownHostEntry[] {
  const out: KnownHostEntry[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || line.startsWith('@') || line.startsWith('|')) continue;
    const [hosts, type, b64] = line.split(/\s+/);
    if (!hosts || !type || !b64) continue;
    const blob = Buffer.from(b64, 'base64');
    if (blobType(blob) !== type) continue;
    for (const host of hosts.split(',')) out.push({ host, type, blob });
  }
  return out;
}

/** Keys recorded for host:port (both `[h]:p` and, for port 22, the bare name). */
export function keysFor(entries: KnownHostEntry[], host: string, port: number): KnownHostEntry[] {
  const field = hostField(host, port);
  return entries.filter((e) => e.host === field || e.host === `[${host}]:${port}`);
}

/**
 * Returns `text` with every line for host:port removed and `keys` appended for it.
 * Lines for other hosts (and comments) are kept verbatim.
 */
export function replaceHostKeys(text: string, host: string, port: number, keys: HostKey[]): string {
  const drop = new Set([hostField(host, port), `[${host}]:${port}`]);
  const kept = text.split('\n').filter((raw) => {
    const line = raw.trim();
    if (line === '') return false;
    if (line.startsWith('#') || line.startsWith('@') || line.startsWith('|')) return true;
    const hosts = (line.split(/\s+/)[0] ?? '').split(',');
    return !hosts.some((h) => drop.has(h));
  });
  const field = hostField(host, port);
  const added = keys.map((k) => `${field} ${k.type} ${k.blob.toString('base64')}`);
  return [...kept, ...added].join('\n') + '\n';
}

/**
 * Returns `text` without the entries of a destroyed lab: every host name whose key is one of
 * `keys` (the lab's own host keys — generated for that machine, so no other lab has them) and
 * that `host` accepts (default: any). A line listing several hosts keeps the others; comments,
 * markers, hashed hosts and every other key stay verbatim. `removed` counts host entries.
 */
export function forgetHostKeys(
  text: string,
  keys: HostKey[],
  host: (field: string) => boolean = () => true,
): { text: string; removed: number } {
  let removed = 0;
  const lines: string[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '') continue;
    if (line.startsWith('#') || line.startsWith('@') || line.startsWith('|')) {
      lines.push(raw);
      continue;
    }
    const [hosts = '', type, b64, ...rest] = line.split(/\s+/);
    const blob = type && b64 ? Buffer.from(b64, 'base64') : undefined;
    const ours = blob !== undefined && keys.some((k) => k.type === type && k.blob.equals(blob));
    if (!ours) {
      lines.push(raw);
      continue;
    }
    const names = hosts.split(',');
    const kept = names.filter((h) => !host(h));
    removed += names.length - kept.length;
    if (kept.length) lines.push([kept.join(','), type, b64, ...rest].join(' '));
  }
  return { text: lines.length ? lines.join('\n') + '\n' : '', removed };
}

/** Reads the file; a missing file is empty. */
export async function readKnownHosts(path: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return '';
    throw e;
  }
}

/**
 * Writes the file atomically (temp file + rename) with mode 0600, so a crash never leaves a
 * half-written trust store. A directory it has to create is made 0700; an existing one keeps
 * its mode (a known-hosts path in a shared directory such as /tmp once turned /tmp to 0700).
 */
export async function writeKnownHosts(path: string, text: string): Promise<void> {
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  const tmp = `${path}.tmp-${randomBytes(6).toString('hex')}`;
  try {
    await writeFile(tmp, text, { mode: 0o600, flush: true });
    await chmod(tmp, 0o600);
    await rename(tmp, path);
  } catch (e) {
    throw withPath(e, tmp);
  } finally {
    await rm(tmp, { force: true });
  }
}

/**
 * Removes a destroyed lab's entries from the known-hosts file at `path` (see
 * {@link forgetHostKeys}); the file is rewritten (0600, atomically) only when something was
 * removed. Returns the number of host entries removed.
 */
export async function forgetKnownHosts(
  path: string,
  keys: HostKey[],
  host?: (field: string) => boolean,
): Promise<number> {
  if (keys.length === 0) return 0;
  const before = await readKnownHosts(path);
  const { text, removed } = forgetHostKeys(before, keys, host);
  if (removed) await writeKnownHosts(path, text);
  return removed;
}

/** What to do with the key a server presented. */
export type HostKeyDecision =
  | { action: 'accept' }
  /** First contact (TOFU) or pinned keys not yet recorded: write `keys` for this host. */
  | { action: 'record'; keys: HostKey[] }
  | { action: 'reject'; error: UserError };

/**
 * Decides on the key `presented` by host:port. With `pinned`, only those keys are accepted
 * (compared blob to blob). Without, the first key seen is recorded and any later different
 * key stops the connection with both fingerprints and the fix.
 */
export function decideHostKey(args: {
  host: string;
  port: number;
  presented: Buffer;
  known: KnownHostEntry[];
  knownHostsPath: string;
  pinned?: HostKey[];
}): HostKeyDecision {
  const { host, port, presented, known, knownHostsPath, pinned } = args;
  const seen = fingerprint(presented);
  const type = blobType(presented) ?? 'unknown';
  const recorded = keysFor(known, host, port);
  if (pinned) {
    if (!pinned.some((k) => k.blob.equals(presented))) {
      const expected = pinned.map((k) => `${k.type} ${fingerprint(k.blob)}`).join(', ');
      return {
        action: 'reject',
        error: new UserError(
          `host key of ${host}:${port} does not match the pinned key: the server presented ` +
            `${type} ${seen}, expected ${expected}. No command was sent.`,
          'the pinned key comes from the provider or the sandbox; if the instance was replaced, ' +
            'refresh its details (e.g. run `ebpf-lab status`) before connecting again',
        ),
      };
    }
    const same = recorded.length === pinned.length && pinned.every((p) => recorded.some((r) => r.blob.equals(p.blob)));
    return same ? { action: 'accept' } : { action: 'record', keys: pinned };
  }
  if (recorded.length === 0) return { action: 'record', keys: [{ type, blob: presented }] };
  if (recorded.some((r) => r.blob.equals(presented))) return { action: 'accept' };
  const before = recorded.map((r) => `${r.type} ${fingerprint(r.blob)}`).join(', ');
  return {
    action: 'reject',
    error: new UserError(
      `HOST KEY CHANGED for ${host}:${port}: recorded ${before}, but the server now presents ` +
        `${type} ${seen}. Someone may be intercepting the connection, or the host was rebuilt. ` +
        'No command was sent.',
      `if the host was really rebuilt, remove the line for ${hostField(host, port)} from ` +
        `${knownHostsPath} (ssh-keygen -R '${hostField(host, port)}' -f ${knownHostsPath}) and connect again`,
    ),
  };
}

/** Host-key algorithms with the types already known for this host first (as OpenSSH does). */
export function preferredHostKeyAlgorithms(knownTypes: string[]): string[] {
  const all = [
    'ssh-ed25519',
    'ecdsa-sha2-nistp256',
    'ecdsa-sha2-nistp384',
    'ecdsa-sha2-nistp521',
    'rsa-sha2-512',
    'rsa-sha2-256',
    'ssh-rsa',
  ];
  const keyTypeOf = (alg: string) => (alg.startsWith('rsa-sha2-') ? 'ssh-rsa' : alg);
  const first = all.filter((a) => knownTypes.includes(keyTypeOf(a)));
  return [...first, ...all.filter((a) => !first.includes(a))];
}
