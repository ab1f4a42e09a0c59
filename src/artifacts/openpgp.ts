import { redactUrls } from '../redact.js';
import { createHash } from 'node:crypto';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { UserError } from '../errors.js';
import type { FetchOptions } from './cache.js';

/**
 * Just enough OpenPGP (RFC 4880 / RFC 9580) to check a repository signing key before it
 * is trusted: dearmor, split packets, compute fingerprints and key ids of primary keys
 * and subkeys. No signature is verified here: apt does that with the key we install.
 */

/** One public key or subkey. */
export interface PgpKeyInfo {
  /** Key packet version: 4 (RFC 4880) or 6 (RFC 9580); 5 (LibrePGP) is read too. */
  version: number;
  /** Upper-case hex: SHA-1 (v4, 40 digits) or SHA-256 (v5/v6, 64 digits). */
  fingerprint: string;
  /** Upper-case hex, 16 digits: last 8 bytes of a v4 fingerprint, first 8 of a v5/v6 one. */
  keyId: string;
  /** Public-key algorithm id (1 RSA, 17 DSA, 18 ECDH, 19 ECDSA, 22 EdDSA, 25/27 X25519/Ed25519…). */
  algorithm: number;
  created: Date;
}

/** A primary key (packet tag 6) with its user ids (tag 13) and subkeys (tag 14). */
export interface PgpPublicKey extends PgpKeyInfo {
  userIds: string[];
  subkeys: PgpKeyInfo[];
}

export interface PgpPacket {
  tag: number;
  body: Buffer;
}

const BEGIN = /^-----BEGIN PGP PUBLIC KEY BLOCK-----\s*$/;
const END = /^-----END PGP PUBLIC KEY BLOCK-----\s*$/;

/** OpenPGP's CRC-24 (armor checksum). */
export function crc24(data: Buffer): number {
  let crc = 0xb704ce;
  for (const byte of data) {
    crc ^= byte << 16;
    for (let i = 0; i < 8; i++) {
      crc <<= 1;
      if (crc & 0x1000000) crc ^= 0x1864cfb;
    }
  }
  return crc & 0xffffff;
}

/**
 * The binary packets of every public-key armor block in `text`, concatenated. Armor
 * headers are skipped; a checksum line (`=XXXX`), when present, must match.
 */
export function dearmor(text: string): Buffer {
  const lines = text.split(/\r?\n/);
  const parts: Buffer[] = [];
  for (let i = 0; i < lines.length; i++) {
    if (!BEGIN.test(lines[i]!)) continue;
    i++;
    while (i < lines.length && lines[i]!.trim() !== '' && /^[\w-]+: /.test(lines[i]!)) i++; // armor headers
    let b64 = '';
    let sum: string | undefined;
    for (; i < lines.length && !END.test(lines[i]!); i++) {
      const l = lines[i]!.trim();
      if (l.startsWith('=') && l.length === 5) sum = l.slice(1);
      else b64 += l;
    }
    if (i >= lines.length) throw new Error('armored key: no END line');
    if (!/^[A-Za-z0-9+/]*={0,2}$/.test(b64)) throw new Error('armored key: invalid base64');
    const bytes = Buffer.from(b64, 'base64');
    if (sum !== undefined && Buffer.from(sum, 'base64').readUIntBE(0, 3) !== crc24(bytes))
      throw new Error('armored key: checksum mismatch (the file is damaged)');
    parts.push(bytes);
  }
  if (parts.length === 0)
    throw new Error('not an ASCII-armored OpenPGP public key (no "BEGIN PGP PUBLIC KEY BLOCK" line)');
  return Buffer.concat(parts);
}

/** Splits binary OpenPGP data into packets (old and new header formats). */
export function parsePackets(data: Buffer): PgpPacket[] {
  const out: PgpPacket[] = [];
  let p = 0;
  const need = (n: number) => {
    if (p + n > data.length) throw new Error(`OpenPGP packet truncated at byte ${p}`);
  };
  while (p < data.length) {
    const ctb = data[p++]!;
    if (!(ctb & 0x80)) throw new Error(`not an OpenPGP packet header at byte ${p - 1}`);
    let tag: number;
    let len: number;
    if (ctb & 0x40) {
      tag = ctb & 0x3f;
      need(1);
      const l1 = data[p++]!;
      if (l1 < 192) len = l1;
      else if (l1 < 224) {
        need(1);
        len = ((l1 - 192) << 8) + data[p++]! + 192;
      } else if (l1 === 255) {
        need(4);
        len = data.readUInt32BE(p);
        p += 4;
      } else throw new Error(`partial-length packet (tag ${tag}) is not allowed in a key`);
    } else {
      tag = (ctb >> 2) & 0x0f;
      const type = ctb & 3;
      if (type === 3) len = data.length - p;
      else {
        const n = [1, 2, 4][type]!;
        need(n);
        len = data.readUIntBE(p, n);
        p += n;
      }
    }
    need(len);
    out.push({ tag, body: data.subarray(p, p + len) });
    p += len;
  }
  return out;
}

/** Fingerprint and key id of a public-key or public-subkey packet body. */
export function keyInfo(body: Buffer): PgpKeyInfo {
  const version = body[0];
  if (body.length < 6) throw new Error('key packet too short');
  let fingerprint: string;
  let keyId: string;
  if (version === 4) {
    const head = Buffer.from([0x99, body.length >> 8, body.length & 0xff]);
    fingerprint = createHash('sha1').update(head).update(body).digest('hex').toUpperCase();
    keyId = fingerprint.slice(-16);
  } else if (version === 5 || version === 6) {
    const head = Buffer.alloc(5);
    head[0] = version === 6 ? 0x9b : 0x9a;
    head.writeUInt32BE(body.length, 1);
    fingerprint = createHash('sha256').update(head).update(body).digest('hex').toUpperCase();
    keyId = fingerprint.slice(0, 16);
  } else throw new Error(`unsupported OpenPGP key version ${version}`);
  return { version, fingerprint, keyId, algorithm: body[5]!, created: new Date(body.readUInt32BE(1) * 1000) };
}

/** Every public key in an armored text, with its user ids and subkeys. */
export function readPublicKeys(armored: string): PgpPublicKey[] {
  const keys: PgpPublicKey[] = [];
  for (const { tag, body } of parsePackets(dearmor(armored))) {
    const cur = keys[keys.length - 1];
    if (tag === 6) keys.push({ ...keyInfo(body), userIds: [], subkeys: [] });
    else if (tag === 14 && cur) cur.subkeys.push(keyInfo(body));
    else if (tag === 13 && cur) cur.userIds.push(body.toString('utf8'));
    else if ((tag === 14 || tag === 13) && !cur) throw new Error(`packet tag ${tag} before any primary key`);
  }
  if (keys.length === 0) throw new Error('the armored data holds no public key');
  return keys;
}

/** Key ids of every primary key and subkey. */
export function allKeyIds(keys: PgpPublicKey[]): string[] {
  return keys.flatMap((k) => [k.keyId, ...k.subkeys.map((s) => s.keyId)]);
}

/**
 * Parses `armored` and requires `keyId` among its primary keys or subkeys; anything else
 * (not a key, damaged, another key) is a UserError: such a file must never become a
 * trusted apt keyring.
 */
export function requireKeyId(armored: string, keyId: string, source: string): PgpPublicKey[] {
  let keys: PgpPublicKey[];
  try {
    keys = readPublicKeys(armored);
  } catch (e) {
    throw new UserError(
      `${source} is not a usable OpenPGP public key: ${(e as Error).message}`,
      'the download is damaged or is not the signing key; delete it from the mirror or the cache and try again',
    );
  }
  const ids = allKeyIds(keys);
  if (!ids.includes(keyId.toUpperCase()))
    throw new UserError(
      `${source} does not contain the expected signing key ${keyId.toUpperCase()} (it holds ${ids.join(', ')}): refusing to trust it`,
      "the file is not the publisher's current signing key; replace it in the mirror (or delete it from the cache) with the key from the official URL",
    );
  return keys;
}

/** A signing key to fetch: no checksum list exists, it is checked by the key id it must hold. */
export interface SigningKeySpec {
  id: string;
  url: string;
  /** Name in the cache and in a mirror: `<cache>/artifacts/<id>/<file>`, `<mirror>/<id>/<file>`. */
  file: string;
  keyId: string;
}

export interface CachedSigningKey {
  path: string;
  sha256: string;
  armored: string;
  keys: PgpPublicKey[];
}

/** The key cannot be read from upstream or the mirror (offline machine, missing file). */
export class SigningKeyUnavailable extends UserError {
  override name = 'SigningKeyUnavailable';
  constructor(
    readonly source: string,
    readonly reason: string,
    spec: SigningKeySpec,
  ) {
    super(
      `cannot fetch ${spec.id} from ${source}: ${reason}`,
      `without internet access, give a copy with --mirror DIR|URL (laid out as DIR/${spec.id}/${spec.file}, a copy of ${spec.url})`,
    );
  }
}

async function download(url: string): Promise<Buffer> {
  let last: unknown;
  for (let attempt = 1; attempt <= 2; attempt++) {
    try {
      const res = await fetch(url, { headers: { 'user-agent': 'ebpf-lab' }, signal: AbortSignal.timeout(30_000) });
      if (!res.ok) throw new Error(`HTTP ${res.status}`);
      return Buffer.from(await res.arrayBuffer());
    } catch (e) {
      last = e;
      if (attempt < 2) await new Promise((r) => setTimeout(r, 1000));
    }
  }
  throw last;
}

const isUrl = (s: string) => /^https?:\/\//.test(s);

/**
 * Returns the signing key from the local cache, fetching it once from the mirror (when
 * given) or upstream. The cached copy is re-checked on every use; a copy without the
 * expected key id is refused (UserError) and never enters the cache. An unreachable
 * source throws {@link SigningKeyUnavailable}.
 */
export async function ensureSigningKey(spec: SigningKeySpec, opts: FetchOptions): Promise<CachedSigningKey> {
  const path = join(opts.cacheDir, 'artifacts', spec.id, spec.file);
  const result = (armored: string, keys: PgpPublicKey[]): CachedSigningKey => ({
    path,
    armored,
    keys,
    sha256: createHash('sha256').update(armored).digest('hex'),
  });
  try {
    const cached = await readFile(path, 'utf8');
    try {
      return result(cached, requireKeyId(cached, spec.keyId, path));
    } catch {
      opts.log?.(`cached ${path} is not the expected key: fetching it again`);
    }
  } catch {
    /* not cached yet */
  }
  const rel = `${spec.id}/${spec.file}`;
  const source = !opts.mirror
    ? spec.url
    : isUrl(opts.mirror)
      ? `${opts.mirror.replace(/\/+$/, '')}/${rel}`
      : join(isAbsolute(opts.mirror) ? opts.mirror : resolve(opts.mirror), rel);
  opts.log?.(`fetching ${spec.id} from ${redactUrls(source)}`);
  let data: Buffer;
  try {
    data = isUrl(source) ? await (opts.download ?? download)(source) : await readFile(source);
  } catch (e) {
    const err = e as Error & { cause?: { message?: string } };
    throw new SigningKeyUnavailable(
      redactUrls(source),
      redactUrls(err.cause?.message ? `${err.message} (${err.cause.message})` : err.message),
      spec,
    );
  }
  const armored = data.toString('utf8');
  const keys = requireKeyId(armored, spec.keyId, redactUrls(source));
  await mkdir(dirname(path), { recursive: true });
  const tmp = `${path}.${process.pid}.part`;
  await writeFile(tmp, armored, { mode: 0o644 });
  await rename(tmp, path);
  return result(armored, keys);
}
