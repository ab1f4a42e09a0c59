/**
 * The archive keyring a sandbox base is verified with: always the distribution's own.
 * Debian's comes with the host's debian-archive-keyring package. Ubuntu's is the host's
 * ubuntu-keyring when present (an Ubuntu host); on a Debian host it is taken from Debian's
 * own `ubuntu-keyring` package, which mmdebstrap fetches from a Debian suite that carries
 * it, verified by the host's Debian keyring: a chain of signatures, never `trusted=yes`.
 */
import { existsSync } from 'node:fs';
import { copyFile, mkdir, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import { UserError } from '../errors.js';
import { run } from './sandbox-proc.js';
import { archiveUnreachable, type SandboxOs } from './sandbox-os.js';

const HOST_KEYRINGS = {
  debian: '/usr/share/keyrings/debian-archive-keyring.gpg',
  ubuntu: '/usr/share/keyrings/ubuntu-archive-keyring.gpg',
} as const;

/** The oldest Debian suite whose `ubuntu-keyring` verifies every Ubuntu release we support. */
const DEBIAN_SUITE_WITH_UBUNTU_KEYRING = 'trixie';

/** Path of the keyring that verifies `os`'s archive; fetched once into the cache if needed. */
export async function archiveKeyring(os: SandboxOs, cacheDir: string, log: (l: string) => void): Promise<string> {
  const onHost = HOST_KEYRINGS[os.distro];
  if (existsSync(onHost)) return onHost;
  if (os.distro === 'debian')
    throw new UserError(
      `the ${os.name} sandbox needs Debian's archive keyring (${onHost} is missing)`,
      'install it: apt-get install debian-archive-keyring',
    );
  const cached = path.join(cacheDir, 'keyrings', 'ubuntu-archive-keyring.gpg');
  if (existsSync(cached)) return cached;
  log(`fetching Ubuntu's archive keyring (Debian's ubuntu-keyring package, verified by ${HOST_KEYRINGS.debian})`);
  if (!existsSync(HOST_KEYRINGS.debian))
    throw new UserError(
      `no archive keyring for ${os.name}: ${onHost} is missing, and so is Debian's keyring to fetch it with`,
      'install the ubuntu-keyring package (Ubuntu hosts) or debian-archive-keyring (Debian hosts)',
    );
  const tmp = `${path.dirname(cached)}/extract.${process.pid}`;
  await rm(tmp, { recursive: true, force: true });
  await mkdir(path.dirname(cached), { recursive: true });
  try {
    // `extract`: only unpack the listed package; nothing runs, nothing else is installed.
    const r = await run(
      [
        'mmdebstrap', // not --quiet: apt's Err:/Failed to fetch lines tell an unreachable archive
        '--variant=extract',
        `--keyring=${HOST_KEYRINGS.debian}`,
        '--include=ubuntu-keyring',
        DEBIAN_SUITE_WITH_UBUNTU_KEYRING,
        tmp,
      ],
      { nothrow: true },
    );
    if (r.exitCode !== 0) {
      if (archiveUnreachable(r.stderr))
        throw new UserError(
          `cannot fetch Ubuntu's archive keyring for the ${os.name} sandbox: Debian's archive is not reachable`,
          `install the ubuntu-keyring package on this host, or copy /usr/share/keyrings/ubuntu-archive-keyring.gpg from an Ubuntu machine to ${cached}`,
        );
      throw new Error(`mmdebstrap could not extract ubuntu-keyring (exit ${r.exitCode}):\n${r.stderr.slice(-2000)}`);
    }
    await copyFile(path.join(tmp, HOST_KEYRINGS.ubuntu.slice(1)), cached + '.tmp');
    await rename(cached + '.tmp', cached);
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
  return cached;
}
