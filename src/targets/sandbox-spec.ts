/**
 * Pure parts of the sandbox target: names, cache keys, the argv of the container and of
 * the SSH forwarder, and recognising our own processes. No I/O here (unit-tested).
 */
import { createHash } from 'node:crypto';
import { UserError } from '../errors.js';
import { baseIncludes, type SandboxOs } from './sandbox-os.js';

/** Where the local apt repository appears inside the container. */
export const REPO_MOUNT = '/srv/ebpf-lab-repo';

/**
 * The base root filesystem recipe of one OS. `recipe` changes whenever the customisation
 * code changes, so a cached base built by older code is never reused.
 */
export function baseSpec(os: SandboxOs) {
  return {
    recipe: 2,
    os: os.id,
    suite: os.suite,
    variant: 'minbase',
    components: os.components,
    include: baseIncludes(os),
    users: { lab: 'sudo NOPASSWD', nosudo: 'no sudo' },
  } as const;
}
export type BaseSpec = ReturnType<typeof baseSpec>;

const NAME_RE = /^[a-z0-9][a-z0-9-]{0,30}$/;

/** Throws a UserError unless `name` is a valid sandbox name. */
export function validateSandboxName(name: string): void {
  if (!NAME_RE.test(name)) {
    throw new UserError(
      `invalid sandbox name ${JSON.stringify(name)}`,
      'use 1-31 characters: lowercase letters, digits and "-", starting with a letter or digit',
    );
  }
}

const sha = (value: unknown) => createHash('sha256').update(JSON.stringify(value)).digest('hex').slice(0, 16);

/**
 * Cache key of the base root filesystem of `os` for this CPU architecture (and mirror: a
 * base built from another archive is another base).
 */
export function baseKey(os: SandboxOs, mirror?: string, arch: string = process.arch): string {
  return sha({ ...baseSpec(os), arch, ...(mirror ? { mirror } : {}) });
}

/** Cache key of a local repo: the set of packages (order and duplicates do not matter) + the base. */
export function repoKey(base: string, packages: readonly string[]): string {
  return sha({ recipe: 1, base, recommends: false, packages: [...new Set(packages)].sort() });
}

/** Debian package names, or alternatives `a|b|c` (the first the archive has wins): they end up in an apt-get argv. */
export function validatePackages(packages: readonly string[]): void {
  const bad = packages.filter((p) => !p.split('|').every((n) => /^[a-z0-9][a-z0-9+.-]+$/.test(n)));
  if (bad.length > 0) throw new UserError(`invalid Debian package name(s): ${bad.join(', ')}`);
}

/** A machine name unique per sandbox instance (two homes may both have a 'default'). */
export function machineName(name: string, random: string): string {
  return `ebpflab-${name}-${random}`.slice(0, 60);
}

/** nspawn's bind syntax uses ':' as a separator; backslash escapes are interpreted. */
export function escapeBindPath(p: string): string {
  return p.replace(/\\/g, '\\\\').replace(/:/g, '\\:');
}

/** argv of the container: systemd as PID 1, own netns, BPF allowed (facts/testhost.md). */
export function nspawnArgv(o: { rootfs: string; machine: string; repoDir: string }): string[] {
  return [
    'systemd-nspawn',
    '-D',
    o.rootfs,
    '-b',
    '-M',
    o.machine,
    '--register=no',
    '--keep-unit',
    '--capability=all',
    '--system-call-filter=bpf perf_event_open',
    '--private-network',
    '--bind=/sys/fs/bpf',
    `--bind-ro=${escapeBindPath(o.repoDir)}:${REPO_MOUNT}`,
    '--console=pipe',
  ];
}

/**
 * argv of the forwarder: host 127.0.0.1:port -> the container's 127.0.0.1:22, one
 * `nsenter … socat` per connection. Colons and commas inside socat's EXEC address are escaped.
 * `nodelay` on both TCP legs: without it Nagle's algorithm and delayed ACKs held each small
 * SSH packet ~40 ms, so every command round trip took 48 ms instead of 5 ms.
 * `legacy`: the argv before nodelay, still recognised so an older forwarder can be stopped.
 */
export function forwarderArgv(port: number, leaderPid: number, legacy = false, to = 22): string[] {
  const nd = legacy ? '' : ',nodelay';
  return [
    'socat',
    `TCP-LISTEN:${port},bind=127.0.0.1,reuseaddr,fork${nd}`,
    `EXEC:nsenter --net=/proc/${leaderPid}/ns/net socat STDIO TCP\\:127.0.0.1\\:${to}${nd.replace(',', '\\,')}`,
  ];
}

/**
 * What a sandbox forwards to this machine's loopback besides sshd, so a browser here reaches
 * the lab: the sample pages, Grafana and Prometheus (all on the container's own 127.0.0.1).
 */
export const SERVICE_FORWARDS = [
  { service: 'web', to: 80, path: '/' },
  { service: 'grafana', to: 3000, path: '/' },
  { service: 'prometheus', to: 9090, path: '/' },
] as const;
export type ForwardedService = (typeof SERVICE_FORWARDS)[number]['service'];

/** True if a process's argv is the nspawn of this sandbox (guards against pid reuse). */
export function isOurNspawn(cmdline: readonly string[] | undefined, rootfs: string, machine: string): boolean {
  if (!cmdline || !cmdline[0]?.endsWith('systemd-nspawn')) return false;
  const d = cmdline.indexOf('-D');
  const m = cmdline.indexOf('-M');
  return cmdline[d + 1] === rootfs && cmdline[m + 1] === machine;
}

/** True if a process's argv is our forwarder on `port` into `leaderPid`'s netns (with `legacy`: also one started by an older ebpf-lab). */
export function isOurForwarder(
  cmdline: readonly string[] | undefined,
  port: number,
  leaderPid: number,
  legacy = false,
  to = 22,
): boolean {
  if (!cmdline) return false;
  const is = (want: string[]) =>
    cmdline.length === want.length &&
    cmdline[0]?.endsWith('socat') === true &&
    cmdline[1] === want[1] &&
    cmdline[2] === want[2];
  return is(forwarderArgv(port, leaderPid, false, to)) || (legacy && is(forwarderArgv(port, leaderPid, true, to)));
}

/** 'ssh-ed25519 AAAA… root@host' -> 'ssh-ed25519 AAAA…' (the comment is not part of the key). */
export function hostKeyLine(pub: string): string {
  const [type, key] = pub.trim().split(/\s+/);
  if (!type || !key) throw new Error(`not an OpenSSH public key: ${pub.slice(0, 60)}`);
  return `${type} ${key}`;
}

/** Order host keys ed25519 first (what clients pin by preference). */
export function sortHostKeys(lines: string[]): string[] {
  const rank = (l: string) => (l.startsWith('ssh-ed25519') ? 0 : l.startsWith('ecdsa') ? 1 : 2);
  return [...lines].sort((a, b) => rank(a) - rank(b));
}

/** /etc/passwd line for `user` -> uid, gid and home. */
export function passwdEntry(passwd: string, user: string): { uid: number; gid: number; home: string } | undefined {
  for (const line of passwd.split('\n')) {
    const f = line.split(':');
    if (f[0] === user && f.length >= 7) return { uid: Number(f[2]), gid: Number(f[3]), home: f[5] ?? '' };
  }
  return undefined;
}

/** apt-get's words for "my package lists do not know this" (then an update helps). */
export function aptNeedsUpdate(stderr: string): boolean {
  return /Unable to locate package|has no installation candidate|Failed to fetch|404\s+Not Found|Hash Sum mismatch|is not available/i.test(
    stderr,
  );
}
