import { execFileSync } from 'node:child_process';
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { PassThrough } from 'node:stream';
import { join } from 'node:path';
import { utils } from 'ssh2';
import { afterAll, describe, expect, it } from 'vitest';
import { CommandError, UserError } from '../../src/errors.js';
import { connectSsh, describeConnectError, loadPrivateKey, LostBeforeHandshake } from '../../src/transports/ssh.js';
import { dial } from '../../src/transports/dial.js';
import { createServer } from 'node:net';
import { LocalTransport } from '../../src/transports/local.js';
import {
  asRoot,
  displayCommand,
  IDENTITY_PROBE,
  identifyingWire,
  innerCommand,
  NOT_REGULAR,
  notRegularFile,
  parseIdentity,
  putScript,
  ShellTransport,
  tempPathFor,
  wireCommand,
  type RawOptions,
  type RawResult,
} from '../../src/transports/sudo.js';

const dir = mkdtempSync(join(tmpdir(), 'cmd-unit-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

// A stand-in `sudo` that drops `-n --` and runs the rest, so the double quoting of the
// sudo path is executed for real by /bin/sh without needing sudo on this machine.
const bin = join(dir, 'bin');
mkdirSync(bin);
writeFileSync(join(bin, 'sudo'), '#!/bin/sh\n[ "$1" = -n ] && shift\n[ "$1" = -- ] && shift\nexec "$@"\n', {
  mode: 0o755,
});

const marker = join(dir, 'pwned');
const hostile = [
  `a'b; touch ${marker}`,
  `$(touch ${marker})`,
  `\`touch ${marker}\``,
  `x\ntouch ${marker}`,
  `"; touch ${marker}; echo "`,
  '*',
  '',
  ' leading space',
  '--',
  '\\',
];

function sh(cmd: string, input = ''): string {
  return execFileSync('/bin/sh', ['-c', cmd], {
    input,
    encoding: 'utf8',
    stdio: 'pipe',
    env: { ...process.env, PATH: `${bin}:${process.env.PATH}` },
  });
}

describe('command building', () => {
  it('joins argv with quoting, scripts run via sh -c', () => {
    expect(innerCommand(['echo', 'a b'])).toBe("echo 'a b'");
    expect(innerCommand({ script: 'echo "$HOME"' })).toBe(`sh -c 'echo "$HOME"'`);
    expect(displayCommand(['echo', 'a b'])).toBe("echo 'a b'");
    expect(displayCommand({ script: 'x | y' })).toBe('x | y');
    expect(() => innerCommand([])).toThrow();
  });

  it('prefixes env as quoted K=V pairs and refuses bad names', () => {
    expect(innerCommand(['true'], { A: 'x y', B: '1' })).toBe("env 'A=x y' B=1 true");
    expect(() => innerCommand(['true'], { 'A;rm': '1' })).toThrow(/invalid environment variable name/);
  });

  it('wraps in sudo -n -- sh -c only for non-root users', () => {
    const who = { user: 'u', isRoot: false, canSudo: true };
    expect(wireCommand(['id', '-u'], { sudo: true }, who)).toBe("sudo -n -- sh -c 'id -u'");
    expect(wireCommand(['id', '-u'], { sudo: true }, { ...who, isRoot: true })).toBe('id -u');
    expect(wireCommand(['id', '-u'], {}, who)).toBe('id -u');
    expect(wireCommand(['true'], { sudo: true, env: { K: 'v' } }, who)).toBe("sudo -n -- sh -c 'env K=v true'");
    expect(asRoot("echo 'x'", false)).toBe(`sudo -n -- sh -c 'echo '\\''x'\\'''`);
  });

  it('puts a host-side timeout inside sudo, so the command dies with root rights', () => {
    const who = { user: 'u', isRoot: false, canSudo: true };
    expect(wireCommand(['sleep', '9'], { timeoutMs: 1500 }, who)).toBe('timeout -k 5 1.500 sleep 9');
    expect(wireCommand(['sleep', '9'], { sudo: true, timeoutMs: 250 }, who)).toBe(
      "sudo -n -- sh -c 'timeout -k 5 0.250 sleep 9'",
    );
    expect(() => wireCommand(['true'], { timeoutMs: 0 }, who)).toThrow(/invalid timeout/);
  });

  it.each(hostile)('hostile value %j stays one inert argument on every path', (v) => {
    const who = { user: 'u', isRoot: false, canSudo: true };
    for (const sudo of [false, true]) {
      const argv = sh(wireCommand(['printf', '%s', v], { sudo }, who));
      expect(argv).toBe(v);
      const env = sh(wireCommand({ script: 'printf %s "$V"' }, { sudo, env: { V: v } }, who));
      expect(env).toBe(v);
    }
    expect(existsSync(marker)).toBe(false);
  });
});

describe('atomic put script', () => {
  const who = { user: 'u', isRoot: false, canSudo: true };
  const run = (path: string, content: string, opts = {}) => {
    try {
      sh(wireCommand({ script: putScript(path, opts) }, { sudo: true }, who), content);
      return 0;
    } catch (e) {
      return (e as { status: number }).status;
    }
  };

  it('writes into a new directory with the given mode, no temp left behind', () => {
    const p = join(dir, "we'ird $(dir)", 'f.conf');
    expect(run(p, 'one\n', { mode: 0o640 })).toBe(0);
    expect(readFileSync(p, 'utf8')).toBe('one\n');
    expect(execFileSync('stat', ['-c', '%a', p], { encoding: 'utf8' }).trim()).toBe('640');
    expect(execFileSync('ls', ['-A', join(dir, "we'ird $(dir)")], { encoding: 'utf8' }).trim()).toBe('f.conf');
  });

  it('keeps the old file and mode when validation fails, and removes the temp file', () => {
    const d = join(dir, 'v');
    const p = join(d, 'app.conf');
    expect(run(p, 'good\n')).toBe(0);
    chmodSync(p, 0o600);
    expect(run(p, 'bad\n', { validate: ['grep', '-q', 'good', '{}'] })).toBe(1);
    expect(readFileSync(p, 'utf8')).toBe('good\n');
    expect(execFileSync('ls', ['-A', d], { encoding: 'utf8' }).trim()).toBe('app.conf');
    expect(run(p, 'good again\n', { validate: ['grep', '-q', 'good', '{}'] })).toBe(0);
    expect(readFileSync(p, 'utf8')).toBe('good again\n');
    // No mode given: the replaced file keeps the old one.
    expect(execFileSync('stat', ['-c', '%a', p], { encoding: 'utf8' }).trim()).toBe('600');
  });

  it('refuses a directory or FIFO at the path: nothing written anywhere, not even a temp file', () => {
    const d = join(dir, 'nr');
    mkdirSync(join(d, 'phpinfo.php'), { recursive: true });
    writeFileSync(join(d, 'phpinfo.php', 'inside'), 'x');
    execFileSync('mkfifo', [join(d, 'fifo.conf')]);
    const before = execFileSync('find', [d], { encoding: 'utf8' });
    for (const name of ['phpinfo.php', 'fifo.conf']) {
      let stderr = '';
      try {
        sh(wireCommand({ script: putScript(join(d, name), {}) }, { sudo: true }, who), '<?php x');
      } catch (e) {
        stderr = String((e as { stderr: Buffer }).stderr);
        expect((e as { status: number }).status).toBe(3);
      }
      expect(stderr).toContain(`${NOT_REGULAR} ${name === 'fifo.conf' ? 'fifo' : 'directory'}`);
    }
    expect(execFileSync('find', [d], { encoding: 'utf8' })).toBe(before);
    expect(notRegularFile('h', join(d, 'phpinfo.php'), 'directory').message).toMatch(
      /phpinfo\.php on h is a directory, where ebpf-lab manages a regular file; move it out of the way \(e\.g\. mv .* \/root\/\)/,
    );
  });

  it('replaces a symlink (even one to a directory) instead of writing through it; temp names say tmp', () => {
    const d = join(dir, 'ln');
    mkdirSync(join(d, 'real'), { recursive: true });
    symlinkSync(join(d, 'real'), join(d, 'link.conf'));
    expect(run(join(d, 'link.conf'), 'mine\n')).toBe(0);
    expect(readFileSync(join(d, 'link.conf'), 'utf8')).toBe('mine\n');
    expect(execFileSync('ls', ['-A', join(d, 'real')], { encoding: 'utf8' })).toBe('');
    expect(tempPathFor('/var/www/html/index.php')).toMatch(
      /^\/var\/www\/html\/\.index\.php\.ebpf-lab-tmp\.[0-9a-f]{12}$/,
    );
  });

  it('needs an absolute path and a sane mode', () => {
    expect(() => putScript('rel/x', {})).toThrow(/absolute/);
    expect(() => putScript('/x', { mode: 0o17777 })).toThrow(/invalid mode/);
  });
});

/** Records wire commands; answers the identity probe as a configurable user. */
class Recorder extends ShellTransport {
  readonly name = 'rec';
  wires: string[] = [];
  constructor(private probe: string) {
    super();
  }
  protected async runRaw(wire: string, _o: RawOptions): Promise<RawResult> {
    this.wires.push(wire);
    const out = wire.includes('id -un') ? this.probe : wire.includes('fail') ? '' : 'ok';
    return { code: wire.includes('fail') ? 3 : 0, stdout: Buffer.from(out), stderr: Buffer.from('bad thing\n') };
  }
  async close() {}
  async init() {
    await this.detectIdentity();
    return this;
  }
}

describe('ShellTransport', () => {
  it('parses the identity probe', () => {
    expect(parseIdentity('uid=0\nuser=root\nsudo=root\n')).toEqual({
      user: 'root',
      isRoot: true,
      canSudo: true,
      why: undefined,
    });
    expect(parseIdentity('uid=1000\nuser=ubuntu\nsudo=no\nwhy=sudo: a password is required\n')).toMatchObject({
      isRoot: false,
      canSudo: false,
      why: 'sudo: a password is required',
    });
    expect(() => parseIdentity('garbage')).toThrow();
  });

  it('refuses {sudo:true} for a user without password-less sudo, with a hint', async () => {
    const t = await new Recorder('uid=1000\nuser=bob\nsudo=no\nwhy=sudo: a password is required\n').init();
    await expect(t.exec(['apt-get', 'update'], { sudo: true })).rejects.toThrow(UserError);
    await expect(t.exec(['apt-get', 'update'], { sudo: true })).rejects.toThrow(
      /bob .*not root.*password-less sudo.*a password is required/,
    );
    expect(t.wires).toHaveLength(1);
    expect((await t.exec(['true'])).stdout).toBe('ok');
  });

  it('throws CommandError unless nothrow, and get/put use sudo for sudoers', async () => {
    const t = await new Recorder('uid=1000\nuser=bob\nsudo=yes\n').init();
    await expect(t.exec(['fail'])).rejects.toThrow(CommandError);
    const r = await t.exec(['fail', 'x y'], { nothrow: true });
    expect(r).toMatchObject({ command: "fail 'x y'", exitCode: 3, stderr: 'bad thing\n' });
    await t.get('/etc/shadow');
    expect(t.wires.at(-1)).toBe("sudo -n -- sh -c 'cat -- /etc/shadow'");
    await t.put('/etc/x', 'y');
    expect(t.wires.at(-1)).toMatch(/^sudo -n -- sh -c 'sh -c '/);
  });
});

/** This machine's shell, with who we are learnt from the first command (as over ssh). */
class LazyLocal extends LocalTransport {
  protected override identifyLazily = true;
  wires: string[] = [];
  /** How many commands get a lost connection's answer instead of running. */
  lose = 0;
  protected override runRaw(wire: string, o: RawOptions): Promise<RawResult> {
    this.wires.push(wire);
    if (this.lose-- > 0) return Promise.resolve({ code: 255, stdout: Buffer.alloc(0), stderr: Buffer.from('lost\n') });
    return super.runRaw(wire, o);
  }
}

describe('who we are, said by the first command', () => {
  it('costs no command of its own, and the command sees only its own output', async () => {
    const t = new LazyLocal();
    let streamed = '';
    const r = await t.exec(['sh', '-c', 'echo out; echo err >&2; cat; exit 3'], {
      sudo: true,
      nothrow: true,
      input: 'in\n',
      onOutput: (c, s) => s === 'stdout' && (streamed += c),
    });
    expect([r.exitCode, r.stdout, r.stderr, streamed]).toEqual([3, 'out\nin\n', 'err\n', 'out\nin\n']);
    expect(t.wires).toHaveLength(1);
    expect([t.user, t.isRoot, t.canSudo]).toEqual(['root', true, true]);
    await t.exec(['true']);
    expect(t.wires).toHaveLength(2);
    expect(t.wires[1]).toBe('true'); // later commands carry no probe
  });

  it('commands started with the first wait for it; a put first asks by a command of its own', async () => {
    const t = new LazyLocal();
    const rs = await Promise.all([1, 2, 3].map((i) => t.exec(['echo', String(i)], { sudo: true })));
    expect(rs.map((r) => r.stdout)).toEqual(['1\n', '2\n', '3\n']);
    expect(t.wires.filter((w) => w.includes('id -un'))).toHaveLength(1);
    const p = new LazyLocal();
    await p.put(join(dir, 'lazy-put'), 'x');
    expect(p.wires[0]).toBe(IDENTITY_PROBE);
    expect(readFileSync(join(dir, 'lazy-put'), 'utf8')).toBe('x');
  });

  it('a first command that runs on (a lock holder) lets the others go once it has said who we are', async () => {
    const t = new LazyLocal();
    const input = new PassThrough();
    const long = t.exec(['cat'], { sudo: true, input });
    // Runs while the first still runs: it only waited for the identity.
    expect((await t.exec(['echo', 'meanwhile'], { sudo: true })).stdout).toBe('meanwhile\n');
    input.end('done\n');
    expect((await long).stdout).toBe('done\n');
  });

  it('a first command whose shell never says who we are fails, and the next asks again', async () => {
    const t = new LazyLocal();
    t.lose = 1; // the connection is gone before the marker comes
    await expect(t.exec(['true'], { sudo: true })).rejects.toThrow(CommandError);
    expect((await t.exec(['echo', 'ok'], { sudo: true })).stdout).toBe('ok\n');
    expect(t.isRoot).toBe(true);
  });

  it('the probe leaves `u` and `s` for the command after it, and says why sudo cannot be used', () => {
    const out = sh(`${IDENTITY_PROBE}; echo "[$u:$s]"`);
    expect(out).toMatch(/^uid=0\nuser=root\nsudo=root\n\[0:root\]\n$/);
    expect(identifyingWire("echo 'x'", true, '@@m')).toMatch(/case \$s in root\) echo 'x' ;; yes\) sudo -n -- sh -c /);
  });
});

describe('private key files', () => {
  const key = utils.generateKeyPairSync('ed25519');
  it('refuses a missing file and a file readable by others (like OpenSSH)', async () => {
    await expect(loadPrivateKey(join(dir, 'nope'))).rejects.toThrow(/cannot be read \(ENOENT\)/);
    const p = join(dir, 'id_open');
    writeFileSync(p, key.private, { mode: 0o644 });
    chmodSync(p, 0o644);
    const err = await loadPrivateKey(p).catch((e: UserError) => e);
    expect(err).toBeInstanceOf(UserError);
    expect((err as UserError).message).toContain('mode 644');
    expect((err as UserError).hint).toBe(`chmod 600 ${p}`);
    chmodSync(p, 0o640);
    await expect(loadPrivateKey(p)).rejects.toThrow(/accessible by others/);
    chmodSync(p, 0o600);
    expect((await loadPrivateKey(p)).toString()).toBe(key.private);
    chmodSync(p, 0o400);
    await expect(loadPrivateKey(p)).resolves.toBeInstanceOf(Buffer);
  });

  it('refuses an encrypted key (no passphrase prompt) and points to ssh-agent', async () => {
    const enc = utils.generateKeyPairSync('ed25519', { passphrase: 'pw', cipher: 'aes256-ctr', rounds: 4 });
    const p = join(dir, 'id_enc');
    writeFileSync(p, enc.private, { mode: 0o600 });
    const err = await loadPrivateKey(p).catch((e: UserError) => e);
    expect((err as UserError).message).toMatch(/encrypted with a passphrase/);
    expect((err as UserError).hint).toContain('ssh-add');
  });

  it('refuses a file that is not a key', async () => {
    const p = join(dir, 'id_junk');
    writeFileSync(p, 'hello', { mode: 0o600 });
    await expect(loadPrivateKey(p)).rejects.toThrow(/not a usable private key/);
  });
});

describe('a connection opened before the ssh library loads (dial)', () => {
  it('never keeps the process alive unused, and is closed when the key is refused', async () => {
    const server = createServer(() => {});
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as { port: number }).port;
    try {
      const d = dial('127.0.0.1', port);
      const p = join(dir, 'id_dial_open');
      writeFileSync(p, utils.generateKeyPairSync('ed25519').private, { mode: 0o644 });
      chmodSync(p, 0o644);
      await expect(
        connectSsh(
          { host: '127.0.0.1', port, user: 'root', keyPath: p },
          { knownHostsPath: join(dir, 'kh') },
          { dialled: d },
        ),
      ).rejects.toThrow(/mode 644/);
      expect(d.sock.destroyed).toBe(true);
      // An unused one does not hold the event loop (a refused run exits at once).
      const unused = dial('127.0.0.1', port);
      expect((unused.sock as unknown as { _handle?: { hasRef(): boolean } })._handle?.hasRef()).toBe(false);
      unused.sock.destroy();
    } finally {
      server.close();
    }
  });
});

describe('connection errors', () => {
  const t = { host: 'lab.example', port: 2222, user: 'ubuntu', keyPath: '/k/id' };
  const err = (message: string, extra: { code?: string; level?: string }) => Object.assign(new Error(message), extra);
  it.each([
    [{ code: 'ECONNREFUSED' }, /^connection refused by lab\.example:2222$/, /sshd running/],
    [{ code: 'ENOTFOUND' }, /cannot resolve host name lab\.example \(ENOTFOUND\)/, /host name/],
    [{ code: 'EAI_AGAIN' }, /cannot resolve host name/, /IP address/],
    [{ code: 'EHOSTUNREACH' }, /cannot reach lab\.example:2222/, /firewall/],
    [{ level: 'client-timeout' }, /cannot reach lab\.example:2222: boom/, /firewall/],
    [
      { level: 'client-authentication' },
      /authentication as ubuntu on lab\.example:2222 failed: .*\/k\/id/,
      /authorized_keys/,
    ],
  ])('%j becomes a UserError with a hint', (extra, message, hint) => {
    const e = describeConnectError(err('boom', extra), t, false);
    expect(e).toBeInstanceOf(UserError);
    expect(e.message).toMatch(message);
    expect(e.hint).toMatch(hint);
  });
  it('a connection closed before the handshake is told apart (a sandbox retries it once its sshd answers)', () => {
    const e = describeConnectError(err('Connection lost before handshake', { level: 'protocol' }), t, false);
    expect(e).toBeInstanceOf(LostBeforeHandshake);
    expect(e).toBeInstanceOf(UserError);
    expect(e.message).toBe('ssh connection to lab.example:2222 failed: Connection lost before handshake');
    expect(describeConnectError(err('boom', {}), t, false)).not.toBeInstanceOf(LostBeforeHandshake);
  });
  it('names the agent when no key file was given', () => {
    expect(describeConnectError(err('x', { level: 'client-authentication' }), t, true).message).toContain('ssh-agent');
  });
});
