/**
 * The host programs the `sandbox` target needs, and how to get them on Debian/Ubuntu.
 */
import { access, constants } from 'node:fs/promises';
import path from 'node:path';
import { UserError } from '../errors.js';
import { run } from './sandbox-proc.js';

/** A needed program: any of `names` will do; `pkg` is the Debian package that ships the first. */
interface Tool {
  names: string[];
  pkg: string;
}

const TOOLS: Tool[] = [
  { names: ['systemd-nspawn'], pkg: 'systemd-container' },
  { names: ['mmdebstrap', 'debootstrap'], pkg: 'mmdebstrap' },
  { names: ['socat'], pkg: 'socat' },
  { names: ['apt-ftparchive'], pkg: 'apt-utils' },
  { names: ['nsenter'], pkg: 'util-linux' },
  { names: ['unshare'], pkg: 'util-linux' },
  { names: ['ssh-keygen'], pkg: 'openssh-client' },
];

/** The full set installed when anything is missing (one apt run instead of several). */
export const HOST_PACKAGES = ['systemd-container', 'mmdebstrap', 'apt-utils', 'socat'];

/** Absolute path of `name` in PATH (plus the sbin dirs a non-login root shell may lack). */
export async function findExecutable(name: string): Promise<string | undefined> {
  const dirs = [...(process.env.PATH ?? '').split(':'), '/usr/local/sbin', '/usr/sbin', '/sbin'];
  for (const dir of dirs) {
    if (!dir) continue;
    const candidate = path.join(dir, name);
    try {
      await access(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return undefined;
}

/** Packages providing the programs that are missing, in TOOLS order. */
export async function missingHostPackages(): Promise<string[]> {
  const missing: string[] = [];
  for (const tool of TOOLS) {
    const found = await Promise.all(tool.names.map(findExecutable));
    if (found.every((f) => f === undefined) && !missing.includes(tool.pkg)) missing.push(tool.pkg);
  }
  return missing;
}

/** The sandbox needs Linux and root (systemd-nspawn); anything else is the user's setup. */
export function assertSandboxHost(): void {
  assertLinux();
  if (!isRoot()) {
    throw new UserError(
      'the sandbox target needs root (systemd-nspawn creates the container)',
      'run as root (sudo ebpf-lab …) or use --target ssh://user@host',
    );
  }
}

function assertLinux(): void {
  if (process.platform !== 'linux') {
    throw new UserError(
      `the sandbox target needs Linux with systemd-nspawn (this is ${process.platform})`,
      'use --target ssh://user@host to build the lab on a Linux machine',
    );
  }
}

const isRoot = () => process.getuid?.() === 0;

/**
 * Make sure systemd-nspawn, mmdebstrap (or debootstrap), socat, apt-ftparchive, nsenter,
 * unshare and ssh-keygen exist. As root on a Debian/Ubuntu host, installs the missing ones with
 * apt-get; otherwise throws a UserError naming the exact command to run. Also throws a
 * UserError on a non-Linux or non-root host: the sandbox needs root.
 */
export async function ensureHostTools(log: (l: string) => void): Promise<void> {
  assertLinux();
  const missing = await missingHostPackages();
  const pkgs = [...new Set([...HOST_PACKAGES, ...missing])];
  const command = `apt-get install -y --no-install-recommends ${pkgs.join(' ')}`;
  if (missing.length > 0 && !isRoot()) {
    throw new UserError(
      `the sandbox target needs ${missing.join(', ')} (programs missing on this host) and root`,
      `install them with: sudo ${command}   (then run ebpf-lab as root, or use --target ssh://user@host)`,
    );
  }
  assertSandboxHost();
  if (missing.length === 0) return;
  if (!(await findExecutable('apt-get'))) {
    throw new UserError(
      `the sandbox target needs ${missing.join(', ')} (programs missing on this host)`,
      `install them with your package manager (on Debian/Ubuntu: ${command})`,
    );
  }
  log(`installing host tools: ${pkgs.join(' ')}`);
  const env = { DEBIAN_FRONTEND: 'noninteractive' };
  // A failed index (a third-party source) must not stop the install from the Debian ones.
  await run(['apt-get', 'update', '-qq'], { env, nothrow: true });
  await run(['apt-get', 'install', '-y', '-qq', '--no-install-recommends', ...pkgs], { env });
  const still = await missingHostPackages();
  if (still.length > 0) throw new UserError(`host tools still missing after install: ${still.join(', ')}`);
}
