/**
 * The ssh transport: ONE ssh2 connection per host for the whole run; every exec, put and get
 * is a session channel on it, at most MAX_CHANNELS at a time (OpenSSH's MaxSessions is 10,
 * and opens beyond it fail), each always closed. Host keys are pinned or trusted on first use
 * (known-hosts.ts) and checked before any command is sent. No pty, ever: a pty merges stderr
 * into stdout and makes sudo or apt prompt.
 */
import { readFile, stat } from 'node:fs/promises';
import { constants } from 'node:os';
import ssh2, { type ClientChannel, type ConnectConfig, type Client as SshClient } from 'ssh2';
import { UserError } from '../errors.js';
import type { Dialled } from './dial.js';
import {
  decideHostKey,
  fingerprint,
  keysFor,
  parseKnownHosts,
  parsePublicKeyLine,
  preferredHostKeyAlgorithms,
  readKnownHosts,
  replaceHostKeys,
  writeKnownHosts,
  type HostKey,
} from './known-hosts.js';
import { collector, sendInput, ShellTransport, type RawOptions, type RawResult } from './sudo.js';

// ssh2 is CommonJS: Node's ESM loader cannot see its named exports, only the default.
const { Client, utils } = ssh2;

export interface SshTarget {
  host: string;
  port: number;
  user: string;
  /** Private key file; without it the ssh-agent at SSH_AUTH_SOCK is used. */
  keyPath?: string;
}

export interface HostKeyPolicy {
  /** A known-hosts file the tool owns (NOT ~/.ssh/known_hosts). */
  knownHostsPath: string;
  /** Expected keys as OpenSSH lines ('ssh-ed25519 AAAA…'); when given, TOFU is not used. */
  pinned?: string[];
}

export interface SshOptions {
  /** Whole handshake budget (TCP connect + key exchange + auth); default 20 s. */
  readyTimeoutMs?: number;
  log?: (line: string) => void;
  /** A connection to the target opened beforehand (see dial.ts); a failed one is not used. */
  dialled?: Dialled;
  /** Told once the handshake has started (it is mostly waiting for the server), with the transport's name. */
  connecting?: (name: string) => void;
}

const MAX_CHANNELS = 4;
/** Larger than any ssh private key (an RSA 16384-bit key is about 12 kB). */
const MAX_KEY_BYTES = 64 * 1024;
const KEEPALIVE_MS = 15_000;

/** Counting semaphore: callers queue for one of `n` slots. */
class Slots {
  private waiting: (() => void)[] = [];
  constructor(private free: number) {}
  async acquire(): Promise<void> {
    if (this.free > 0) this.free--;
    else await new Promise<void>((r) => this.waiting.push(r));
  }
  release(): void {
    const next = this.waiting.shift();
    if (next)
      next(); // hand the slot over directly
    else this.free++;
  }
}

/**
 * Refuses key files OpenSSH would refuse (missing, readable by others, encrypted without a
 * passphrase) with a UserError that says what to do. Returns the key bytes.
 */
export async function loadPrivateKey(keyPath: string): Promise<Buffer> {
  let st;
  try {
    st = await stat(keyPath);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new UserError(`private key file ${keyPath} cannot be read (${code})`, 'check the --key path');
  }
  const hint = 'give the private half of an ssh key pair, e.g. --key ~/.ssh/id_ed25519';
  if (!st.isFile() || st.size > MAX_KEY_BYTES)
    throw new UserError(
      `${keyPath} is ${st.isFile() ? `${st.size} bytes` : 'not a regular file'}: not an ssh private key`,
      hint,
    );
  const data = await readFile(keyPath);
  const parsed = utils.parseKey(data);
  const encrypted = parsed instanceof Error && /passphrase/i.test(parsed.message);
  // Only a file that really is a private key gets a chmod hint (never /etc/shadow, say).
  if (parsed instanceof Error && !encrypted)
    throw new UserError(`private key file ${keyPath} is not a usable private key: ${parsed.message}`, hint);
  if (!(parsed instanceof Error) && !parsed.isPrivateKey())
    throw new UserError(`${keyPath} is a public key, not a private key`, hint);
  if ((st.mode & 0o077) !== 0) {
    throw new UserError(
      `private key file ${keyPath} is accessible by others (mode ${(st.mode & 0o777).toString(8)}); refusing to use it, as OpenSSH does`,
      `chmod 600 ${keyPath}`,
    );
  }
  if (encrypted) {
    throw new UserError(
      `private key file ${keyPath} is encrypted with a passphrase`,
      `load it into ssh-agent (ssh-add ${keyPath}) and connect without --key, or use an unencrypted lab key`,
    );
  }
  return data;
}

/** Maps an ssh2/socket connection error to a UserError with a hint: these are fixable by the user. */
export function describeConnectError(
  err: Error & { code?: string; level?: string },
  t: SshTarget,
  agent: boolean,
): UserError {
  const where = `${t.host}:${t.port}`;
  const code = err.code ?? '';
  if (code === 'ECONNREFUSED') {
    return new UserError(`connection refused by ${where}`, `is sshd running there and listening on port ${t.port}?`);
  }
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') {
    return new UserError(`cannot resolve host name ${t.host} (${code})`, 'check the host name, or use an IP address');
  }
  if (['ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH'].includes(code) || err.level === 'client-timeout') {
    return new UserError(
      `cannot reach ${where}: ${err.message}`,
      'check the address, that the host is up, and that a firewall allows the ssh port',
    );
  }
  if (err.level === 'client-authentication') {
    return new UserError(
      `authentication as ${t.user} on ${where} failed: the server did not accept ${agent ? 'any key offered by ssh-agent' : `the key ${t.keyPath}`}`,
      `check the user name and that the public key is in ~${t.user}/.ssh/authorized_keys on the host`,
    );
  }
  if (err.message === 'Connection lost before handshake')
    return new LostBeforeHandshake(`ssh connection to ${where} failed: ${err.message}`);
  return new UserError(`ssh connection to ${where} failed: ${err.message}`);
}

/**
 * The connection closed before the ssh handshake began: what took it has no sshd behind it
 * yet (a sandbox's port forward while its sshd is still starting, say).
 */
export class LostBeforeHandshake extends UserError {}

/** An ssh transport's name, for messages: `user@host:port`. */
const sshName = (t: SshTarget): string => `${t.user}@${t.host}:${t.port}`;

export class SshTransport extends ShellTransport {
  readonly name: string;
  private readonly slots = new Slots(MAX_CHANNELS);
  private readonly open = new Set<() => void>();
  private lost?: string;

  constructor(
    private readonly conn: SshClient,
    target: SshTarget,
  ) {
    super();
    this.name = sshName(target);
    conn.on('close', () => {
      this.lost ??= 'connection closed';
      for (const abort of this.open) abort();
    });
    conn.on('error', (e) => (this.lost = e.message));
  }

  /** Drops the TCP connection without any ssh goodbye. */
  sever(): void {
    (this.conn as unknown as { _sock?: { destroy(): void } })._sock?.destroy();
  }

  /** Who we are is said by the first command (one round trip fewer), see ShellTransport. */
  protected override identifyLazily = true;

  protected async runRaw(wire: string, opts: RawOptions): Promise<RawResult> {
    await this.slots.acquire();
    try {
      return await this.channel(wire, opts);
    } finally {
      this.slots.release();
    }
  }

  private channel(wire: string, opts: RawOptions): Promise<RawResult> {
    const failed = (why: string): RawResult => ({
      code: 255,
      stdout: Buffer.alloc(0),
      stderr: Buffer.from(`ssh: ${why}\n`),
    });
    if (this.lost) return Promise.resolve(failed(`connection to ${this.name} lost: ${this.lost}`));
    return new Promise((resolve) => {
      const out = collector('stdout', opts.onOutput);
      const err = collector('stderr', opts.onOutput);
      let code: number | undefined;
      let timedOut = false;
      let ch: ClientChannel | undefined;
      let timer: NodeJS.Timeout | undefined;
      let done = false;
      const finish = () => {
        if (done) return;
        done = true;
        if (timer) clearTimeout(timer);
        this.open.delete(abort);
        const exit = timedOut ? 124 : (code ?? 255);
        resolve({ code: exit, stdout: out.done(), stderr: err.done() });
      };
      const abort = () => {
        err.push(Buffer.from(`ssh: connection to ${this.name} lost: ${this.lost}\n`));
        code = undefined;
        finish();
      };
      this.open.add(abort);
      try {
        this.conn.exec(wire, (e, channel) => {
          if (e) {
            this.open.delete(abort);
            return resolve(failed(e.message));
          }
          ch = channel;
          channel.on('exit', (c: number | null, signal?: string) => {
            if (c !== null && c !== undefined) code = c;
            else if (signal) code = 128 + (constants.signals[`SIG${signal}` as NodeJS.Signals] ?? 0);
          });
          channel.on('data', (b: Buffer) => out.push(b));
          channel.stderr.on('data', (b: Buffer) => err.push(b));
          channel.on('close', finish);
          if (opts.timeoutMs !== undefined) {
            timer = setTimeout(() => {
              // The host's `timeout` (see wireCommand) kills the command; here we only stop waiting.
              timedOut = true;
              ch?.close();
              // Do not wait for the server to confirm: a stuck command may never exit.
              finish();
            }, opts.timeoutMs);
          }
          sendInput(channel, opts.input);
        });
      } catch (e) {
        this.open.delete(abort);
        resolve(failed((e as Error).message));
      }
    });
  }

  /**
   * Says goodbye and returns once the goodbye has left this process: the server's own
   * clean-up of the session (PAM, logind) is not waited for, and the socket no longer keeps
   * the process alive. Every command has ended by now (the run lock's holder included).
   */
  async close(): Promise<void> {
    if (this.lost) return;
    const sock = (this.conn as unknown as { _sock?: import('node:net').Socket })._sock;
    await new Promise<void>((resolve) => {
      this.conn.once('close', () => resolve());
      sock?.once('finish', () => {
        sock.unref();
        resolve();
      });
      this.conn.end();
    });
  }
}

/**
 * Opens the one ssh connection to `target`, verifying its host key per `policy` before any
 * command is sent. `id -u` and password-less sudo are detected with the first command.
 * Every failure a user can fix (refused, unreachable, DNS, auth, key file, changed host key)
 * is a UserError with a hint.
 */
export async function connectSsh(
  target: SshTarget,
  policy: HostKeyPolicy,
  opts: SshOptions = {},
): Promise<SshTransport & { readonly user: string; readonly isRoot: boolean; readonly canSudo: boolean }> {
  const log = opts.log ?? (() => {});
  // A connection opened beforehand and not used (the key is refused, say) is closed here.
  const inputs = async () => {
    const auth: Partial<ConnectConfig> = {};
    if (target.keyPath) auth.privateKey = await loadPrivateKey(target.keyPath);
    else if (process.env.SSH_AUTH_SOCK) auth.agent = process.env.SSH_AUTH_SOCK;
    else throw new UserError('no ssh key given and no ssh-agent running (SSH_AUTH_SOCK is unset)', 'pass --key <file>');
    return { auth, text: await readKnownHosts(policy.knownHostsPath) };
  };
  const { auth, text } = await inputs().catch((e: unknown) => {
    opts.dialled?.sock.destroy();
    throw e;
  });
  const pinned: HostKey[] | undefined = policy.pinned?.map(parsePublicKeyLine);
  const known = parseKnownHosts(text);
  const preferTypes = (pinned ?? keysFor(known, target.host, target.port)).map((k) => k.type);

  let rejection: UserError | undefined;
  let toRecord: HostKey[] | undefined;
  const conn = new Client();
  const started = performance.now();
  await new Promise<void>((resolve, reject) => {
    conn.once('ready', () => resolve());
    // `on`, not `once`: ssh2 can emit a second error (e.g. "connection lost") after a
    // rejected host key, which would otherwise be an uncaught exception.
    conn.on('error', (e) => {
      reject(rejection ?? describeConnectError(e, target, !target.keyPath));
      conn.end();
    });
    const early = opts.dialled && !opts.dialled.failed() ? { sock: opts.dialled.sock.ref() } : {};
    if (opts.dialled && !('sock' in early)) opts.dialled.sock.destroy();
    conn.connect({
      ...early,
      host: target.host,
      port: target.port,
      username: target.user,
      ...auth,
      readyTimeout: opts.readyTimeoutMs ?? 20_000,
      keepaliveInterval: KEEPALIVE_MS,
      keepaliveCountMax: 4,
      algorithms: { serverHostKey: preferredHostKeyAlgorithms(preferTypes) as never },
      hostVerifier: (key: Buffer) => {
        const { host, port } = target;
        const d = decideHostKey({ host, port, presented: key, known, knownHostsPath: policy.knownHostsPath, pinned });
        if (d.action === 'reject') rejection = d.error;
        if (d.action === 'record') toRecord = d.keys;
        if (d.action !== 'reject') log(`host key ${fingerprint(key)} (${d.action})`);
        return d.action !== 'reject';
      },
    });
    opts.connecting?.(sshName(target));
  });
  if (toRecord) {
    // Re-read: another connection of this run may have recorded its host meanwhile.
    const latest = await readKnownHosts(policy.knownHostsPath);
    await writeKnownHosts(policy.knownHostsPath, replaceHostKeys(latest, target.host, target.port, toRecord));
  }
  log(`connected to ${target.user}@${target.host}:${target.port} in ${Math.round(performance.now() - started)} ms`);
  try {
    conn.setNoDelay(true); // small request/response packets: no Nagle wait on each round trip
    return new SshTransport(conn, target);
  } catch (e) {
    conn.end();
    throw e;
  }
}
