/**
 * What the ssh and local transports share, so both run byte-identical commands: argv
 * quoting, `env K=V` prefixes, `sudo -n` wrapping, the atomic put script, and ShellTransport,
 * which implements exec/put/get on top of one primitive (run a shell string, collect bytes).
 */
import { randomBytes } from 'node:crypto';
import { posix } from 'node:path';
import { Readable } from 'node:stream';
import { StringDecoder } from 'node:string_decoder';
import { CommandError, HostError, UserError } from '../errors.js';
import { quote, quoteArgv } from './quote.js';
import type { Command, CommandResult, ExecOptions, PutOptions, Transport } from './transport.js';

/** Who runs the command on the host, as detected after connecting. */
export interface Identity {
  user: string;
  isRoot: boolean;
  canSudo: boolean;
}

/** The command as shown to people and stored in CommandResult.command. */
export function displayCommand(cmd: Command): string {
  return Array.isArray(cmd) ? quoteArgv(cmd) : cmd.script;
}

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/**
 * The shell text that runs `cmd` with `env`, without privilege handling. A script runs
 * as `sh -c <script>` so it behaves the same whatever the login shell is.
 */
export function innerCommand(cmd: Command, env?: Record<string, string>): string {
  if (Array.isArray(cmd) && cmd.length === 0) throw new Error('empty argv');
  const base = Array.isArray(cmd) ? quoteArgv(cmd) : `sh -c ${quote(cmd.script)}`;
  const pairs = Object.entries(env ?? {});
  if (pairs.length === 0) return base;
  for (const [k] of pairs) if (!ENV_NAME.test(k)) throw new Error(`invalid environment variable name: ${k}`);
  return `env ${pairs.map(([k, v]) => quote(`${k}=${v}`)).join(' ')} ${base}`;
}

/** Wraps an inner command for root: unchanged when already root, else `sudo -n -- sh -c …`. */
export function asRoot(inner: string, isRoot: boolean): string {
  return isRoot ? inner : `sudo -n -- sh -c ${quote(inner)}`;
}

/**
 * The full command sent to the host. `sudo` is only applied for non-root users; the caller
 * checks `canSudo` first so the user gets a clear error rather than sudo's password prompt.
 */
export function wireCommand(
  cmd: Command,
  opts: { sudo?: boolean; env?: Record<string, string>; timeoutMs?: number },
  who: Identity,
): string {
  const inner = timedCommand(cmd, opts);
  return opts.sudo ? asRoot(inner, who.isRoot) : inner;
}

/** `cmd` with its environment and, with `timeoutMs`, the host's `timeout` in front: what root's way wraps. */
function timedCommand(cmd: Command, opts: { env?: Record<string, string>; timeoutMs?: number }): string {
  const inner = innerCommand(cmd, opts.env);
  return opts.timeoutMs === undefined ? inner : `${timeoutPrefix(opts.timeoutMs)} ${inner}`;
}

/**
 * coreutils `timeout` on the host, inside sudo: it signals the command's whole process
 * group with the right privileges. Closing an ssh channel does not stop a command, and
 * sshd ignores "signal" requests for root sessions and cannot signal across sudo.
 * TERM first, KILL 5 s later; exit 124 like the client-side deadline.
 */
export function timeoutPrefix(timeoutMs: number): string {
  if (!(timeoutMs > 0)) throw new Error(`invalid timeout: ${timeoutMs}`);
  return `timeout -k 5 ${(timeoutMs / 1000).toFixed(3)}`;
}

/** Message for a `{sudo: true}` exec by a user who cannot sudo without a password. */
export function noSudoMessage(user: string, host: string, reason?: string): { message: string; hint: string } {
  return {
    message: `user ${user} on ${host} is not root and has no password-less sudo${reason ? ` (${reason})` : ''}`,
    hint:
      `connect as root, or allow ${user} password-less sudo on the host: ` +
      `echo '${user} ALL=(ALL) NOPASSWD:ALL' > /etc/sudoers.d/ebpf-lab && chmod 440 /etc/sudoers.d/ebpf-lab`,
  };
}

/**
 * One shell command that prints uid, user name and whether `sudo -n` works. It leaves the
 * answer in `$u` (uid) and `$s` (root, yes or no) for a command run after it in the same shell
 * (see {@link identifyingWire}).
 */
export const IDENTITY_PROBE =
  'u=$(id -u); printf "uid=%s\\nuser=%s\\n" "$u" "$(id -un)"; ' +
  'if [ "$u" = 0 ]; then s=root; ' +
  'elif ! command -v sudo >/dev/null 2>&1; then s=no; w="sudo is not installed"; ' +
  'elif e=$(sudo -n true 2>&1 </dev/null); then s=yes; ' +
  'else s=no; w=$(printf %s "$e" | head -n1); fi; ' +
  'echo "sudo=$s"; [ "$s" != no ] || printf "why=%s\\n" "$w"';

/**
 * The wire of a connection's first command, which also says who runs it: IDENTITY_PROBE, a
 * marker line, then `inner` (root's way when `sudo`: as it is for root, through `sudo -n` for
 * a sudoer; not at all, exit 0, for a user who has neither). The host decides, so the first
 * command costs no round trip of its own to learn who we are.
 */
export function identifyingWire(inner: string, sudo: boolean | undefined, marker: string): string {
  const run = sudo ? `case $s in root) ${inner} ;; yes) sudo -n -- sh -c ${quote(inner)} ;; esac` : inner;
  return `${IDENTITY_PROBE}; echo ${quote(marker)}\n${run}`;
}

/** Parses IDENTITY_PROBE's output. */
export function parseIdentity(stdout: string): Identity & { why?: string } {
  const kv = new Map<string, string>();
  for (const line of stdout.split('\n')) {
    const i = line.indexOf('=');
    if (i > 0) kv.set(line.slice(0, i), line.slice(i + 1));
  }
  const uid = kv.get('uid');
  if (uid === undefined || !/^\d+$/.test(uid)) throw new Error(`cannot parse identity probe output: ${stdout}`);
  const sudo = kv.get('sudo');
  return {
    user: kv.get('user') ?? uid,
    isRoot: uid === '0',
    canSudo: sudo === 'root' || sudo === 'yes',
    why: kv.get('why'),
  };
}

/**
 * Path of the temp file a put writes next to `path`, in the target's own parent (same
 * filesystem, so rename is atomic): `.<name>.ebpf-lab-tmp.<12 hex>`.
 */
export function tempPathFor(path: string): string {
  return posix.join(posix.dirname(path), `.${posix.basename(path)}.ebpf-lab-tmp.${randomBytes(6).toString('hex')}`);
}

/** Marker on stderr that tells a validation failure apart from other put failures. */
export const VALIDATE_FAILED = 'ebpf-lab-put: validation failed';
/** Marker on stderr: something that is not a regular file (a directory, a FIFO…) is at the path. */
export const NOT_REGULAR = 'ebpf-lab-put: not a regular file:';

/**
 * The single script behind an atomic put. stdin is the content. It creates the parent
 * directory, writes a temp file in the same directory, applies mode/owner (or copies the old
 * file's when not given, so a replaced file keeps them), validates, syncs, then renames.
 * The temp file is removed on every failure path by the EXIT trap.
 */
export function putScript(path: string, opts: PutOptions, tmp = tempPathFor(path), size?: number): string {
  if (!posix.isAbsolute(path)) throw new Error(`put needs an absolute path: ${path}`);
  const p = quote(path);
  const owner = opts.owner ?? '';
  const group = opts.group ?? '';
  if (opts.mode !== undefined && !(Number.isInteger(opts.mode) && opts.mode >= 0 && opts.mode <= 0o7777)) {
    throw new Error(`invalid mode: ${opts.mode}`);
  }
  const lines = [
    'set -e',
    `t=${quote(tmp)}`,
    `trap 'rm -f -- "$t"' EXIT; trap 'exit 129' HUP PIPE TERM INT`,
    `mkdir -p -- ${quote(posix.dirname(path))}`,
    // Never write into (or rename into) a directory, FIFO or device at the path: say so.
    `if [ ! -L ${p} ] && [ -e ${p} ] && [ ! -f ${p} ]; then echo ${quote(NOT_REGULAR)} "$(stat -c %F -- ${p})" >&2; exit 3; fi`,
    `(umask 077; cat > "$t")`,
    // A connection lost mid-upload ends stdin early: never rename a truncated file into place.
    size === undefined
      ? ':'
      : `[ "$(wc -c < "$t")" -eq ${size} ] || { echo 'ebpf-lab-put: incomplete upload' >&2; exit 1; }`,
    opts.mode !== undefined
      ? `chmod ${opts.mode.toString(8)} -- "$t"`
      : `if [ -e ${p} ]; then chmod --reference=${p} -- "$t"; else chmod 644 -- "$t"; fi`,
  ];
  if (owner || group) lines.push(`chown -- ${quote(`${owner}${group ? ':' + group : ''}`)} "$t"`);
  else lines.push(`if [ -e ${p} ]; then chown --reference=${p} -- "$t"; fi`);
  if (opts.validate && opts.validate.length > 0) {
    const v = quoteArgv(opts.validate.map((a) => a.split('{}').join(tmp)));
    lines.push(`${v} || { rc=$?; echo ${quote(VALIDATE_FAILED)} "(exit $rc)" >&2; exit $rc; }`);
  }
  lines.push('sync -- "$t"', `mv -fT -- "$t" ${p}`);
  return lines.join('\n');
}

/** A directory, FIFO, device… where a managed file belongs: where, what, and what to do. */
export function notRegularFile(host: string, path: string, kind: string): HostError {
  return new HostError(
    `${path} on ${host} is a ${kind}, where ebpf-lab manages a regular file; ` +
      `move it out of the way (e.g. mv ${quote(path)} /root/) and run ebpf-lab up again`,
    `move ${path} away, e.g. mv ${quote(path)} /root/, then run ebpf-lab up again`,
  );
}

/** What a transport's primitive returns: exit code (124 timeout, 255 lost/unknown) and bytes. */
export interface RawResult {
  code: number;
  stdout: Buffer;
  stderr: Buffer;
}

export interface RawOptions {
  input?: ExecOptions['input'];
  timeoutMs?: number;
  onOutput?: ExecOptions['onOutput'];
}

/** Writes a command's stdin and ends it (a stream is piped, and ends it when it ends). */
export function sendInput(stdin: NodeJS.WritableStream, input: RawOptions['input']): void {
  if (input instanceof Readable) input.pipe(stdin);
  else stdin.end(input ?? '');
}

/** Collects a stream's chunks and forwards them, decoded across chunk borders, to onOutput. */
export function collector(stream: 'stdout' | 'stderr', onOutput?: ExecOptions['onOutput']) {
  const chunks: Buffer[] = [];
  const dec = new StringDecoder('utf8');
  return {
    push(b: Buffer) {
      chunks.push(b);
      if (onOutput) {
        const s = dec.write(b);
        if (s) onOutput(s, stream);
      }
    },
    done(): Buffer {
      const rest = dec.end();
      if (onOutput && rest) onOutput(rest, stream);
      return Buffer.concat(chunks);
    },
  };
}

/**
 * exec/put/get for any transport that can run a shell string. Subclasses provide `runRaw`
 * (one round trip, never throws for a failed command) and `close`.
 */
export abstract class ShellTransport implements Transport {
  abstract readonly name: string;
  protected who: Identity = { user: '?', isRoot: false, canSudo: false };
  protected sudoWhy?: string;
  /**
   * Who we are is learnt with the first command (see {@link identifyingWire}), not by a
   * command of its own: set by a transport that opens without {@link detectIdentity}.
   * Until that first command has said it, every other command waits for it.
   */
  protected identifyLazily = false;
  private whoKnown = false;
  /** The first command, while it runs (it never rejects: a failure leaves whoKnown false). */
  private first?: Promise<void>;
  private detecting?: Promise<void>;

  get user(): string {
    return this.who.user;
  }
  get isRoot(): boolean {
    return this.who.isRoot;
  }
  get canSudo(): boolean {
    return this.who.canSudo;
  }

  protected abstract runRaw(wire: string, opts: RawOptions): Promise<RawResult>;
  abstract close(): Promise<void>;

  /** Runs IDENTITY_PROBE once and remembers who we are and whether sudo works. */
  protected async detectIdentity(): Promise<void> {
    const r = await this.runRaw(IDENTITY_PROBE, { timeoutMs: 30_000 });
    if (r.code !== 0) {
      throw new CommandError(this.result(IDENTITY_PROBE, r, 0), this.name);
    }
    this.learn(r.stdout.toString('utf8'));
  }

  private learn(probeOut: string): void {
    const { why, ...who } = parseIdentity(probeOut);
    this.who = who;
    this.sudoWhy = why;
    this.whoKnown = true;
  }

  /**
   * Who we are, known before a command is built: said by the first command when it is under
   * way, else learnt now by a command of its own (the first one failed, or nothing ran yet).
   */
  private async known(): Promise<void> {
    if (!this.identifyLazily) return;
    await this.first;
    if (this.whoKnown) return;
    this.detecting ??= this.detectIdentity().finally(() => (this.detecting = undefined));
    await this.detecting;
  }

  async exec(cmd: Command, opts: ExecOptions = {}): Promise<CommandResult> {
    if (this.identifyLazily && !this.whoKnown && !this.first && !this.detecting) return this.execIdentifying(cmd, opts);
    await this.known();
    if (opts.sudo) this.requireRoot();
    const wire = wireCommand(cmd, opts, this.who);
    const start = performance.now();
    return this.ended(cmd, await this.runRaw(wire, opts), start, opts);
  }

  /** A command's result, thrown as a CommandError when it failed (unless nothrow). */
  private ended(cmd: Command, r: RawResult, start: number, opts: ExecOptions): CommandResult {
    const result = this.result(displayCommand(cmd), r, start);
    if (result.exitCode !== 0 && !opts.nothrow) throw new CommandError(result, this.name);
    return result;
  }

  /**
   * The connection's first command, with IDENTITY_PROBE in front (one round trip for both):
   * its output up to the marker line says who we are, the rest is the command's own.
   */
  private async execIdentifying(cmd: Command, opts: ExecOptions): Promise<CommandResult> {
    const marker = `@@identity-${randomBytes(6).toString('hex')}`;
    const inner = timedCommand(cmd, opts);
    const start = performance.now();
    let done!: () => void;
    const mine = new Promise<void>((r) => (done = r));
    this.first = mine;
    // Who we are is known as soon as the marker has passed: the command may run long (the run
    // lock's holder lives as long as the run), and the commands waiting for it go on then.
    const said = () => {
      if (this.first === mine) this.first = undefined;
      done();
    };
    let head = '';
    let past = false;
    const onOutput: ExecOptions['onOutput'] = (chunk, stream) => {
      if (stream === 'stderr' || past) return opts.onOutput?.(chunk, stream);
      head += chunk;
      const at = head.indexOf(`${marker}\n`);
      if (at < 0) return;
      past = true;
      try {
        this.learn(head.slice(0, at));
      } catch {
        // not an identity: said below, once the command has ended
      }
      said();
      const rest = head.slice(at + marker.length + 1);
      if (rest) opts.onOutput?.(rest, stream);
    };
    let r: RawResult;
    try {
      r = await this.runRaw(identifyingWire(inner, opts.sudo, marker), { ...opts, onOutput });
      const at = r.stdout.indexOf(`${marker}\n`);
      if (at < 0) throw new CommandError(this.result(IDENTITY_PROBE, r, 0), this.name);
      if (!this.whoKnown) this.learn(r.stdout.subarray(0, at).toString('utf8'));
      r = { ...r, stdout: r.stdout.subarray(at + Buffer.byteLength(marker) + 1) };
    } finally {
      said();
    }
    if (opts.sudo) this.requireRoot();
    return this.ended(cmd, r, start, opts);
  }

  async put(path: string, content: string | Buffer, opts: PutOptions = {}): Promise<void> {
    await this.known();
    const start = performance.now();
    const tmp = tempPathFor(path);
    const wire = wireCommand(
      { script: putScript(path, opts, tmp, Buffer.byteLength(content)) },
      { sudo: this.canSudo },
      this.who,
    );
    const r = await this.runRaw(wire, { input: content });
    if (r.code === 0) return;
    const kind = new RegExp(`${NOT_REGULAR} (.*)`).exec(r.stderr.toString('utf8'))?.[1];
    if (kind !== undefined) throw notRegularFile(this.name, path, kind.trim());
    const failedValidation = r.stderr.toString('utf8').includes(VALIDATE_FAILED);
    const shown = failedValidation
      ? quoteArgv((opts.validate ?? []).map((a) => a.split('{}').join(tmp)))
      : `put ${quote(path)}`;
    throw new CommandError(this.result(shown, r, start), this.name);
  }

  async get(path: string): Promise<Buffer> {
    await this.known();
    const start = performance.now();
    const r = await this.runRaw(wireCommand(['cat', '--', path], { sudo: this.canSudo }, this.who), {});
    if (r.code !== 0) throw new CommandError(this.result(quoteArgv(['cat', '--', path]), r, start), this.name);
    return r.stdout;
  }

  private requireRoot(): void {
    if (this.who.isRoot || this.who.canSudo) return;
    const { message, hint } = noSudoMessage(this.who.user, this.name, this.sudoWhy);
    throw new UserError(message, hint);
  }

  private result(command: string, r: RawResult, start: number): CommandResult {
    return {
      command,
      exitCode: r.code,
      stdout: r.stdout.toString('utf8'),
      stderr: r.stderr.toString('utf8'),
      durationMs: start === 0 ? 0 : Math.round(performance.now() - start),
    };
  }
}
