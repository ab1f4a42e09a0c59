import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { COMMANDS, allCommands } from '../../src/commands/table.js';

const ROOT = join(__dirname, '..', '..');
const home = mkdtempSync(join(tmpdir(), 'ebpf-lab-sig-'));
let silent: Server;
let port = 0;
const sockets: Socket[] = [];

beforeAll(async () => {
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', join(home, 'key')]);
  silent = createServer((s) => sockets.push(s)); // accepts and never speaks: the command waits
  await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
  port = (silent.address() as { port: number }).port;
});
afterAll(() => {
  for (const s of sockets) s.destroy();
  silent.close();
  rmSync(home, { recursive: true, force: true });
});

/** Runs the built CLI (npm test builds dist first) until it waits on the silent host, then signals it. */
function interrupt(args: string[], sig: 'SIGINT' | 'SIGTERM'): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [join(ROOT, 'bin/ebpf-lab.js'), ...args], {
      env: { ...process.env, EBPF_LAB_HOME: home, NO_COLOR: '1' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += String(d)));
    const before = sockets.length; // signalled once it has connected: it is then waiting on the host
    const sent = setInterval(() => sockets.length > before && (child.kill(sig), clearInterval(sent)), 50);
    child.on('exit', (code) => {
      clearInterval(sent);
      resolve({ code, stderr });
    });
  });
}

describe('Ctrl-C and SIGTERM in the commands without a run guard of their own', () => {
  it('a read-only command says nothing was changed and exits 130', async () => {
    const target = `ssh://root@127.0.0.1:${port}`;
    const r = await interrupt(['doctor', '--target', target, '--key', join(home, 'key')], 'SIGINT');
    expect(r.code, r.stderr).toBe(130);
    expect(r.stderr).toMatch(/^ebpf-lab: doctor interrupted by SIGINT: it only reads: nothing was changed$/m);
    expect(r.stderr).toMatch(/^log: \S+doctor/m);
  });

  it('down says what it may leave and how to finish, and exits 143 on SIGTERM', async () => {
    const target = `ssh://root@127.0.0.1:${port}`;
    const r = await interrupt(['down', '--target', target, '--key', join(home, 'key')], 'SIGTERM');
    expect(r.code, r.stderr).toBe(143);
    expect(r.stderr).toMatch(/^ebpf-lab: down interrupted by SIGTERM: .*run the same `ebpf-lab down` again/m);
  });

  it('every command that can change or wait on a lab says what an interruption leaves', () => {
    // Guarded elsewhere: up/plan/verify (src/runner/interrupt.ts), bench (restores its state),
    // ssh (Ctrl-C belongs to the remote command), and the ones that run nothing remote.
    const own = new Set(['up', 'plan', 'verify', 'bench', 'ssh', 'completion', 'version', 'workshop']);
    const missing = allCommands()
      .filter(({ path, spec }) => !own.has(path) && spec.run && !spec.interrupted)
      .map(({ path }) => path);
    expect(missing).toEqual([]);
    expect(COMMANDS.find((c) => c.name === 'up')?.interrupted).toBeUndefined();
  });
});
