/**
 * The ssh transport against a real OpenSSH sshd (started here on a random 127.0.0.1 port,
 * temp host keys, temp authorized_keys, killed by pid), and the local transport against
 * this machine, through the same exec suite.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CommandError, UserError } from '../../src/errors.js';
import { connectLocal } from '../../src/transports/local.js';
import { connectSsh, type HostKeyPolicy, type SshTarget } from '../../src/transports/ssh.js';
import type { Transport } from '../../src/transports/transport.js';

const W = mkdtempSync(join(tmpdir(), 'ssh-it-'));
const keygen = (name: string) => {
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', name, '-f', join(W, name)]);
  return readFileSync(join(W, `${name}.pub`), 'utf8').trim();
};
const hostA = keygen('host_a');
const hostB = keygen('host_b');
const clientPub = keygen('client');
keygen('stranger');
writeFileSync(join(W, 'authorized_keys'), clientPub + '\n', { mode: 0o644 });
// Throwaway users (shell /bin/sh): one with password-less sudo, one without. Removed in afterAll.
chmodSync(W, 0o711);
const scratch = join(W, 'scratch');
mkdirSync(scratch, { mode: 0o1777 });
chmodSync(scratch, 0o1777);
const suffix = W.slice(-6)
  .toLowerCase()
  .replace(/[^a-z0-9]/g, 'x');
const sudoer = `ebls${suffix}`;
const plain = `eblp${suffix}`;
const sudoersFile = `/etc/sudoers.d/ebl-test-${suffix}`;

let port = 0;
let sshd: ChildProcess | undefined;
let log = '';

async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const p = (s.address() as AddressInfo).port;
  await new Promise((r) => s.close(r));
  return p;
}

async function startSshd(hostKey: string): Promise<void> {
  const cfg = join(W, 'sshd_config');
  writeFileSync(
    cfg,
    [
      `Port ${port}`,
      'ListenAddress 127.0.0.1',
      `HostKey ${join(W, hostKey)}`,
      `AuthorizedKeysFile ${join(W, 'authorized_keys')}`,
      'UsePAM no',
      'StrictModes no',
      'PasswordAuthentication no',
      'KbdInteractiveAuthentication no',
      'PermitRootLogin prohibit-password',
      'PidFile none',
      'LogLevel VERBOSE',
    ].join('\n') + '\n',
  );
  mkdirSync('/run/sshd', { recursive: true, mode: 0o755 }); // sshd's compiled-in privsep dir
  const child = spawn('/usr/sbin/sshd', ['-D', '-e', '-f', cfg], { stdio: ['ignore', 'ignore', 'pipe'] });
  sshd = child;
  await new Promise<void>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`sshd did not start:\n${log}`)), 10_000);
    child.stderr!.on('data', (b: Buffer) => {
      log += b.toString();
      if (log.includes(`Server listening on 127.0.0.1 port ${port}`)) {
        clearTimeout(t);
        resolve();
      }
    });
    child.on('exit', (c) => reject(new Error(`sshd exited ${c}:\n${log}`)));
  });
}

async function stopSshd(): Promise<void> {
  const c = sshd;
  if (!c || c.exitCode !== null) return;
  await new Promise((r) => {
    c.once('exit', r);
    c.kill('SIGTERM');
  });
  sshd = undefined;
}

const count = (re: RegExp) => (log.match(re) ?? []).length;
const connections = () => count(/Connection from 127\.0\.0\.1 port/g);
const accepted = () => count(/Accepted publickey for root/g);

const target = (over: Partial<SshTarget> = {}): SshTarget => ({
  host: '127.0.0.1',
  port,
  user: 'root',
  keyPath: join(W, 'client'),
  ...over,
});
const tofu: HostKeyPolicy = { knownHostsPath: join(W, 'state', 'known_hosts') };

beforeAll(async () => {
  for (const u of [sudoer, plain]) {
    execFileSync('useradd', ['--no-create-home', '--home-dir', scratch, '--shell', '/bin/sh', u]);
    execFileSync('usermod', ['-p', '*', u]); // '!' (locked) is refused by sshd without PAM
  }
  writeFileSync(sudoersFile, `${sudoer} ALL=(ALL) NOPASSWD:ALL\n`, { mode: 0o440 });
  port = await freePort();
  await startSshd('host_a');
});
afterAll(async () => {
  await stopSshd();
  rmSync(sudoersFile, { force: true });
  for (const u of [sudoer, plain]) execFileSync('userdel', ['-f', u]);
  rmSync(W, { recursive: true, force: true });
});

/** The exec/put/get behaviour every transport must share. */
function suite(name: string, open: () => Promise<Transport>) {
  describe(`${name}: exec, put, get`, () => {
    let t: Transport;
    beforeAll(async () => {
      t = await open();
    });
    afterAll(async () => t.close());

    it('runs argv with hostile values as inert arguments', async () => {
      const vals = [`a'b; rm -rf /`, '$(touch /tmp/pwn)', 'x\ny', '`id`', '', '*'];
      const r = await t.exec(['printf', '%s|', ...vals]);
      expect(r.stdout).toBe(vals.map((v) => v + '|').join(''));
      expect(r.exitCode).toBe(0);
      expect(r.command).toContain("'a'\\''b; rm -rf /'");
    });

    it('runs scripts, env, input, and reports stderr and exit codes', async () => {
      const s = await t.exec(
        { script: 'echo out; echo err >&2; printf %s "$A$B" | tr a-z A-Z' },
        { env: { A: 'x y', B: "'q" } },
      );
      expect(s.stdout).toBe("out\nX Y'Q");
      expect(s.stderr).toBe('err\n');
      expect((await t.exec(['cat'], { input: 'in\0put' })).stdout).toBe('in\0put');
      const bad = await t.exec({ script: 'echo oops >&2; exit 3' }, { nothrow: true });
      expect(bad).toMatchObject({ exitCode: 3, stderr: 'oops\n', command: 'echo oops >&2; exit 3' });
      const err = await t.exec(['false']).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(CommandError);
      expect((err as CommandError).message).toContain(`command failed in ${t.name}: exit 1`);
      expect((await t.exec(['no-such-command-xyz'], { nothrow: true })).exitCode).toBe(127);
    });

    it('streams output and keeps large output intact', async () => {
      const seen = { stdout: '', stderr: '' };
      let calls = 0;
      const r = await t.exec(
        { script: 'head -c 1000000 /dev/zero | tr "\\0" a; echo; echo done >&2' },
        { onOutput: (c, stream) => ((seen[stream] += c), calls++) },
      );
      expect(r.stdout).toBe('a'.repeat(1_000_000) + '\n');
      // The two pipes are read independently on the host: compare per stream, not interleaved.
      expect(seen).toEqual({ stdout: r.stdout, stderr: 'done\n' });
      expect(calls).toBeGreaterThan(2);
    });

    it('times out with exit 124 and stops the command', async () => {
      const m = join(scratch, `${name}-late`);
      const start = Date.now();
      const r = await t.exec({ script: `sleep 2; touch ${m}` }, { timeoutMs: 300, nothrow: true });
      expect(r.exitCode).toBe(124);
      expect(Date.now() - start).toBeLessThan(1500);
      await new Promise((res) => setTimeout(res, 2500));
      expect(existsSync(m)).toBe(false);
    });

    it('puts atomically: mode/owner, validation failure keeps old file, get returns bytes', async () => {
      const p = join(W, `${name}-put`, 'sub dir', 'app.conf');
      await t.put(p, 'good=1\n', { mode: 0o640, owner: 'nobody', group: 'nogroup' });
      const st = statSync(p);
      expect([st.mode & 0o777, st.uid, st.gid]).toEqual([0o640, 65534, 65534]);
      const e = await t.put(p, 'bad\n', { validate: ['grep', '-q', 'good', '{}'] }).catch((x: unknown) => x);
      expect(e).toBeInstanceOf(CommandError);
      expect((e as CommandError).result.command).toMatch(/^grep -q good .*\.app\.conf\.ebpf-lab-/);
      expect(readFileSync(p, 'utf8')).toBe('good=1\n');
      expect(execFileSync('ls', ['-A', join(W, `${name}-put`, 'sub dir')], { encoding: 'utf8' })).toBe('app.conf\n');
      const bin = Buffer.from([0, 1, 2, 255, 10, 13, 39]);
      await t.put(p, bin, { validate: ['test', '-s', '{}'] });
      expect((await t.get(p)).equals(bin)).toBe(true);
      expect(statSync(p).mode & 0o777).toBe(0o640); // kept from the replaced file
      await expect(t.get(join(W, 'missing'))).rejects.toThrow(CommandError);
    });
  });
}

describe('ssh connect and host keys', () => {
  it('trusts on first use, records [host]:port 0600, then reconnects', async () => {
    const t0 = performance.now();
    const t = await connectSsh(target(), tofu);
    const connectMs = performance.now() - t0;
    // Two first commands at once: one also says who we are, the other waits for that.
    const [a, b] = await Promise.all([t.exec(['echo', 'a']), t.exec(['echo', 'b'], { sudo: true })]);
    expect([a.stdout, b.stdout]).toEqual(['a\n', 'b\n']);
    expect([t.user, t.isRoot, t.canSudo, t.name]).toEqual(['root', true, true, `root@127.0.0.1:${port}`]);
    await t.close();
    const kh = readFileSync(tofu.knownHostsPath, 'utf8');
    expect(kh).toBe(`[127.0.0.1]:${port} ${hostA.split(' ').slice(0, 2).join(' ')}\n`);
    expect(statSync(tofu.knownHostsPath).mode & 0o777).toBe(0o600);
    expect(statSync(join(W, 'state')).mode & 0o777).toBe(0o700);
    const again = await connectSsh(target(), tofu);
    expect((await again.exec(['id', '-u'])).stdout).toBe('0\n');
    await again.close();
    console.log(`[timing] connect (handshake): ${connectMs.toFixed(0)} ms`);
  });

  it('reuses ONE connection for many execs (20 serial + 20 concurrent)', async () => {
    const t = await connectSsh(target(), tofu);
    const before = connections();
    const start = performance.now();
    for (let i = 0; i < 20; i++) await t.exec(['true']);
    const mean = (performance.now() - start) / 20;
    // 20 at once: without the channel limit, sshd (MaxSessions 10) would refuse some.
    const rs = await Promise.all(Array.from({ length: 20 }, (_, i) => t.exec(['echo', String(i)])));
    expect(rs.map((r) => r.stdout)).toEqual(Array.from({ length: 20 }, (_, i) => `${i}\n`));
    await t.close();
    expect(connections() - before).toBe(0);
    // root's login shell here is bash, which sources ~/.bashrc for every ssh command.
    console.log(
      `[timing] exec round trip as root (bash + this host's ~/.bashrc): mean ${mean.toFixed(2)} ms over 20 execs`,
    );
  });

  it('accepts a pinned key and records it; refuses a pinned mismatch', async () => {
    const pinned: HostKeyPolicy = { knownHostsPath: join(W, 'pinned', 'known_hosts'), pinned: [hostA] };
    await (await connectSsh(target(), pinned)).close();
    expect(readFileSync(pinned.knownHostsPath, 'utf8')).toContain(hostA.split(' ')[1]);
    const n = accepted();
    const wrong = { knownHostsPath: join(W, 'pinned2', 'known_hosts'), pinned: [hostB] };
    await expect(connectSsh(target(), wrong)).rejects.toThrow(/does not match the pinned key/);
    expect(accepted()).toBe(n);
    expect(existsSync(wrong.knownHostsPath)).toBe(false);
  });

  it('refuses a wrong key, an open key file, a refused port and a silent server', async () => {
    const auth = await connectSsh(target({ keyPath: join(W, 'stranger') }), tofu).catch((e: unknown) => e);
    expect(auth).toBeInstanceOf(UserError);
    expect((auth as UserError).message).toMatch(/authentication as root .* failed/);
    const n = connections();
    chmodSync(join(W, 'stranger'), 0o644);
    await expect(connectSsh(target({ keyPath: join(W, 'stranger') }), tofu)).rejects.toThrow(/accessible by others/);
    expect(connections()).toBe(n);
    const closed = await freePort();
    const refused = await connectSsh(target({ port: closed }), tofu).catch((e: unknown) => e);
    expect((refused as UserError).message).toBe(`connection refused by 127.0.0.1:${closed}`);
    const silent: Server = createServer(() => {});
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
    const sp = (silent.address() as AddressInfo).port;
    const slow = await connectSsh(target({ port: sp }), tofu, { readyTimeoutMs: 500 }).catch((e: unknown) => e);
    silent.close();
    expect(slow).toBeInstanceOf(UserError);
    expect((slow as UserError).message).toMatch(/cannot reach 127\.0\.0\.1:\d+: Timed out/);
  });

  it('stops before any command when the host key changed (TOFU)', async () => {
    const kh = readFileSync(tofu.knownHostsPath, 'utf8');
    await stopSshd();
    await startSshd('host_b');
    const n = accepted();
    const e = await connectSsh(target(), tofu).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(UserError);
    const fp = (name: string) =>
      execFileSync('ssh-keygen', ['-lf', join(W, `${name}.pub`)], { encoding: 'utf8' }).split(' ')[1]!;
    expect((e as UserError).message).toContain('HOST KEY CHANGED');
    expect((e as UserError).message).toContain(fp('host_a'));
    expect((e as UserError).message).toContain(fp('host_b'));
    expect((e as UserError).hint).toContain(tofu.knownHostsPath);
    // Proof nothing ran: sshd never authenticated this client, and the trust store is untouched.
    expect(accepted()).toBe(n);
    expect(readFileSync(tofu.knownHostsPath, 'utf8')).toBe(kh);
    await stopSshd();
    await startSshd('host_a');
  });
});

describe('ssh as a non-root user', () => {
  it('uses sudo -n for {sudo:true}, put and get when the user may', async () => {
    const t = await connectSsh(target({ user: sudoer }), tofu);
    // The first command also says who we are (one exec): its own output only, run through sudo.
    let streamed = '';
    const first = await t.exec(['sh', '-c', 'id -u; cat'], {
      sudo: true,
      input: 'in\n',
      onOutput: (c, s) => s === 'stdout' && (streamed += c),
    });
    expect([first.stdout, streamed]).toEqual(['0\nin\n', '0\nin\n']);
    expect([t.user, t.isRoot, t.canSudo]).toEqual([sudoer, false, true]);
    expect((await t.exec(['id', '-u'])).stdout).not.toBe('0\n');
    expect((await t.exec(['id', '-u'], { sudo: true })).stdout).toBe('0\n');
    const env = await t.exec({ script: 'printf "%s:%s" "$(id -u)" "$V"' }, { sudo: true, env: { V: "a'b $(x)" } });
    expect(env.stdout).toBe("0:a'b $(x)");
    const p = join(W, 'sudo-put', 'root.conf');
    await t.put(p, 'x\n', { mode: 0o600 });
    expect([statSync(p).uid, statSync(p).mode & 0o777]).toEqual([0, 0o600]);
    expect((await t.get(p)).toString()).toBe('x\n');
    const m = join(scratch, 'sudo-late');
    const late = await t.exec({ script: `sleep 2; touch ${m}` }, { sudo: true, timeoutMs: 300, nothrow: true });
    expect(late.exitCode).toBe(124);
    const before = connections();
    const start = performance.now();
    for (let i = 0; i < 100; i++) await t.exec(['true']);
    const mean = (performance.now() - start) / 100;
    await t.close();
    expect(connections()).toBe(before);
    await new Promise((res) => setTimeout(res, 2000));
    expect(existsSync(m)).toBe(false); // the root-owned command was killed, not just abandoned
    console.log(
      `[timing] exec round trip as ${sudoer} (/bin/sh, no rc files): mean ${mean.toFixed(2)} ms over 100 execs`,
    );
  });

  it('refuses {sudo:true} with a clear UserError when the user has no password-less sudo', async () => {
    const t = await connectSsh(target({ user: plain }), tofu);
    // The first command, refused: it says who we are, and runs nothing.
    const m = join(scratch, 'nosudo-first');
    const first = await t.exec(['touch', m], { sudo: true }).catch((x: unknown) => x);
    expect(first).toBeInstanceOf(UserError);
    expect(existsSync(m)).toBe(false);
    expect([t.isRoot, t.canSudo]).toEqual([false, false]);
    const e = await t.exec(['id', '-u'], { sudo: true }).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(UserError);
    expect((e as UserError).message).toMatch(
      new RegExp(`user ${plain} .* is not root and has no password-less sudo \\(sudo: a password is required\\)`),
    );
    expect((e as UserError).hint).toContain('NOPASSWD');
    // Without sudo it still works as the user, and put/get run as the user.
    expect((await t.exec(['id', '-un'])).stdout).toBe(`${plain}\n`);
    await t.put(join(scratch, 'mine'), 'm');
    expect(statSync(join(scratch, 'mine')).uid).not.toBe(0);
    await expect(t.put('/etc/ebpf-lab-should-not-exist', 'x')).rejects.toThrow(CommandError);
    expect(existsSync('/etc/ebpf-lab-should-not-exist')).toBe(false);
    await t.close();
  });
});

suite('ssh', () => connectSsh(target(), tofu));
suite('ssh via sudo', () => connectSsh(target({ user: sudoer }), tofu));
suite('local', () => connectLocal());
