import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  armor,
  checkSigningKey,
  crc24,
  dearmor,
  encodePacket,
  ensureSigningKey,
  keyInfo,
  parsePackets,
  readPublicKeys,
  SigningKeyUnavailable,
  type SigningKeySpec,
} from '../../src/artifacts/openpgp.js';
import { readArtifactRecords } from '../../src/artifacts/cache.js';
import { UserError } from '../../src/errors.js';

// Keys generated here by the host's real gpg (gnupg, see scripts/host-packages.txt) in a
// throw-away GNUPGHOME; gpg's own --with-colons listing is the reference for ids, and gpgv (what
// apt runs to check a repository's signature) is the reference for which keys a keyring trusts.

const home = mkdtempSync(join(tmpdir(), 'ebpf-lab-gpg-'));
const env = { ...process.env, GNUPGHOME: home, LC_ALL: 'C' };

function run(cmd: string, args: string[], input?: string) {
  return spawnSync(cmd, args, { env, encoding: 'utf8', timeout: 120_000, input });
}
function gpg(...args: string[]): string {
  const r = run('gpg', ['--batch', '--no-tty', '--pinentry-mode', 'loopback', '--passphrase', '', ...args]);
  if (r.status !== 0) throw new Error(`gpg ${args.join(' ')} failed: ${r.stderr}`);
  return r.stdout;
}
function gpgBinary(...args: string[]): Buffer {
  const r = spawnSync('gpg', ['--batch', '--no-tty', ...args], { env, timeout: 60_000 });
  if (r.status !== 0) throw new Error(`gpg ${args.join(' ')} failed: ${r.stderr}`);
  return r.stdout;
}

/** gpg's view of a key: fingerprints and key ids of the primary key and its subkeys, and its expiry. */
function gpgIds(uid: string): { fpr: string[]; ids: string[]; created?: number; expires?: number } {
  const out = gpg('--with-colons', '--fingerprint', '--fingerprint', '--list-keys', uid);
  const fpr: string[] = [];
  const ids: string[] = [];
  let created: number | undefined;
  let expires: number | undefined;
  for (const line of out.split('\n')) {
    const f = line.split(':');
    if (f[0] === 'pub' || f[0] === 'sub') ids.push(f[4]!);
    if (f[0] === 'pub' && f[5]) created = Number(f[5]);
    if (f[0] === 'pub' && f[6]) expires = Number(f[6]);
    if (f[0] === 'fpr') fpr.push(f[9]!);
  }
  return { fpr, ids, created, expires };
}

const ED = 'ebpf-lab test ed25519 <ed@example.invalid>';
const RSA = 'ebpf-lab test rsa <rsa@example.invalid>';
const OLD = 'ebpf-lab test expired <old@example.invalid>';
const GONE = 'ebpf-lab test revoked <gone@example.invalid>';
let ed = { fpr: [] as string[], ids: [] as string[] };
let rsa = { fpr: [] as string[], ids: [] as string[] };
let edArmored = '';
let edBinary: Buffer = Buffer.alloc(0);
let bothArmored = '';
let expiredArmored = '';
let revokedArmored = '';
let edSecret: Buffer = Buffer.alloc(0);
const spaced = (f: string) => f.replace(/(.{4})/g, '$1 ').trim();

beforeAll(() => {
  mkdirSync(home, { recursive: true, mode: 0o700 });
  gpg('--quick-gen-key', ED, 'ed25519', 'sign', 'never');
  gpg('--quick-add-key', gpgIds(ED).fpr[0]!, 'cv25519', 'encr', 'never');
  gpg('--quick-gen-key', RSA, 'rsa2048', 'sign', 'never');
  gpg('--quick-add-key', gpgIds(RSA).fpr[0]!, 'rsa2048', 'encr', 'never');
  // A key made (by gpg's clock) on 2020-01-01 that expired a day later.
  gpg('--faked-system-time', '20200101T000000', '--quick-gen-key', OLD, 'ed25519', 'sign', '1d');
  // A key revoked with the revocation certificate gpg wrote when it made the key.
  gpg('--quick-gen-key', GONE, 'ed25519', 'sign', 'never');
  const goneFpr = gpgIds(GONE).fpr[0]!;
  const rev = readFileSync(join(home, 'openpgp-revocs.d', `${goneFpr}.rev`), 'utf8').replace(/^:-----/m, '-----');
  const revFile = join(home, 'gone.rev');
  writeFileSync(revFile, rev);
  gpg('--import', revFile);
  ed = gpgIds(ED);
  rsa = gpgIds(RSA);
  edArmored = gpg('--armor', '--export', ED);
  edBinary = gpgBinary('--export', ED);
  bothArmored = gpg('--armor', '--export', ED, RSA);
  expiredArmored = gpg('--armor', '--export', OLD);
  revokedArmored = gpg('--armor', '--export', GONE);
  edSecret = spawnSync(
    'gpg',
    ['--batch', '--no-tty', '--pinentry-mode', 'loopback', '--passphrase', '', '--export-secret-keys', ED],
    { env },
  ).stdout;
}, 180_000);

afterAll(() => {
  spawnSync('gpgconf', ['--kill', 'gpg-agent'], { env }); // the agent gpg started for this GNUPGHOME
  rmSync(home, { recursive: true, force: true });
});

const spec = (fingerprints: string[], retired: string[] = []): SigningKeySpec => ({
  id: 'test-apt-key',
  name: 'the test repository',
  url: 'https://example.invalid/key.asc',
  file: 'test-full.key',
  fingerprints,
  retired,
});
const refusal = (f: () => unknown): UserError => {
  try {
    f();
  } catch (e) {
    return e as UserError;
  }
  throw new Error('not refused');
};

describe('OpenPGP key parsing (keys generated by gpg)', () => {
  it('computes the same v4 fingerprints and key ids as gpg, for the primary key and its subkey', () => {
    const keys = readPublicKeys(edArmored);
    expect(keys).toHaveLength(1);
    expect([keys[0]!.fingerprint, ...keys[0]!.subkeys.map((s) => s.fingerprint)]).toEqual(ed.fpr);
    expect([keys[0]!.keyId, ...keys[0]!.subkeys.map((s) => s.keyId)]).toEqual(ed.ids);
    expect(keys[0]!.version).toBe(4);
    expect(keys[0]!.algorithm).toBe(22); // EdDSA
    expect(keys[0]!.subkeys[0]!.algorithm).toBe(18); // ECDH
    expect(keys[0]!.userIds).toEqual([ED]);
    expect(keys[0]!.expires).toBeUndefined();
    expect(keys[0]!.revoked).toBe(false);
  });

  it('reads binary exports (gpg --export) the same as armored ones', () => {
    expect(edBinary[0]! & 0x80).toBeTruthy();
    const bin = readPublicKeys(edBinary);
    expect(bin.map((k) => k.fingerprint)).toEqual([ed.fpr[0]]);
    expect(bin[0]!.subkeys.map((s) => s.fingerprint)).toEqual([ed.fpr[1]]);
    expect(dearmor(edArmored)).toEqual(edBinary);
  });

  it('reads several keys from one armor block (RSA and EdDSA)', () => {
    const keys = readPublicKeys(bothArmored);
    expect(keys.map((k) => k.userIds[0])).toEqual([ED, RSA]);
    expect(keys.map((k) => k.fingerprint)).toEqual([ed.fpr[0], rsa.fpr[0]]);
    expect(keys[1]!.algorithm).toBe(1);
  });

  it('reads the expiry from the self-signature (as gpg does) and a revocation', () => {
    const [old] = readPublicKeys(expiredArmored);
    const ref = gpgIds(OLD);
    // gpg made it at its faked time, 2020-01-01T00:00:00 (a busy machine may start a second
    // late), with an expiry one day on: the times as gpg itself lists them.
    expect(old!.created.getTime() / 1000).toBe(ref.created);
    expect(old!.created.toISOString()).toMatch(/^2020-01-01T00:00:0\d\.000Z$/);
    expect(old!.expires!.getTime() / 1000).toBe(ref.expires);
    expect(ref.expires! - ref.created!).toBe(86_400);
    const [gone] = readPublicKeys(revokedArmored);
    expect(gone!.revoked).toBe(true);
  });

  it('re-encodes packets the way gpg writes them; new-format headers read the same', () => {
    const packets = parsePackets(edBinary);
    expect(Buffer.concat(packets.map(encodePacket))).toEqual(edBinary);
    const reencoded = Buffer.concat(
      packets.map(({ tag, body }) => {
        const len = body.length;
        const head =
          len < 192
            ? [len]
            : len < 8384
              ? [((len - 192) >> 8) + 192, (len - 192) & 0xff]
              : [255, len >>> 24, (len >> 16) & 0xff, (len >> 8) & 0xff, len & 0xff];
        return Buffer.concat([Buffer.from([0xc0 | tag, ...head]), body]);
      }),
    );
    const again = parsePackets(reencoded);
    expect(again.map((p) => p.tag)).toEqual(packets.map((p) => p.tag));
    expect(keyInfo(again[0]!.body).keyId).toBe(ed.ids[0]);
    expect(dearmor(armor(edBinary))).toEqual(edBinary);
  });

  it('checks the armor checksum and refuses damaged or non-key input', () => {
    const lines = edArmored.split('\n');
    const sumAt = lines.findIndex((l) => /^=[A-Za-z0-9+/]{4}$/.test(l));
    expect(sumAt).toBeGreaterThan(0); // gpg 2.2 writes the CRC-24 line
    const bytes = dearmor(edArmored);
    expect(Buffer.from(lines[sumAt]!.slice(1), 'base64').readUIntBE(0, 3)).toBe(crc24(bytes));
    const damaged = [...lines];
    damaged[sumAt] = lines[sumAt] === '=AAAA' ? '=AAAB' : '=AAAA';
    expect(() => dearmor(damaged.join('\n'))).toThrow(/checksum mismatch/);
    expect(() => dearmor('hello')).toThrow(/not an ASCII-armored/);
    expect(() => readPublicKeys('hello')).toThrow(/neither an ASCII-armored nor a binary/);
    expect(() => parsePackets(Buffer.from([0x01, 0x02]))).toThrow(/not an OpenPGP packet/);
    expect(() => parsePackets(Buffer.from([0x99, 0x00, 0x10, 0x04]))).toThrow(/truncated/);
    expect(() => readPublicKeys(edSecret)).toThrow(/SECRET key material/);
  });
});

describe('checkSigningKey: only pinned primary keys reach the keyring', () => {
  it('accepts the pinned key (armored or binary) and builds a keyring of exactly it', () => {
    for (const input of [edArmored, edBinary]) {
      const k = checkSigningKey(input, spec([ed.fpr[0]!]), 'mirror/test-full.key');
      expect(k.trusted.map((t) => t.fingerprint)).toEqual([ed.fpr[0]]);
      // gpg's own reading of the keyring: the pinned key with its user id and subkey, nothing else
      const dir = mkdtempSync(join(tmpdir(), 'ebpf-lab-ring-'));
      writeFileSync(join(dir, 'k.asc'), k.armored);
      const listed = gpg('--with-colons', '--show-keys', join(dir, 'k.asc'));
      expect(
        listed
          .split('\n')
          .filter((l) => l.startsWith('fpr:'))
          .map((l) => l.split(':')[9]),
      ).toEqual(ed.fpr);
      expect(listed).toContain('ebpf-lab test ed25519');
      rmSync(dir, { recursive: true });
    }
  });

  it('refuses the two-key file (the pinned key plus another one): the old key-id check accepted it', () => {
    const err = refusal(() => checkSigningKey(bothArmored, spec([ed.fpr[0]!]), 'mirror/test-full.key'));
    expect(err).toBeInstanceOf(UserError);
    expect(err.message).toContain('mirror/test-full.key carries a primary key that ebpf-lab does not trust');
    expect(err.message).toContain(spaced(rsa.fpr[0]!));
    expect(err.message).toContain(RSA);
    expect(err.message).toContain('refusing the whole file');
    expect(err.hint).toContain(spaced(ed.fpr[0]!));
  });

  it('a retired (revoked predecessor) key may sit in the file but never reaches the keyring: gpgv trusts only the pinned key', () => {
    const k = checkSigningKey(bothArmored, spec([ed.fpr[0]!], [rsa.fpr[0]!]), 'key');
    expect(k.keys.map((x) => x.fingerprint)).toEqual([ed.fpr[0], rsa.fpr[0]]);
    expect(readPublicKeys(k.keyring).map((x) => x.fingerprint)).toEqual([ed.fpr[0]]);
    // What apt does with a signed-by keyring: gpgv with only that keyring.
    const dir = mkdtempSync(join(tmpdir(), 'ebpf-lab-gpgv-'));
    try {
      const ring = join(dir, 'ring.gpg');
      writeFileSync(ring, k.keyring);
      writeFileSync(join(dir, 'Release'), 'Origin: test\n');
      gpg('--local-user', ed.fpr[0]!, '--output', join(dir, 'ed.sig'), '--detach-sign', join(dir, 'Release'));
      gpg('--local-user', rsa.fpr[0]!, '--output', join(dir, 'rsa.sig'), '--detach-sign', join(dir, 'Release'));
      const gpgv = (sig: string) =>
        run('gpgv', ['--homedir', dir, '--keyring', ring, join(dir, sig), join(dir, 'Release')]).status;
      expect(gpgv('ed.sig')).toBe(0);
      expect(gpgv('rsa.sig')).not.toBe(0);
      // the same two signatures against the publisher's whole file: both would pass
      writeFileSync(join(dir, 'whole.gpg'), dearmor(bothArmored));
      expect(
        run('gpgv', ['--homedir', dir, '--keyring', join(dir, 'whole.gpg'), join(dir, 'rsa.sig'), join(dir, 'Release')])
          .status,
      ).toBe(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('refuses a file where the pinned fingerprint is only a subkey', () => {
    const err = refusal(() => checkSigningKey(edArmored, spec([ed.fpr[1]!]), 'key'));
    expect(err).toBeInstanceOf(UserError);
    expect(err.message).toContain(`${spaced(ed.fpr[1]!)} is in it only as a subkey of ${spaced(ed.fpr[0]!)}`);
  });

  it('refuses a truncated file, binary or armored', () => {
    const cut = edBinary.subarray(0, Math.floor(edBinary.length / 2));
    const bin = refusal(() => checkSigningKey(cut, spec([ed.fpr[0]!]), 'key'));
    expect(bin).toBeInstanceOf(UserError);
    expect(bin.message).toMatch(/is not a usable OpenPGP public key: OpenPGP packet truncated/);
    const lines = edArmored.split('\n');
    const arm = refusal(() => checkSigningKey(lines.slice(0, lines.length - 6).join('\n'), spec([ed.fpr[0]!]), 'k'));
    expect(arm.message).toMatch(/no END line \(the file is cut short\)/);
    expect(() => checkSigningKey('', spec([ed.fpr[0]!]), 'k')).toThrow(UserError);
  });

  it('refuses a pinned key that has expired, and one that is revoked', () => {
    const old = gpgIds(OLD).fpr[0]!;
    const err = refusal(() => checkSigningKey(expiredArmored, spec([old]), 'key'));
    expect(err.message).toBe(`the pinned key ${spaced(old)} in key expired on 2020-01-02`);
    expect(err.hint).toContain('fetch https://example.invalid/key.asc again');
    // the same key was fine on the day it was made
    const before = new Date('2020-01-01T12:00:00Z');
    expect(checkSigningKey(expiredArmored, spec([old]), 'key', before).trusted).toHaveLength(1);
    const gone = gpgIds(GONE).fpr[0]!;
    expect(refusal(() => checkSigningKey(revokedArmored, spec([gone]), 'key')).message).toMatch(/is revoked/);
  });

  it('refuses a file holding none of the pinned keys', () => {
    const err = refusal(() => checkSigningKey(edArmored, spec([rsa.fpr[0]!], [ed.fpr[0]!]), 'key'));
    expect(err.message).toContain('holds none of the pinned primary keys');
  });
});

describe('ensureSigningKey (a gpg-generated stand-in for the publisher key, in a local mirror)', () => {
  const dirs: string[] = [];
  const tmp = (p: string) => {
    const d = mkdtempSync(join(tmpdir(), p));
    dirs.push(d);
    return d;
  };
  afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

  it('fetches once from the mirror, checks it, caches the file and the pinned-only keyring, records it', async () => {
    const cacheDir = tmp('key-cache-');
    const mirror = tmp('key-mirror-');
    mkdirSync(join(mirror, 'test-apt-key'));
    writeFileSync(join(mirror, 'test-apt-key', 'test-full.key'), bothArmored);
    const s = spec([ed.fpr[0]!], [rsa.fpr[0]!]);
    const k = await ensureSigningKey(s, { cacheDir, mirror });
    expect(k.path).toBe(join(cacheDir, 'artifacts', 'test-apt-key', 'test-full.key'));
    expect(readFileSync(k.path, 'utf8')).toBe(bothArmored);
    expect(readFileSync(k.keyringPath, 'utf8')).toBe(k.keyring);
    expect(readPublicKeys(k.keyring).map((x) => x.fingerprint)).toEqual([ed.fpr[0]]);
    const [rec] = await readArtifactRecords(cacheDir);
    expect(rec).toMatchObject({
      key: 'test-apt-key/test-full.key',
      sha256: k.sha256,
      trust: 'fingerprint',
      source: join(mirror, 'test-apt-key', 'test-full.key'),
    });
    expect(rec!.checkedBy).toContain(ed.fpr[0]);
    expect(Date.parse(rec!.fetchedAt!)).toBeGreaterThan(Date.now() - 60_000);
    rmSync(mirror, { recursive: true });
    const again = await ensureSigningKey(s, { cacheDir, mirror }); // from the cache
    expect(again.sha256).toBe(k.sha256);
    expect(again.keyring).toBe(k.keyring);
  });

  it('refuses the two-key file: UserError, nothing cached', async () => {
    const cacheDir = tmp('key-cache-');
    const download = async () => Buffer.from(bothArmored);
    const err = await ensureSigningKey(spec([ed.fpr[0]!]), { cacheDir, download }).catch((e) => e);
    expect(err).toBeInstanceOf(UserError);
    expect(err).not.toBeInstanceOf(SigningKeyUnavailable);
    expect(existsSync(join(cacheDir, 'artifacts', 'test-apt-key'))).toBe(false);
    expect(await readArtifactRecords(cacheDir)).toEqual([]);
  });

  it('a cached copy that no longer passes (e.g. it expired) is fetched again', async () => {
    const cacheDir = tmp('key-cache-');
    const s = spec([ed.fpr[0]!]);
    mkdirSync(join(cacheDir, 'artifacts', 'test-apt-key'), { recursive: true });
    writeFileSync(join(cacheDir, 'artifacts', 'test-apt-key', 'test-full.key'), bothArmored);
    const urls: string[] = [];
    const logs: string[] = [];
    const k = await ensureSigningKey(s, {
      cacheDir,
      download: async (u) => (urls.push(u), Buffer.from(edArmored)),
      log: (l) => logs.push(l),
    });
    expect(urls).toEqual(['https://example.invalid/key.asc']);
    expect(logs.join('\n')).toMatch(/cached .* is refused .*: fetching it again/);
    expect(readFileSync(k.path, 'utf8')).toBe(edArmored);
  });

  it('refuses a plain-http mirror before fetching anything', async () => {
    const cacheDir = tmp('key-cache-');
    const urls: string[] = [];
    const err = await ensureSigningKey(spec([ed.fpr[0]!]), {
      cacheDir,
      mirror: 'http://mirror.example.invalid/',
      download: async (u) => (urls.push(u), Buffer.from(edArmored)),
    }).catch((e) => e);
    expect(err).toBeInstanceOf(UserError);
    expect(err.message).toMatch(
      /refusing to fetch .* from http:\/\/mirror\.example\.invalid\/test-apt-key\/test-full\.key: plain http/,
    );
    expect(err.hint).toMatch(/https:\/\/ mirror, or a local directory/);
    expect(urls).toEqual([]);
    expect(readdirSync(cacheDir)).toEqual([]);
  });

  it('an unreachable source is SigningKeyUnavailable naming the source and --mirror', async () => {
    const cacheDir = tmp('key-cache-');
    const urls: string[] = [];
    const download = async (u: string) => {
      urls.push(u);
      throw new Error('getaddrinfo ENOTFOUND example.invalid');
    };
    const err = await ensureSigningKey(spec([ed.fpr[0]!]), { cacheDir, download }).catch((e) => e);
    expect(urls).toEqual(['https://example.invalid/key.asc']);
    expect(err).toBeInstanceOf(SigningKeyUnavailable);
    expect(err.message).toContain('ENOTFOUND');
    expect(err.hint).toContain('--mirror DIR|https://URL');
    expect(err.hint).toContain('DIR/test-apt-key/test-full.key');
  });
});
