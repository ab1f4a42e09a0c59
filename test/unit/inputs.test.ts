import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { checkConfigFile, checkKeyFile, checkLabHome, MAX_KEY_BYTES } from '../../src/inputs.js';
import { loadPrivateKey } from '../../src/transports/ssh.js';
import { forgetLab, readRegistry, saveLab, writePrivate, type LabRecord } from '../../src/state.js';
import { localFsError } from '../../src/local-fs.js';
import { HostError, UserError } from '../../src/errors.js';
import { redactUrls } from '../../src/redact.js';

const dir = mkdtempSync(join(tmpdir(), 'ebpf-lab-inputs-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const key = join(dir, 'id_ed25519');
execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', key]);
const fifo = join(dir, 'fifo');
execFileSync('mkfifo', [fifo]);

const userError = async (p: Promise<unknown>) => {
  const e = await p.then(
    () => undefined,
    (x: unknown) => x,
  );
  expect(e).toBeInstanceOf(UserError);
  return e as UserError;
};

describe('--key and --config: regular files of sane size, never opened when they are not', () => {
  it('refuses a FIFO, a character device, a directory and a too large file at once, each with a hint', async () => {
    const big = join(dir, 'big');
    writeFileSync(big, Buffer.alloc(MAX_KEY_BYTES + 1, 65));
    const t0 = Date.now();
    for (const [path, what] of [
      [fifo, 'is a FIFO (named pipe), not a regular file'],
      ['/dev/zero', 'is a character device, not a regular file'],
      [dir, 'is a directory, not a regular file'],
      [big, `is ${MAX_KEY_BYTES + 1} bytes, more than the ${MAX_KEY_BYTES} a private key can be`],
      ['/nonexistent/key', 'cannot be read (ENOENT)'],
    ] as const) {
      const e = await userError(checkKeyFile(path));
      expect(e.message).toBe(`--key ${path} ${what}`);
      expect(e.hint).toMatch(/e\.g\. --key ~\/\.ssh\/id_ed25519/);
    }
    expect((await userError(checkConfigFile(fifo))).message).toBe(
      `--config ${fifo} is a FIFO (named pipe), not a regular file`,
    );
    expect(Date.now() - t0, 'nothing hung or read forever').toBeLessThan(5000);
  });

  it('a file that is not a private key never gets a chmod hint (/etc/shadow, a .pub file)', async () => {
    const shadowLike = join(dir, 'shadow');
    writeFileSync(shadowLike, 'root:$y$j9T$abc:19000:0:99999:7:::\n', { mode: 0o640 });
    chmodSync(shadowLike, 0o640);
    for (const p of [shadowLike, `${key}.pub`]) {
      const e = await userError(checkKeyFile(p));
      expect(e.message).toBe(`--key ${p} is not an ssh private key`);
      expect(e.hint).not.toMatch(/chmod/);
      const t = await userError(loadPrivateKey(p));
      expect(t.hint).not.toMatch(/chmod/);
    }
    // A real key readable by others does get it.
    await checkKeyFile(key);
    chmodSync(key, 0o644);
    expect((await userError(loadPrivateKey(key))).hint).toBe(`chmod 600 ${key}`);
    chmodSync(key, 0o600);
  });
});

describe('EBPF_LAB_HOME and its files', () => {
  const saved = process.env['EBPF_LAB_HOME'];
  afterEach(() => (saved === undefined ? delete process.env['EBPF_LAB_HOME'] : (process.env['EBPF_LAB_HOME'] = saved)));

  it('empty, a file, or a known_hosts that is a directory: a message with the path and the fix', async () => {
    process.env['EBPF_LAB_HOME'] = '';
    expect((await userError(checkLabHome())).message).toBe('EBPF_LAB_HOME is set but empty');
    const file = join(dir, 'home-file');
    writeFileSync(file, '');
    process.env['EBPF_LAB_HOME'] = file;
    expect((await userError(checkLabHome())).message).toBe(`EBPF_LAB_HOME ${file} is a file, not a directory`);
    const home = join(dir, 'home-kh');
    mkdirSync(join(home, 'known_hosts'), { recursive: true });
    process.env['EBPF_LAB_HOME'] = home;
    const e = await userError(checkLabHome());
    expect(e.message).toMatch(/known_hosts is a directory, not a regular file/);
    expect(e.hint).toMatch(/^move it away \(mv /);
    process.env['EBPF_LAB_HOME'] = join(dir, 'does-not-exist-yet');
    await checkLabHome(); // created on first write
  });
});

describe('labs.json: a bad record or a corrupt file never stops the good records, and is never lost', () => {
  const saved = process.env['EBPF_LAB_HOME'];
  let home = '';
  const rec = (name: string): LabRecord => ({
    name,
    kind: 'sandbox',
    target: name,
    createdByUs: true,
    createdAt: '2024-01-01T00:00:00.000Z',
  });
  beforeEach(() => {
    home = mkdtempSync(join(dir, 'reg-'));
    process.env['EBPF_LAB_HOME'] = home;
  });
  afterEach(() => (saved === undefined ? delete process.env['EBPF_LAB_HOME'] : (process.env['EBPF_LAB_HOME'] = saved)));

  it('a partly invalid file: the good records are used, the bad one reported and written back as it was', async () => {
    const bad = { name: 'sandbox:odd', kind: 'vm', target: 7 };
    writeFileSync(
      join(home, 'labs.json'),
      JSON.stringify({ labs: { 'sandbox:a': rec('sandbox:a'), 'sandbox:odd': bad } }),
    );
    const warned: string[] = [];
    const write = process.stderr.write;
    process.stderr.write = ((s: string) => (warned.push(s), true)) as never;
    try {
      expect(Object.keys((await readRegistry()).labs)).toEqual(['sandbox:a']);
      await saveLab({ ...rec('sandbox:b'), createdAt: 'later' });
      await saveLab({ ...rec('sandbox:a'), createdAt: 'later', lastRun: { command: 'up', at: 'now', ok: true } });
      await forgetLab('sandbox:b');
    } finally {
      process.stderr.write = write;
    }
    expect(warned.join('')).toMatch(
      /labs\.json: lab record "sandbox:odd" is not usable \(kind "vm" is not sandbox, ssh, local or lightsail\); ignored, and kept in the file/,
    );
    const onDisk = JSON.parse(readFileSync(join(home, 'labs.json'), 'utf8'));
    expect(onDisk.labs['sandbox:odd']).toEqual(bad);
    // createdAt is the first one, not the last run's.
    expect(onDisk.labs['sandbox:a'].createdAt).toBe('2024-01-01T00:00:00.000Z');
    expect(onDisk.labs['sandbox:a'].lastRun.command).toBe('up');
  });

  it('a file that is not JSON: nothing usable, reported; the next write keeps the original aside', async () => {
    writeFileSync(join(home, 'labs.json'), '{"labs": {"sandbox:a": ');
    const write = process.stderr.write;
    const warned: string[] = [];
    process.stderr.write = ((s: string) => (warned.push(s), true)) as never;
    try {
      expect((await readRegistry()).labs).toEqual({});
      await saveLab(rec('sandbox:new'));
    } finally {
      process.stderr.write = write;
    }
    expect(warned.join('')).toMatch(/labs\.json is not valid JSON/);
    const aside = readdirSync(home).filter((f) => f.startsWith('labs.json.corrupt-'));
    expect(aside).toHaveLength(1);
    expect(readFileSync(join(home, aside[0]!), 'utf8')).toBe('{"labs": {"sandbox:a": ');
    expect(Object.keys(JSON.parse(readFileSync(join(home, 'labs.json'), 'utf8')).labs)).toEqual(['sandbox:new']);
  });

  it('a failed write leaves no temp file', async () => {
    mkdirSync(join(home, 'x.json')); // rename onto a directory fails
    await expect(writePrivate(join(home, 'x.json'), '{}')).rejects.toThrow();
    expect(readdirSync(home)).toEqual(['x.json']);
  });
});

describe('errors of this machine and secrets in URLs', () => {
  it('ENOSPC names the mount and its free bytes; EROFS says read-only', () => {
    const e = localFsError(
      Object.assign(new Error('no space'), { code: 'ENOSPC', path: join(dir, 'labs.json.1.tmp') }),
    );
    expect(e).toBeInstanceOf(HostError);
    expect(e!.message).toMatch(/^no space left on local:\/\S*, \d+ bytes free \(writing /);
    expect(localFsError(Object.assign(new Error('x'), { code: 'EROFS', path: '/x' }))!.message).toMatch(
      /read-only file system/,
    );
    expect(localFsError(new Error('other'))).toBeUndefined();
  });

  it('credentials in URLs are never printed', () => {
    expect(redactUrls('fetching x from https://alice:s3cret@mirror.example/ebpf/x and http://tok@h/y')).toBe(
      'fetching x from https://***@mirror.example/ebpf/x and http://***@h/y',
    );
    expect(redactUrls('/srv/mirror/a@b and user@host, ssh://root@127.0.0.1:22')).toBe(
      '/srv/mirror/a@b and user@host, ssh://root@127.0.0.1:22',
    );
    expect(redactUrls('ssh://root:pw@h')).toBe('ssh://***@h');
    expect(existsSync(dir)).toBe(true);
  });
});
