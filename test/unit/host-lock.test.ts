import { afterAll, describe, expect, it } from 'vitest';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { acquireHostLock, holderScript, lockOnFirstUse, unwritableError } from '../../src/runner/host-lock.js';
import { connectLocal } from '../../src/transports/local.js';
import { countRoundTrips } from '../../src/runner/count.js';
import { RunAborted, UserError } from '../../src/errors.js';
import type { Transport } from '../../src/transports/transport.js';

/**
 * The host run lock on this machine (local transport, a scratch directory instead of
 * /var/lib/ebpf-lab). A "run" that holds it is a holder script whose stdout is a pipe to
 * this test: pausing the reader is a paused run, destroying the pipe is a dead one.
 */
const scratch = mkdtempSync(join(tmpdir(), 'ebpf-lab-lock-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

function otherRun(dir: string, owner: string): Promise<ChildProcess> {
  const child = spawn('/bin/sh', ['-c', holderScript(owner, dir)], { stdio: ['ignore', 'pipe', 'inherit'] });
  return new Promise((resolve, reject) => {
    child.stdout!.once('data', (b: Buffer) =>
      b.toString().startsWith('acquired') ? resolve(child) : reject(new Error(b.toString())),
    );
  });
}

const exited = (c: ChildProcess) => new Promise((r) => (c.exitCode !== null ? r(c.exitCode) : c.once('exit', r)));

describe('host run lock', () => {
  it('a paused run keeps its lock however long it is paused; no second run takes it over', async () => {
    const dir = join(scratch, 'paused');
    const other = await otherRun(dir, 'alice@laptop pid 1 (up)');
    other.stdout!.pause(); // the run is stopped: it reads nothing, sends nothing
    const host = await connectLocal();
    const notes: string[] = [];
    const t0 = Date.now();
    await expect(
      acquireHostLock(host, {
        dir,
        waitMs: 3000,
        note: (l) => notes.push(l),
        sleep: (ms) => new Promise((r) => setTimeout(r, ms / 4)),
      }),
    ).rejects.toThrow(/another ebpf-lab run is working on local: alice@laptop pid 1 \(up\)/);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(3000);
    expect(notes.join('\n')).toMatch(/waiting for another ebpf-lab run on local \(alice@laptop pid 1 \(up\)/);
    expect(notes.join('\n')).not.toMatch(/took over/);
    other.kill('SIGTERM'); // its own release
    await exited(other);
    expect(existsSync(join(dir, 'run.owner')), 'the owner removes its owner record on release').toBe(false);
  });

  it('a run whose process is gone loses its lock at once; the next run says whose it was', async () => {
    const dir = join(scratch, 'dead');
    const other = await otherRun(dir, 'bob@ci pid 2 (up)');
    other.stdout!.destroy(); // the run died: nobody reads the holder's output any more
    await exited(other);
    const host = await connectLocal();
    const notes: string[] = [];
    const t0 = Date.now();
    const lock = await acquireHostLock(host, { dir, waitMs: 0, note: (l) => notes.push(l) });
    expect(Date.now() - t0).toBeLessThan(3000);
    expect(notes.join('\n')).toMatch(/took over the run lock of a run that ended without releasing it .*bob@ci pid 2/);
    expect(readFileSync(join(dir, 'run.owner'), 'utf8')).toMatch(new RegExp(`pid ${process.pid}`));
    // While held, another run waits; after release it gets it, with nothing to take over.
    await expect(acquireHostLock(host, { dir, waitMs: 0 })).rejects.toThrow(/another ebpf-lab run/);
    await lock.release();
    expect(existsSync(join(dir, 'run.owner'))).toBe(false);
    const again: string[] = [];
    const lock2 = await acquireHostLock(host, { dir, waitMs: 0, note: (l) => again.push(l) });
    expect(again).toEqual([]);
    await lock2.release();
  });

  it('only the owner releases: a second release of the same lock or a stranger cannot free it', async () => {
    const dir = join(scratch, 'owner');
    const host = await connectLocal();
    const lock = await acquireHostLock(host, { dir, waitMs: 0 });
    // A stranger removing the owner record does not free the lock: the kernel holds it.
    rmSync(join(dir, 'run.owner'), { force: true });
    await expect(acquireHostLock(host, { dir, waitMs: 0 })).rejects.toThrow(/another ebpf-lab run/);
    await lock.release();
    await lock.release();
    const next = await acquireHostLock(host, { dir, waitMs: 0 });
    await next.release();
  });

  it("release is a line on the holder's own input: no second command, and the lock is free at once", async () => {
    const dir = join(scratch, 'release-line');
    const local = await connectLocal();
    const { host, count } = countRoundTrips(local);
    const lock = await acquireHostLock(host, { dir, waitMs: 0 });
    expect(count()).toBe(1);
    const t0 = Date.now();
    await lock.release();
    expect(Date.now() - t0).toBeLessThan(2500);
    expect(count()).toBe(1); // no `kill`: the holder read its release line and ended
    expect(existsSync(join(dir, 'run.owner'))).toBe(false);
    const next = await acquireHostLock(local, { dir, waitMs: 0 });
    await next.release();
  });

  it('a holder caught between its lock and its owner record is named on the next attempt', async () => {
    const dir = join(scratch, 'unnamed');
    mkdirSync(dir, { recursive: true });
    // Holds the kernel lock with no owner record yet, then records its owner a moment later.
    const child = spawn(
      '/bin/sh',
      [
        '-c',
        `exec 9<'${dir}'; flock 9; echo locked; sleep 0.3; echo 'dave@ci pid 4 (up)' > '${dir}/run.owner'; exec sleep 30`,
      ],
      {
        stdio: ['ignore', 'pipe', 'inherit'],
      },
    );
    await new Promise((r) => child.stdout!.once('data', r));
    try {
      const notes: string[] = [];
      const host = await connectLocal();
      await expect(
        acquireHostLock(host, {
          dir,
          waitMs: 1500,
          note: (l) => notes.push(l),
          sleep: (ms) => new Promise((r) => setTimeout(r, ms / 4)),
        }),
      ).rejects.toThrow(/dave@ci pid 4/);
      expect(notes).toEqual([`waiting for another ebpf-lab run on local (dave@ci pid 4 (up))`]);
    } finally {
      child.kill('SIGTERM');
      await exited(child);
    }
  });

  it('an input that ends without the release line releases nothing', async () => {
    const dir = join(scratch, 'eof');
    const child = spawn('/bin/sh', ['-c', holderScript('carol@ci pid 3 (up)', dir)], {
      stdio: ['pipe', 'pipe', 'inherit'],
    });
    await new Promise((r) => child.stdout!.once('data', r));
    child.stdin!.end('something else\n');
    await new Promise((r) => setTimeout(r, 1500));
    expect(child.exitCode).toBe(null);
    const host = await connectLocal();
    await expect(acquireHostLock(host, { dir, waitMs: 0 })).rejects.toThrow(/another ebpf-lab run .*carol@ci/);
    child.kill('SIGTERM');
    await exited(child);
  });

  it("the run's first command runs under the lock in the holder's round trip, and inherits no lock", async () => {
    const dir = join(scratch, 'first');
    const host = await connectLocal();
    const pidFile = join(scratch, 'first-bg.pid');
    const lock = await acquireHostLock(host, {
      dir,
      waitMs: 0,
      first: {
        // What it starts in the background must not keep the lock after the run.
        cmd: {
          script: `sleep 30 >/dev/null 2>&1 & echo $! > ${pidFile}; printf 'out\\n%s' "$V"; echo err >&2; exit 4`,
        },
        env: { V: 'no newline' },
      },
    });
    expect(lock.first).toMatchObject({ exitCode: 4, stdout: 'out\nno newline', stderr: 'err\n' });
    expect(readFileSync(join(dir, 'run.owner'), 'utf8')).toMatch(new RegExp(`pid ${process.pid}`));
    await expect(acquireHostLock(host, { dir, waitMs: 0 })).rejects.toThrow(/another ebpf-lab run/);
    await lock.release();
    try {
      const next = await acquireHostLock(host, { dir, waitMs: 0 });
      await next.release();
    } finally {
      process.kill(Number(readFileSync(pidFile, 'utf8')), 'SIGTERM');
    }
  });

  it("the first command's stderr may reach the run before the holder's first line", async () => {
    // sshd reads a command's stdout and stderr separately: either may be passed on first.
    const host: Transport = {
      name: 'reordered',
      exec: (c, o = {}) =>
        new Promise((resolve) => {
          const mark = /(@@first-[0-9a-f]{12})/.exec((c as { script: string }).script)![1]!;
          setTimeout(() => {
            o.onOutput!(`warning\n${mark}\n`, 'stderr');
            o.onOutput!(`acquired\t42\t\nout\n${mark} 0\n`, 'stdout');
          });
          (o.input as NodeJS.ReadableStream).on('data', () =>
            resolve({ command: 'holder', exitCode: 0, stdout: '', stderr: '', durationMs: 0 }),
          );
        }),
      put: async () => {},
      get: async () => Buffer.alloc(0),
      close: async () => {},
    };
    const lock = await acquireHostLock(host, { waitMs: 0, first: { cmd: ['x'] } });
    expect(lock.first).toMatchObject({ exitCode: 0, stdout: 'out', stderr: 'warning\n' });
    await lock.release();
  });

  it("lockOnFirstUse: the first command as root is the holder's; the rest run as before", async () => {
    const dir = join(scratch, 'first-use');
    const local = await connectLocal();
    const { host: counted, count } = countRoundTrips(local);
    const locked = lockOnFirstUse(counted, { dir, waitMs: 0 });
    const r = await locked.host.exec({ script: 'cat ' + join(dir, 'run.owner') }, { sudo: true });
    expect(r.stdout).toMatch(new RegExp(`pid ${process.pid}`)); // it ran under the lock
    expect(count()).toBe(1);
    await expect(locked.host.exec(['false'], { sudo: true })).rejects.toThrow(/exit 1|false/);
    expect(count()).toBe(2);
    await locked.release();
    expect(existsSync(join(dir, 'run.owner'))).toBe(false);
    // A first use that cannot go to the holder (input): the lock first, then the command.
    const other = lockOnFirstUse(counted, { dir, waitMs: 0 });
    expect((await other.host.exec(['cat'], { sudo: true, input: 'x' })).stdout).toBe('x');
    expect(count()).toBe(4);
    // Held: the first command waits with the lock, and does not run.
    const third = lockOnFirstUse(counted, { dir, waitMs: 0 });
    const m = join(scratch, 'first-use-ran');
    // (as RunAborted: the runner stops and the command reports the reason, a UserError)
    const held = await third.host.exec(['touch', m], { sudo: true }).catch((e: unknown) => e);
    expect(held).toBeInstanceOf(RunAborted);
    expect((held as RunAborted).reason).toBeInstanceOf(UserError);
    expect((held as RunAborted).message).toMatch(/another ebpf-lab run/);
    expect(existsSync(m)).toBe(false);
    await third.release();
    await other.release();
  });

  it('an unwritable lock directory is a clear error naming the mount and the free bytes', () => {
    const e = unwritableError('root@lab:22', { mount: '/var', free: 0, error: 'No space left on device' });
    expect(e.message).toBe(
      'no space left on root@lab:22:/var, 0 bytes free (ebpf-lab cannot record its run lock in /var/lib/ebpf-lab); nothing was changed',
    );
    expect(e.hint).toMatch(/free space on \/var/);
    expect(unwritableError('h', { mount: '/', free: 5000, error: 'Read-only file system' }).message).toMatch(
      /cannot write .*run\.owner on h \(Read-only file system\)/,
    );
  });
});
