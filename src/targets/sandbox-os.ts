/**
 * The operating systems a sandbox can run: each is a real distribution release built from
 * that distribution's own archive (mmdebstrap picks the archive from the suite name, so no
 * archive host name appears here) and checked with that distribution's archive keyring.
 * Pure data and parsing: no I/O (unit-tested).
 */
import { UserError } from '../errors.js';

export type Distro = 'ubuntu' | 'debian';

export interface SandboxOs {
  /** What `--os` takes and sandbox.json records, e.g. 'ubuntu-22.04'. */
  id: string;
  distro: Distro;
  /** os-release VERSION_ID and VERSION_CODENAME. */
  versionId: string;
  suite: string;
  name: string;
  /** Archive components the lab's packages come from. */
  components: string[];
}

export const SANDBOX_OSES: readonly SandboxOs[] = [
  {
    id: 'ubuntu-22.04',
    distro: 'ubuntu',
    versionId: '22.04',
    suite: 'jammy',
    name: 'Ubuntu 22.04',
    components: ['main', 'universe'],
  },
  {
    id: 'ubuntu-24.04',
    distro: 'ubuntu',
    versionId: '24.04',
    suite: 'noble',
    name: 'Ubuntu 24.04',
    components: ['main', 'universe'],
  },
  {
    id: 'ubuntu-26.04',
    distro: 'ubuntu',
    versionId: '26.04',
    suite: 'resolute',
    name: 'Ubuntu 26.04',
    components: ['main', 'universe'],
  },
  { id: 'debian-12', distro: 'debian', versionId: '12', suite: 'bookworm', name: 'Debian 12', components: ['main'] },
  { id: 'debian-13', distro: 'debian', versionId: '13', suite: 'trixie', name: 'Debian 13', components: ['main'] },
];

/** The workshop's own OS, and Lightsail's default blueprint. */
export const DEFAULT_SANDBOX_OS = 'ubuntu-22.04';

/** Environment variable naming a mirror (or proxy-fronted URL) of the sandbox OS's archive. */
export const MIRROR_ENV = 'EBPF_LAB_APT_MIRROR';

export function sandboxOs(id: string): SandboxOs {
  const os = SANDBOX_OSES.find((o) => o.id === id);
  if (!os)
    throw new UserError(
      `unknown --os "${id}"`,
      `pick one of ${SANDBOX_OSES.map((o) => o.id).join(', ')} (default ${DEFAULT_SANDBOX_OS})`,
    );
  return os;
}

/** Validates `--os`; undefined means "the sandbox's own OS, or the default for a new one". */
export function parseSandboxOs(value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  return sandboxOs(value.trim().toLowerCase()).id;
}

/**
 * Packages every base gets beyond minbase. `apt` because Ubuntu ranks it "important" and
 * minbase leaves it out; unattended-upgrades (and on Ubuntu needrestart) because a fresh
 * cloud host has them and provisioning must cope with them (dpkg lock, restart prompts).
 */
export function baseIncludes(os: SandboxOs): string[] {
  const common = ['apt', 'systemd-sysv', 'dbus', 'openssh-server', 'sudo', 'iproute2', 'ca-certificates', 'procps'];
  const cloudLike = os.distro === 'ubuntu' ? ['unattended-upgrades', 'needrestart'] : ['unattended-upgrades'];
  return [...common, 'less', ...cloudLike];
}

/**
 * mmdebstrap's mirror arguments. Without a mirror: none (mmdebstrap knows the archive of the
 * suite and adds -updates and -security itself). With one: the release, -updates and
 * -security suites from that URL.
 */
export function mirrorArgs(os: SandboxOs, mirror: string | undefined): string[] {
  if (!mirror) return [];
  const url = mirror.replace(/\/+$/, '');
  const comps = os.components.join(' ');
  const suites = [os.suite, `${os.suite}-updates`, `${os.suite}-security`];
  return suites.map((s) => `deb ${url} ${s} ${comps}`);
}

/** Validates the mirror URL from the environment (it ends up in apt sources lines). */
export function parseMirror(value: string | undefined): string | undefined {
  if (value === undefined || value.trim() === '') return undefined;
  const v = value.trim();
  let u: URL;
  try {
    u = new URL(v);
  } catch {
    throw new UserError(
      `${MIRROR_ENV}="${v}" is not a URL`,
      `set it to the archive's base URL, e.g. ${MIRROR_ENV}=https://mirror.example/ubuntu, or unset it`,
    );
  }
  if (!['http:', 'https:', 'file:'].includes(u.protocol) || /\s/.test(v))
    throw new UserError(
      `${MIRROR_ENV}="${v}" must be an http(s):// or file:// URL without spaces`,
      `e.g. ${MIRROR_ENV}=http://127.0.0.1:3142/ubuntu for an apt proxy, or unset it`,
    );
  return v;
}

/** The mmdebstrap/apt words for "the archive could not be reached". */
export function archiveUnreachable(stderr: string): boolean {
  return /Failed to fetch|Temporary failure resolving|Could not resolve|Could not connect|Connection refused|Connection timed out|Network is unreachable|No route to host|Unable to connect|does not have a Release file|The repository .* is not signed/i.test(
    stderr,
  );
}
