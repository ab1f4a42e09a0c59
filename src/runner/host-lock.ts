import { randomBytes } from 'node:crypto';
import { hostname, userInfo } from 'node:os';
import { PassThrough } from 'node:stream';
import { CommandError, HostError, RunAborted, UserError } from '../errors.js';
import { quote } from '../transports/quote.js';
import { displayCommand, innerCommand } from '../transports/sudo.js';
import { RUN_OWNER, STATE_DIR } from '../lab/layout.js';
import { hostScript } from '../render/script.js';
import type { Command, CommandResult, ExecOptions, Transport } from '../transports/transport.js';

/**
 * One run at a time per host. The lock is a kernel lock (flock) on LOCK_DIR, held by a
 * small holder process on the host that lives exactly as long as this run's connection:
 * it writes a byte every second to the run, and the first write after the run is gone
 * (process killed, connection closed) kills it, and the kernel drops the lock with it. A run
 * that is merely slow or paused (SIGSTOP, a laptop lid) keeps its connection and so its lock:
 * the lock is never taken over on a timer, only when its owner is provably gone. A connection
 * that dies without notice (the network gone, no reset) is gone for the host only when its
 * TCP gives up retransmitting the holder's bytes: about 15 minutes with Linux's default
 * tcp_retries2; until then the lock is held, as it must be for a run that is merely paused. Only the
 * owner releases it, by ending its own holder. OWNER_FILE says who holds it; a run that finds
 * one left behind says whose run ended without releasing.
 */
export const LOCK_DIR = STATE_DIR;
export const OWNER_FILE = RUN_OWNER;
const RETRY_MS = 2000;
/** A holder that has its lock but has not written its owner yet (a moment after flock). */
const NOT_RECORDED = 'a run whose owner is not recorded yet';

export interface HostLock {
  release(): Promise<void>;
  /** The first command's result, when one was given (LockOptions.first). */
  first?: CommandResult;
}

export interface LockOptions {
  waitMs?: number;
  note?: (l: string) => void;
  sleep?: (ms: number) => Promise<void>;
  /** What this run does (`up`, `load`…), shown to a run that waits for it. */
  what?: string;
  /** The locked directory (tests); default LOCK_DIR. */
  dir?: string;
  /** Stops waiting for another run's lock (an interrupted run): the attempt under way still ends first. */
  signal?: AbortSignal;
  /** The run's first command (as root): run by the holder once it holds the lock, in the same round trip. */
  first?: { cmd: Command; env?: Record<string, string> };
}

/**
 * The holder (templates/scripts/run-lock.sh): takes the lock without waiting or says who
 * holds it; records its owner (an unwritable disk is reported with its mount and free bytes,
 * and nothing is left behind); then holds the lock until it is killed (release) or its output
 * goes nowhere (owner gone).
 */
export function holderScript(owner: string, dir = LOCK_DIR, first = '', mark = '@@first'): string {
  return hostScript('run-lock', { DIR: quote(dir), OWNER: quote(owner), FIRST: quote(first), MARK: quote(mark) });
}

type Attempt =
  | {
      kind: 'acquired';
      pid: number;
      prev: string;
      done: Promise<CommandResult>;
      input: PassThrough;
      first?: CommandResult;
    }
  | { kind: 'held'; holder: string }
  | { kind: 'unwritable'; mount: string; free: number; error: string }
  | { kind: 'failed'; result: CommandResult }
  | { kind: 'refused'; error: unknown };

/**
 * Starts a holder and waits for its first line; with a first command, for that command's
 * whole output too (stdout up to its marker line, stderr up to its marker).
 */
function attempt(host: Transport, owner: string, dir?: string, first?: LockOptions['first']): Promise<Attempt> {
  return new Promise((resolve) => {
    let buf = '';
    let err = '';
    let settled = false;
    let got: Extract<Attempt, { kind: 'acquired' }> | undefined;
    const settle = (a: Attempt) => {
      if (!settled) resolve(a);
      settled = true;
    };
    const mark = `@@first-${randomBytes(6).toString('hex')}`;
    const script = first ? innerCommand(first.cmd, first.env) : '';
    const t0 = performance.now();
    // The first command's output, once both of its markers have come.
    const firstDone = () => {
      if (!got || !first) return;
      const end = new RegExp(`\\n${mark} (\\d+)\\n`).exec(buf);
      const errEnd = err.indexOf(`${mark}\n`);
      if (!end || errEnd < 0) return;
      got.first = {
        command: displayCommand(first.cmd),
        exitCode: Number(end[1]),
        stdout: buf.slice(0, end.index),
        stderr: err.slice(0, errEnd),
        durationMs: Math.round(performance.now() - t0),
      };
      settle(got);
    };
    // The holder's input stays open while the run holds the lock: release writes to it.
    const input = new PassThrough();
    const done = host.exec(
      { script: holderScript(owner, dir, script, mark) },
      {
        sudo: true,
        nothrow: true,
        input,
        onOutput: (chunk, stream) => {
          if (settled) return;
          // (stderr is kept from the start: sshd may pass it on before the stdout before it)
          if (stream === 'stderr') {
            err += chunk;
            return firstDone();
          }
          buf += chunk;
          if (got) return firstDone();
          const nl = buf.indexOf('\n');
          if (nl < 0) return;
          const [kind = '', ...f] = buf.slice(0, nl).split('\t');
          if (kind === 'acquired') {
            got = { kind, pid: Number(f[0]), prev: (f[1] ?? '').slice(0, 300), done, input };
            if (!first) return settle(got);
            buf = buf.slice(nl + 1);
            firstDone();
          } else if (kind === 'held') settle({ kind, holder: f[0] || NOT_RECORDED });
          else if (kind === 'unwritable')
            settle({ kind, mount: f[0] ?? '?', free: Number(f[1] ?? NaN), error: f.slice(2).join(' ') });
        },
      },
    );
    done.then(
      (result) => settle({ kind: 'failed', result }),
      (error: unknown) => settle({ kind: 'refused', error }), // e.g. no password-less sudo: the user's to fix
    );
  });
}

/** The message for a lab host whose lock directory cannot be written. */
export function unwritableError(host: string, a: { mount: string; free: number; error: string }): HostError {
  if (/No space left|Disk quota/i.test(a.error) || a.free === 0)
    return new HostError(
      `no space left on ${host}:${a.mount}, ${Number.isFinite(a.free) ? a.free : '?'} bytes free (ebpf-lab cannot record its run lock in ${LOCK_DIR}); nothing was changed`,
      `free space on ${a.mount} of ${host} (e.g. apt-get clean, journalctl --vacuum-size=50M, or remove large files), then run again`,
    );
  return new HostError(
    `cannot write ${OWNER_FILE} on ${host} (${a.error.trim() || 'unknown error'}); nothing was changed`,
    `make ${LOCK_DIR} writable for root on ${host} (is ${a.mount} mounted read-only?), then run again`,
  );
}

export async function acquireHostLock(host: Transport, opts: LockOptions = {}): Promise<HostLock> {
  const owner = `${userInfo().username}@${hostname()} pid ${process.pid}${opts.what ? ` (${opts.what})` : ''} since ${new Date().toISOString()}`;
  const sleep = opts.sleep ?? ((ms: number) => new Promise((r) => setTimeout(r, ms)));
  const deadline = Date.now() + (opts.waitMs ?? 300_000);
  let told = false;
  let unnamed = 0;
  const aborted = new Promise((r) => opts.signal?.addEventListener('abort', r, { once: true }));
  for (;;) {
    const a = await attempt(host, owner, opts.dir, opts.first);
    if (a.kind === 'acquired') {
      if (a.prev)
        opts.note?.(
          `took over the run lock of a run that ended without releasing it (killed or disconnected): ${a.prev}`,
        );
      return holding(host, a);
    }
    if (a.kind === 'unwritable') throw unwritableError(host.name, a);
    if (opts.signal?.aborted) throw new HostError(`stopped waiting for the run lock on ${host.name}`);
    if (a.kind === 'refused') throw a.error;
    if (a.kind === 'failed') {
      const why = (a.result.stderr || a.result.stdout).trim().split('\n').slice(-3).join('; ');
      if (/flock: (command )?not found|flock: not found/.test(why))
        throw new UserError(`${host.name} has no flock command`, 'install util-linux on the host');
      throw new HostError(`cannot take the run lock on ${host.name}: exit ${a.result.exitCode}: ${why}`);
    }
    // A holder that says how long it runs (`load until <time>`) is waited for that long.
    const until = Date.parse(/ until (\S+)/.exec(a.holder)?.[1] ?? '');
    const untilLimit = Number.isFinite(until) ? Math.min(until + 30_000, deadline + 4 * 3600_000) : 0;
    if (Date.now() > Math.max(deadline, untilLimit))
      throw new UserError(
        `another ebpf-lab run is working on ${host.name}: ${a.holder}`,
        "wait for it to finish and run again (a run that was killed or lost its connection releases its lock by itself; a connection cut without notice, such as a network that went away, only when the host gives up on it: about 15 minutes with Linux's default tcp_retries2)",
      );
    // Said once, naming the holder: an owner caught between its lock and its record is named
    // on the next attempt (said anyway then, if it still is not).
    if (!told && (a.holder !== NOT_RECORDED || unnamed++ > 0)) {
      opts.note?.(`waiting for another ebpf-lab run on ${host.name} (${a.holder})`);
      told = true;
    }
    await Promise.race([sleep(RETRY_MS), aborted]);
  }
}

function holding(host: Transport, a: Extract<Attempt, { kind: 'acquired' }>): HostLock {
  let released: Promise<void> | undefined;
  return {
    ...(a.first ? { first: a.first } : {}),
    release() {
      released ??= (async () => {
        // Our own holder, still running (its command has not returned): end it, by the line
        // it waits for on its input (no other command on the host). It removes the owner
        // file itself, and the kernel drops the lock when it exits. A holder that has not
        // ended a moment later is sent SIGTERM, as before.
        const exited = a.done.then(
          () => true,
          () => true,
        );
        const within = (ms: number) =>
          Promise.race([exited, new Promise<false>((r) => setTimeout(() => r(false), ms).unref())]);
        a.input.end('release\n');
        if (await within(3000)) return;
        await host.exec(['kill', '-TERM', String(a.pid)], { sudo: true, nothrow: true }).catch(() => {});
        await within(5000);
      })();
      return released;
    },
  };
}

/** A host whose run lock is taken by the run's first use of it (see {@link lockOnFirstUse}). */
export interface LockedHost {
  host: Transport;
  /** Releases the lock when it was taken (or is being taken); nothing otherwise. */
  release(): Promise<void>;
}

/**
 * `host` with its run lock taken on first use, and the first command run by the lock's holder
 * once it holds the lock: a run's first read of the host (its snapshot, usually) costs no
 * round trip of its own, and it still reads under the lock. Only a command that can run there
 * goes there: as root, with no input, no time limit and no progress output (the holder's own
 * input and output carry its protocol); any other first use takes the lock first, then runs.
 * `onLocked` is told once the lock is held.
 */
export function lockOnFirstUse(host: Transport, opts: LockOptions & { onLocked?: () => void }): LockedHost {
  let lock: Promise<HostLock> | undefined;
  const stop = new AbortController();
  const take = (first?: LockOptions['first']) => {
    lock ??= acquireHostLock(host, { ...opts, signal: stop.signal, ...(first ? { first } : {}) }).then(
      (l) => {
        opts.onLocked?.();
        return l;
      },
      (e: unknown) => {
        throw new RunAborted(e);
      },
    );
    return lock;
  };
  const exec = async (cmd: Command, o: ExecOptions = {}): Promise<CommandResult> => {
    const fits = o.sudo && o.input === undefined && o.timeoutMs === undefined && !o.onOutput;
    if (lock || !fits) {
      await take();
      return host.exec(cmd, o);
    }
    const first = (await take({ cmd, ...(o.env ? { env: o.env } : {}) })).first!;
    if (first.exitCode !== 0 && !o.nothrow) throw new CommandError(first, host.name);
    return first;
  };
  return {
    host: {
      name: host.name,
      exec,
      put: async (path, content, o) => {
        await take();
        return host.put(path, content, o);
      },
      get: async (path) => {
        await take();
        return host.get(path);
      },
      close: () => host.close(),
      ...(host.sever ? { sever: () => host.sever!() } : {}),
    },
    async release() {
      // A run that is still waiting for another run's lock stops waiting: the attempt under
      // way ends, and a lock it got is released.
      stop.abort();
      const l = await lock?.catch(() => undefined);
      await l?.release();
    },
  };
}
