/**
 * Local process helpers for the sandbox target: run a command (argv only, never a shell
 * string), start a detached daemon, inspect /proc, wait for sshd's banner.
 */
import { spawn } from 'node:child_process';
import { accessSync, constants, openSync, closeSync } from 'node:fs';
import { readFile, readlink, readdir, open } from 'node:fs/promises';
import net from 'node:net';
import { CommandError } from '../errors.js';
import type { CommandResult } from '../transports/transport.js';
import { quoteArgv } from '../transports/quote.js';

export interface RunOptions {
  cwd?: string;
  env?: Record<string, string>;
  /** Return a failed result instead of throwing CommandError. */
  nothrow?: boolean;
  timeoutMs?: number;
}

/** Keep only the end of long outputs: the tail is what explains a failure. */
const MAX_OUTPUT = 256 * 1024;

/**
 * util-linux setpriv, when present: a child started through it is SIGKILLed by the kernel
 * when this process dies (PR_SET_PDEATHSIG), so a killed ebpf-lab leaves no `cp` still
 * writing into a sandbox directory the next run must remove.
 */
let setpriv: string | undefined | null = null;
export function dieWithUs(argv: readonly string[]): string[] {
  if (setpriv === null)
    setpriv = ['/usr/bin/setpriv', '/bin/setpriv'].find((p) => {
      try {
        accessSync(p, constants.X_OK);
        return true;
      } catch {
        return false;
      }
    });
  return setpriv ? [setpriv, '--pdeathsig', 'KILL', '--', ...argv] : [...argv];
}

/** Run argv[0] with argv[1..] as a child of this process (dying with it) and collect its output. */
export function run(argv: readonly string[], opts: RunOptions = {}): Promise<CommandResult> {
  if (argv[0] === undefined) throw new Error('run: empty argv');
  const [cmd, ...args] = dieWithUs(argv) as [string, ...string[]];
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, {
      cwd: opts.cwd,
      env: { ...process.env, ...opts.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (c: string) => (stdout = (stdout + c).slice(-MAX_OUTPUT)));
    child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr = (stderr + c).slice(-MAX_OUTPUT)));
    const timer = opts.timeoutMs ? setTimeout(() => child.kill('SIGTERM'), opts.timeoutMs) : undefined;
    const finish = (exitCode: number, extra = '') => {
      if (timer) clearTimeout(timer);
      const result: CommandResult = {
        command: quoteArgv(argv),
        exitCode,
        stdout,
        stderr: stderr + extra,
        durationMs: Date.now() - started,
      };
      if (exitCode !== 0 && !opts.nothrow) reject(new CommandError(result, 'localhost'));
      else resolve(result);
    };
    child.on('error', (e) => finish(127, String(e.message)));
    child.on('close', (code, signal) => finish(code ?? (signal ? 128 + signalNumber(signal) : 1)));
  });
}

function signalNumber(sig: NodeJS.Signals): number {
  return ({ SIGKILL: 9, SIGTERM: 15, SIGINT: 2 } as Record<string, number>)[sig] ?? 1;
}

/**
 * Start a daemon in its own session (it survives this process), stdin /dev/null,
 * stdout+stderr appended to `logFile`. Returns its pid.
 */
export function spawnDetached(argv: readonly string[], logFile: string, env?: Record<string, string>): number {
  const [cmd, ...args] = argv;
  if (cmd === undefined) throw new Error('spawnDetached: empty argv');
  const fd = openSync(logFile, 'a', 0o600);
  try {
    const child = spawn(cmd, args, { detached: true, stdio: ['ignore', fd, fd], env: { ...process.env, ...env } });
    if (child.pid === undefined) throw new Error(`cannot start ${cmd} (is it installed?)`);
    // Keep a no-op error listener: an exec failure is reported through the pid check.
    child.on('error', () => {});
    child.unref();
    return child.pid;
  } finally {
    closeSync(fd);
  }
}

/** True when the pid exists and is not a zombie. */
export async function pidAlive(pid: number | undefined): Promise<boolean> {
  if (!pid || pid <= 0) return false;
  try {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
    // Field 3 (after the parenthesised comm, which may contain spaces) is the state.
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    return state !== 'Z' && state !== 'X';
  } catch {
    return false;
  }
}

/** The pid's argv, or undefined when it is gone. */
export async function procCmdline(pid: number): Promise<string[] | undefined> {
  try {
    const raw = await readFile(`/proc/${pid}/cmdline`, 'utf8');
    const args = raw.split('\0');
    if (args.at(-1) === '') args.pop();
    return args;
  } catch {
    return undefined;
  }
}

/** Parent pid from /proc/<pid>/stat. */
async function parentPid(pid: number): Promise<number | undefined> {
  try {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return Number(fields[1]);
  } catch {
    return undefined;
  }
}

/**
 * The container's PID 1 as seen from the host: a child of nspawn whose comm is
 * `systemd` and whose network namespace is not ours. nspawn's short-lived
 * intermediate child also has nspawn as parent, hence the two extra checks
 * (facts/testhost.md, correction #1).
 */
export async function findContainerLeader(nspawnPid: number): Promise<number | undefined> {
  const hostNet = await readlink('/proc/self/ns/net');
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const pid = Number(entry);
    if ((await parentPid(pid)) !== nspawnPid) continue;
    try {
      const comm = (await readFile(`/proc/${pid}/comm`, 'utf8')).trim();
      const netns = await readlink(`/proc/${pid}/ns/net`);
      if (comm === 'systemd' && netns !== hostNet) return pid;
    } catch {
      // exited while we looked
    }
  }
  return undefined;
}

/** A TCP port on 127.0.0.1 that was free a moment ago. */
export function freeLoopbackPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      srv.close(() => (typeof addr === 'object' && addr ? resolve(addr.port) : reject(new Error('no port'))));
    });
  });
}

/** Whether something accepts connections on 127.0.0.1:port. */
export function portInUse(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.once('error', () => resolve(true));
    srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(false)));
  });
}

/** Connect once and resolve true if the peer sends an `SSH-2.0` banner within timeoutMs. */
export function sshBanner(port: number, timeoutMs = 1500): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = net.connect({ host: '127.0.0.1', port });
    let buf = '';
    const done = (ok: boolean) => {
      sock.destroy();
      resolve(ok);
    };
    sock.setTimeout(timeoutMs, () => done(false));
    sock.on('data', (d) => {
      buf += d.toString('latin1');
      if (buf.includes('SSH-2.0')) done(true);
    });
    sock.on('error', () => done(false));
    sock.on('close', () => done(buf.includes('SSH-2.0')));
  });
}

/** Last `lines` lines of a (possibly large) text file, '' when missing. */
export async function tailFile(path: string, lines = 30): Promise<string> {
  try {
    const fh = await open(path, 'r');
    try {
      const { size } = await fh.stat();
      const len = Math.min(size, 64 * 1024);
      const buf = Buffer.alloc(len);
      await fh.read(buf, 0, len, size - len);
      return buf.toString('utf8').split('\n').slice(-lines).join('\n');
    } finally {
      await fh.close();
    }
  } catch {
    return '';
  }
}

/** Mount points at or below `dir` in our mount namespace (never rm -rf through them). */
export async function mountsUnder(dir: string): Promise<string[]> {
  const info = await readFile('/proc/self/mountinfo', 'utf8');
  const prefix = dir.endsWith('/') ? dir : dir + '/';
  return info
    .split('\n')
    .map((l) => l.split(' ')[4])
    .filter((m): m is string => m !== undefined)
    .map((m) => m.replace(/\\040/g, ' '))
    .filter((m) => m === dir || m.startsWith(prefix));
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
