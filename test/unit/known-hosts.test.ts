import { execFileSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { UserError } from '../../src/errors.js';
import {
  blobType,
  decideHostKey,
  fingerprint,
  forgetHostKeys,
  forgetKnownHosts,
  hostField,
  keysFor,
  parseKnownHosts,
  parsePublicKeyLine,
  preferredHostKeyAlgorithms,
  readKnownHosts,
  replaceHostKeys,
  writeKnownHosts,
} from '../../src/transports/known-hosts.js';

const dir = mkdtempSync(join(tmpdir(), 'kh-unit-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Generates a key with ssh-keygen and returns its .pub line and ssh-keygen's own fingerprint. */
function keygen(type: 'ed25519' | 'rsa' | 'ecdsa', name: string): { line: string; fp: string } {
  const f = join(dir, name);
  execFileSync('ssh-keygen', ['-q', '-t', type, '-N', '', '-C', name, '-f', f]);
  const fp = execFileSync('ssh-keygen', ['-l', '-E', 'sha256', '-f', `${f}.pub`], { encoding: 'utf8' }).split(' ')[1]!;
  return { line: readFileSync(`${f}.pub`, 'utf8').trim(), fp };
}

const ed = keygen('ed25519', 'ed');
const ed2 = keygen('ed25519', 'ed2');
const rsa = keygen('rsa', 'rsa');
const ec = keygen('ecdsa', 'ec');

describe('fingerprint', () => {
  it.each([
    ['ed25519', ed],
    ['rsa', rsa],
    ['ecdsa', ec],
  ])('matches ssh-keygen -lf for %s keys', (_t, k) => {
    const { blob } = parsePublicKeyLine(k.line);
    expect(k.fp).toMatch(/^SHA256:[A-Za-z0-9+/]{43}$/);
    expect(fingerprint(blob)).toBe(k.fp);
  });
});

describe('public key lines', () => {
  it('reads type and blob, ignoring the comment', () => {
    const k = parsePublicKeyLine(ed.line);
    expect(k.type).toBe('ssh-ed25519');
    expect(blobType(k.blob)).toBe('ssh-ed25519');
  });
  it('rejects junk and a type that lies about the blob', () => {
    expect(() => parsePublicKeyLine('hello')).toThrow(UserError);
    const b64 = ed.line.split(' ')[1];
    expect(() => parsePublicKeyLine(`ssh-rsa ${b64}`)).toThrow(/not an OpenSSH public key/);
  });
});

describe('known-hosts text', () => {
  const edKey = parsePublicKeyLine(ed.line);
  const rsaKey = parsePublicKeyLine(rsa.line);
  const text = [
    '# comment',
    `[127.0.0.1]:2230 ${ed.line.split(' ').slice(0, 2).join(' ')}`,
    `example.org,10.0.0.1 ${rsa.line.split(' ').slice(0, 2).join(' ')} trailing comment`,
    `|1|abc=|def= ${ed2.line}`,
    `@revoked * ${ed2.line}`,
    'broken line',
    `[h]:1 ssh-rsa ${ed.line.split(' ')[1]}`,
    '',
  ].join('\n');

  it('parses plain entries, splits host lists, skips hashed/markers/broken/mismatched', () => {
    const e = parseKnownHosts(text);
    expect(e.map((x) => x.host)).toEqual(['[127.0.0.1]:2230', 'example.org', '10.0.0.1']);
    expect(keysFor(e, '127.0.0.1', 2230)[0]!.blob.equals(edKey.blob)).toBe(true);
    expect(keysFor(e, 'example.org', 22)[0]!.blob.equals(rsaKey.blob)).toBe(true);
    expect(keysFor(e, 'example.org', 2222)).toEqual([]);
  });

  it('uses OpenSSH host fields', () => {
    expect(hostField('example.org', 22)).toBe('example.org');
    expect(hostField('127.0.0.1', 2230)).toBe('[127.0.0.1]:2230');
  });

  it('replaces only the lines of one host:port and keeps the rest verbatim', () => {
    const out = replaceHostKeys(text, '127.0.0.1', 2230, [rsaKey]);
    expect(out).toContain('# comment');
    expect(out).toContain(`|1|abc=|def= ${ed2.line}`);
    expect(out).toContain('example.org,10.0.0.1');
    const e = keysFor(parseKnownHosts(out), '127.0.0.1', 2230);
    expect(e).toHaveLength(1);
    expect(e[0]!.type).toBe('ssh-rsa');
    expect(out.endsWith('\n')).toBe(true);
  });
});

describe("forgetHostKeys (down: the destroyed lab's lines, by its own keys)", () => {
  const k = (l: string) => l.split(' ').slice(0, 2).join(' ');
  const text = [
    '# comment',
    `[127.0.0.1]:2230 ${k(ed.line)}`,
    `[127.0.0.1]:2231 ${k(ed.line)}`, // the same sandbox on the port of an earlier boot
    `[127.0.0.1]:2230 ${k(ed2.line)}`, // another lab, now on that port
    `example.org,[127.0.0.1]:2232 ${k(ed.line)} trailing comment`,
    `10.0.0.1 ${k(rsa.line)}`,
    `|1|abc=|def= ${k(ed.line)}`,
    `@revoked * ${k(ed.line)}`,
    '',
  ].join('\n');

  it('removes every entry holding one of the keys, keeps other keys at the same address, and the rest verbatim', () => {
    const { text: out, removed } = forgetHostKeys(text, [parsePublicKeyLine(ed.line)]);
    expect(removed).toBe(4);
    expect(out.split('\n')).toEqual([
      '# comment',
      `[127.0.0.1]:2230 ${k(ed2.line)}`,
      `10.0.0.1 ${k(rsa.line)}`,
      `|1|abc=|def= ${k(ed.line)}`,
      `@revoked * ${k(ed.line)}`,
      '',
    ]);
  });

  it('a host filter limits it (the sandbox: 127.0.0.1 only); a shared line keeps its other names', () => {
    const { text: out, removed } = forgetHostKeys(text, [parsePublicKeyLine(ed.line)], (h) =>
      /^\[127\.0\.0\.1\]:\d+$/.test(h),
    );
    expect(removed).toBe(3);
    expect(out).toContain(`\nexample.org ${k(ed.line)} trailing comment\n`);
    expect(out).not.toContain('[127.0.0.1]:2231');
    expect(out).toContain(`[127.0.0.1]:2230 ${k(ed2.line)}`);
  });

  it('no keys, nothing removed; forgetKnownHosts rewrites the file only when it removed something', async () => {
    expect(forgetHostKeys(text, []).removed).toBe(0);
    const path = join(dir, 'forget', 'known_hosts');
    await writeKnownHosts(path, text);
    expect(await forgetKnownHosts(path, [parsePublicKeyLine(rsa.line)], (h) => h === 'nowhere')).toBe(0);
    expect(readFileSync(path, 'utf8')).toBe(text);
    expect(await forgetKnownHosts(path, [parsePublicKeyLine(rsa.line)])).toBe(1);
    expect(readFileSync(path, 'utf8')).not.toContain(k(rsa.line));
    expect(statSync(path).mode & 0o777).toBe(0o600);
  });
});

describe('file', () => {
  it('is written atomically with mode 0600 in a 0700 directory, readable by ssh-keygen -F', async () => {
    const path = join(dir, 'state', 'sub', 'known_hosts');
    expect(await readKnownHosts(path)).toBe('');
    await writeKnownHosts(path, replaceHostKeys('', '127.0.0.1', 2230, [parsePublicKeyLine(ed.line)]));
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(statSync(join(dir, 'state', 'sub')).mode & 0o777).toBe(0o700);
    expect(readdirSync(join(dir, 'state', 'sub'))).toEqual(['known_hosts']);
    const found = execFileSync('ssh-keygen', ['-F', '[127.0.0.1]:2230', '-f', path], { encoding: 'utf8' });
    expect(found).toContain(ed.line.split(' ')[1]);
  });

  it('leaves the mode of a directory it did not create alone (e.g. a shared /tmp-like one)', async () => {
    const shared = join(dir, 'shared');
    mkdirSync(shared);
    chmodSync(shared, 0o1777);
    await writeKnownHosts(join(shared, 'known_hosts'), replaceHostKeys('', 'h', 22, [parsePublicKeyLine(ed.line)]));
    expect(statSync(shared).mode & 0o7777).toBe(0o1777);
    expect(statSync(join(shared, 'known_hosts')).mode & 0o777).toBe(0o600);
  });
});

describe('decideHostKey', () => {
  const path = '/state/known_hosts';
  const a = parsePublicKeyLine(ed.line);
  const b = parsePublicKeyLine(ed2.line);
  const known = parseKnownHosts(replaceHostKeys('', 'h', 2222, [a]));
  const base = { host: 'h', port: 2222, knownHostsPath: path };

  it('records the first key (TOFU) and accepts it afterwards', () => {
    expect(decideHostKey({ ...base, presented: a.blob, known: [] })).toEqual({
      action: 'record',
      keys: [{ type: 'ssh-ed25519', blob: a.blob }],
    });
    expect(decideHostKey({ ...base, presented: a.blob, known })).toEqual({ action: 'accept' });
  });

  it('rejects a changed key with both fingerprints and the fix', () => {
    const d = decideHostKey({ ...base, presented: b.blob, known });
    expect(d.action).toBe('reject');
    if (d.action !== 'reject') return;
    expect(d.error).toBeInstanceOf(UserError);
    expect(d.error.message).toContain(ed.fp);
    expect(d.error.message).toContain(ed2.fp);
    expect(d.error.message).toContain('No command was sent');
    expect(d.error.hint).toContain(path);
    expect(d.error.hint).toContain('[h]:2222');
  });

  it('does not mix up ports of the same host', () => {
    expect(decideHostKey({ ...base, port: 2223, presented: b.blob, known }).action).toBe('record');
  });

  it('with pinned keys accepts only them, and records them when the file differs', () => {
    expect(decideHostKey({ ...base, presented: a.blob, known, pinned: [a] })).toEqual({ action: 'accept' });
    expect(decideHostKey({ ...base, presented: b.blob, known, pinned: [b] })).toEqual({ action: 'record', keys: [b] });
    const d = decideHostKey({ ...base, presented: b.blob, known: [], pinned: [a] });
    expect(d.action).toBe('reject');
    if (d.action === 'reject') {
      expect(d.error.message).toContain(ed.fp);
      expect(d.error.message).toContain(ed2.fp);
    }
  });
});

describe('preferredHostKeyAlgorithms', () => {
  it('puts known key types first, rsa covering its sha2 variants', () => {
    expect(preferredHostKeyAlgorithms([]).slice(0, 1)).toEqual(['ssh-ed25519']);
    expect(preferredHostKeyAlgorithms(['ssh-rsa']).slice(0, 3)).toEqual(['rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa']);
    expect(preferredHostKeyAlgorithms(['ecdsa-sha2-nistp256'])).toHaveLength(7);
  });
});
