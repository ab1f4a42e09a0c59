// `down` and ebpf-lab's known_hosts: a stopped sandbox laid out on disk as sandboxUp leaves it
// (sandbox.json, rootfs directory, its own host keys; no process to stop), a real temporary
// EBPF_LAB_HOME, and ssh-keygen for real host keys. The sandbox's processes are what
// test/integration/sandbox.test.ts covers; here only the bookkeeping around them.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { downCommand } from '../../src/commands/lab.js';

let home: string;
const key = (name: string) => {
  const f = join(home, name);
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', name, '-f', f]);
  return readFileSync(`${f}.pub`, 'utf8').split(' ').slice(0, 2).join(' ');
};

/** A stopped sandbox `name` with host key `hostKey`, last on 127.0.0.1:`port`. */
function stoppedSandbox(name: string, hostKey: string, port: number) {
  const dir = join(home, 'sandboxes', name);
  mkdirSync(join(dir, 'rootfs'), { recursive: true });
  writeFileSync(
    join(dir, 'sandbox.json'),
    JSON.stringify({
      version: 1,
      name,
      machine: `ebpf-lab-test-${name}-${process.pid}`,
      dir,
      rootfs: join(dir, 'rootfs'),
      port,
      keyPath: join(dir, 'id_ed25519'),
      hostKeys: [hostKey],
      repoDir: join(home, 'repo'),
      createdAt: new Date().toISOString(),
    }),
  );
  return dir;
}

beforeEach(() => {
  home = mkdtempSync(join(tmpdir(), 'ebpf-lab-down-'));
  vi.stubEnv('EBPF_LAB_HOME', home);
});
afterEach(() => {
  vi.unstubAllEnvs();
  rmSync(home, { recursive: true, force: true });
});

describe("down removes the destroyed lab's known-hosts lines, never another lab's", () => {
  it('sandbox: its own host key on any 127.0.0.1 port goes; another sandbox now on its port and other hosts stay', async () => {
    const mine = key('mine');
    const other = key('other');
    const dir = stoppedSandbox('gone', mine, 2231);
    const kh = join(home, 'known_hosts');
    const keep = [
      `[127.0.0.1]:2230 ${other}`, // another sandbox, on the port "gone" had at an earlier boot
      `example.org ${mine}`, // not a sandbox address: not ours to judge
      `# a comment`,
    ];
    writeFileSync(
      kh,
      [`[127.0.0.1]:2231 ${mine}`, keep[0], `[127.0.0.1]:2230 ${mine}`, keep[1], keep[2], ''].join('\n'),
      {
        mode: 0o600,
      },
    );
    const out: string[] = [];
    expect(await downCommand({ target: 'sandbox:gone' }, (s) => out.push(s))).toBe(0);
    expect(out).toEqual(['sandbox:gone: stopped and removed']);
    expect(existsSync(dir)).toBe(false);
    expect(readFileSync(kh, 'utf8')).toBe(keep.join('\n') + '\n');
    expect(statSync(kh).mode & 0o777).toBe(0o600);
  });

  it('sandbox that does not exist: known_hosts untouched', async () => {
    const kh = join(home, 'known_hosts');
    const text = `[127.0.0.1]:2230 ${key('k')}\n`;
    writeFileSync(kh, text, { mode: 0o600 });
    expect(await downCommand({ target: 'sandbox:nosuch' }, () => {})).toBe(0);
    expect(readFileSync(kh, 'utf8')).toBe(text);
  });

  it('ssh:// target (a host ebpf-lab did not create): its trusted-on-first-use line stays', async () => {
    const kh = join(home, 'known_hosts');
    const text = `[127.0.0.1]:1 ${key('k')}\n`;
    writeFileSync(kh, text, { mode: 0o600 });
    const out: string[] = [];
    expect(await downCommand({ target: 'ssh://root@127.0.0.1:1' }, (s) => out.push(s))).toBe(0);
    expect(out.at(-1)).toMatch(/ebpf-lab did not create this host/);
    expect(readFileSync(kh, 'utf8')).toBe(text);
  });
});
