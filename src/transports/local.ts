/**
 * The local transport: the same command strings as ssh (see sudo.ts), run by /bin/sh on
 * this machine. Each command gets its own process group so a timeout kills the whole tree,
 * not only the shell (a `sleep` child would otherwise keep the pipes open).
 */
import { spawn } from 'node:child_process';
import { constants } from 'node:os';
import { collector, sendInput, ShellTransport, type RawOptions, type RawResult } from './sudo.js';

export class LocalTransport extends ShellTransport {
  readonly name = 'local';

  protected runRaw(wire: string, opts: RawOptions): Promise<RawResult> {
    return new Promise((resolve) => {
      const child = spawn('/bin/sh', ['-c', wire], { stdio: ['pipe', 'pipe', 'pipe'], detached: true });
      const out = collector('stdout', opts.onOutput);
      const err = collector('stderr', opts.onOutput);
      let timedOut = false;
      let spawnError: Error | undefined;
      const timer =
        opts.timeoutMs !== undefined
          ? setTimeout(() => {
              timedOut = true;
              try {
                if (child.pid) process.kill(-child.pid, 'SIGKILL');
              } catch {
                // already gone
              }
            }, opts.timeoutMs)
          : undefined;
      child.stdout.on('data', (b: Buffer) => out.push(b));
      child.stderr.on('data', (b: Buffer) => err.push(b));
      // A command that does not read its stdin closes the pipe early: not our failure.
      child.stdin.on('error', () => {});
      child.on('error', (e) => (spawnError = e));
      child.on('close', (code, signal) => {
        if (timer) clearTimeout(timer);
        const stderr = err.done();
        const extra = spawnError ? Buffer.from(`local: ${spawnError.message}\n`) : Buffer.alloc(0);
        let exit = code ?? (signal ? 128 + (constants.signals[signal] ?? 0) : 255);
        if (timedOut) exit = 124;
        if (spawnError) exit = 255;
        resolve({ code: exit, stdout: out.done(), stderr: Buffer.concat([stderr, extra]) });
      });
      sendInput(child.stdin, opts.input);
    });
  }

  async close(): Promise<void> {
    // Nothing held open between commands.
  }

  /** Detects uid and password-less sudo the same way the ssh transport does. */
  async init(): Promise<this> {
    await this.detectIdentity();
    return this;
  }
}

/**
 * The local transport, ready to use: uid and `sudo -n` ability are detected once.
 * Commands with `{sudo: true}` run through `sudo -n` unless this process is root.
 */
export async function connectLocal(): Promise<
  LocalTransport & { readonly user: string; readonly isRoot: boolean; readonly canSudo: boolean }
> {
  return new LocalTransport().init();
}
