/**
 * Checks of files and directories the user names (--key, --config, EBPF_LAB_HOME), done
 * before anything is read in full or written: each bad one is a UserError (exit 2) naming
 * the path and the fix. A FIFO or a device is never opened (reading one hangs or never
 * ends), a file is read only up to a size limit, and a hint suggests chmod only for a file
 * that really is a private key.
 */
import { constants } from 'node:fs';
import { access, open, stat } from 'node:fs/promises';
import { UserError } from './errors.js';
import { knownHostsPath, labHome } from './state.js';

/** An OpenSSH/PEM private key is a few kB (an RSA 16384-bit key is about 12 kB). */
export const MAX_KEY_BYTES = 64 * 1024;
/** A --config file holds a handful of keys. */
export const MAX_CONFIG_BYTES = 1024 * 1024;

const KINDS: [(s: import('node:fs').Stats) => boolean, string][] = [
  [(s) => s.isDirectory(), 'a directory'],
  [(s) => s.isFIFO(), 'a FIFO (named pipe)'],
  [(s) => s.isCharacterDevice(), 'a character device'],
  [(s) => s.isBlockDevice(), 'a block device'],
  [(s) => s.isSocket(), 'a socket'],
];

/** What a non-regular file is ("a directory", "a FIFO (named pipe)"…), or undefined for a regular file. */
export function kindOf(s: import('node:fs').Stats): string | undefined {
  if (s.isFile()) return undefined;
  return KINDS.find(([is]) => is(s))?.[1] ?? 'not a regular file';
}

/**
 * Reads a user-named input file: it must exist, be a regular file (after symlinks) and be at
 * most `max` bytes. `flag` ('--key', '--config') and `example` go into the messages.
 */
export async function readInputFile(flag: string, path: string, max: number, example: string): Promise<Buffer> {
  if (path === '') throw new UserError(`${flag} is empty`, `give a file, e.g. ${flag} ${example}`);
  let s;
  try {
    s = await stat(path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new UserError(`${flag} ${path} cannot be read (${code})`, `check the ${flag} path, e.g. ${flag} ${example}`);
  }
  const kind = kindOf(s);
  if (kind)
    throw new UserError(`${flag} ${path} is ${kind}, not a regular file`, `give a file, e.g. ${flag} ${example}`);
  if (s.size > max)
    throw new UserError(
      `${flag} ${path} is ${s.size} bytes, more than the ${max} a ${flag === '--key' ? 'private key' : 'config file'} can be`,
      `give the right file, e.g. ${flag} ${example}`,
    );
  // Opened without following a swap to a FIFO since the stat, and read no further than max.
  const fh = await open(path, constants.O_RDONLY | constants.O_NONBLOCK).catch((e: NodeJS.ErrnoException) => {
    throw new UserError(`${flag} ${path} cannot be read (${e.code})`, `check the ${flag} path`);
  });
  try {
    if (kindOf(await fh.stat())) throw new UserError(`${flag} ${path} changed while it was read`, 'run again');
    const buf = Buffer.alloc(max + 1);
    const { bytesRead } = await fh.read(buf, 0, max + 1, 0);
    if (bytesRead > max) throw new UserError(`${flag} ${path} is more than ${max} bytes`, `give the right file`);
    return buf.subarray(0, bytesRead);
  } finally {
    await fh.close();
  }
}

const PRIVATE_KEY_HEADER = /^-----BEGIN ((OPENSSH|RSA|EC|DSA|ENCRYPTED) )?PRIVATE KEY-----$/m;

/**
 * `--key FILE`: a regular file of private-key size that holds an ssh private key. Only once
 * it is one may a message suggest `chmod 600` for it (that check is the transport's).
 */
export async function checkKeyFile(path: string): Promise<void> {
  const example = '~/.ssh/id_ed25519';
  const data = await readInputFile('--key', path, MAX_KEY_BYTES, example);
  // Loaded here only: the ssh library is the CLI's largest, and most runs give no --key.
  const { default: ssh2 } = await import('ssh2');
  const parsed = ssh2.utils.parseKey(data);
  const encrypted = parsed instanceof Error && /passphrase/i.test(parsed.message);
  const isKey = !(parsed instanceof Error) || encrypted || PRIVATE_KEY_HEADER.test(data.toString('latin1'));
  if (!isKey || (!encrypted && !(parsed instanceof Error) && !parsed.isPrivateKey()))
    throw new UserError(
      `--key ${path} is not an ssh private key`,
      `give the private half of the key pair (not the .pub file), e.g. --key ${example}`,
    );
}

/** `--config FILE`: a regular file of config size (its content is checked where it is parsed). */
export async function checkConfigFile(path: string): Promise<void> {
  await readInputFile('--config', path, MAX_CONFIG_BYTES, 'workshop.yaml');
}

/**
 * EBPF_LAB_HOME (default ~/.ebpf-lab): set means not empty; when it exists, a directory this
 * user can write; its known_hosts, when there, a regular file.
 */
export async function checkLabHome(): Promise<void> {
  const raw = process.env['EBPF_LAB_HOME'];
  if (raw !== undefined && raw.trim() === '')
    throw new UserError(
      'EBPF_LAB_HOME is set but empty',
      'unset it (ebpf-lab then keeps its state in ~/.ebpf-lab) or set it to a directory, e.g. EBPF_LAB_HOME=~/.ebpf-lab',
    );
  const home = labHome();
  const s = await stat(home).catch(() => undefined);
  if (s) {
    if (!s.isDirectory())
      throw new UserError(
        `EBPF_LAB_HOME ${home} is ${kindOf(s) ?? 'a file'}, not a directory`,
        `point EBPF_LAB_HOME at a directory (or move ${home} away)`,
      );
    try {
      await access(home, constants.W_OK | constants.X_OK);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      throw new UserError(
        `EBPF_LAB_HOME ${home} is not writable (${code === 'EROFS' ? 'read-only file system' : code})`,
        `ebpf-lab keeps its labs, keys and known hosts there: point EBPF_LAB_HOME at a writable directory`,
      );
    }
  }
  const kh = await stat(knownHostsPath()).catch(() => undefined);
  const khKind = kh && kindOf(kh);
  if (khKind)
    throw new UserError(
      `${knownHostsPath()} is ${khKind}, not a regular file (ebpf-lab keeps the labs' pinned host keys in it)`,
      `move it away (mv ${knownHostsPath()} ${knownHostsPath()}.moved); ebpf-lab writes a new one`,
    );
}
