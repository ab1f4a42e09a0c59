import { redactUrls } from '../redact.js';
import { createHash } from 'node:crypto';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { UserError } from '../errors.js';
import { assertAuthenticated, isUrl, mirrorPath, recordArtifact, type FetchOptions } from './cache.js';
import type { SigningKeySpec } from './manifest.js';
import { assertResolvable, isOffline } from './reach.js';

export type { SigningKeySpec };

/**
 * Just enough OpenPGP (RFC 4880 / RFC 9580) to decide which repository signing key apt may
 * trust: dearmor, split packets, compute fingerprints of primary keys and subkeys, read the
 * self-signatures' expiry and revocations, and re-serialise a transferable public key.
 *
 * What is checked here is *which* key: a primary key pinned by its full fingerprint. No
 * signature is verified cryptographically here (that is apt's job, with the keyring built
 * here): the expiry and revocation read from the signatures only turn a key apt would refuse
 * anyway into a clear error now; they are not a security decision.
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
  /**
   * When the key expires, from the key-expiration-time subpacket (type 9) of its newest
   * self-signature (user-id certification or direct-key signature for a primary key, binding
   * signature for a subkey); undefined: it does not expire.
   */
  expires?: Date;
  /** A revocation signature is attached (0x20 for a primary key, 0x28 for a subkey). */
  revoked: boolean;
}

/** A primary key (packet tag 6) with its user ids (tag 13) and subkeys (tag 14). */
export interface PgpPublicKey extends PgpKeyInfo {
  userIds: string[];
  subkeys: PgpKeyInfo[];
  /** Every packet of this transferable public key, in file order: its key packet up to the next primary key. */
  packets: PgpPacket[];
}

export interface PgpPacket {
  tag: number;
  body: Buffer;
}

/** What is read from a signature packet (v3, v4, v5 and v6 layouts). */
export interface PgpSignature {
  version: number;
  /** Signature type: 0x10-0x13 certifications, 0x18 subkey binding, 0x1f direct key, 0x20/0x28 revocations. */
  type: number;
  created?: Date;
  /** Key expiration time: seconds after the key's creation; 0 means never. */
  keyExpirationSeconds?: number;
  /** Upper-case hex, 16 digits (issuer key id subpacket, or the v3 key id field). */
  issuerKeyId?: string;
  /** Upper-case hex (issuer fingerprint subpacket). */
  issuerFingerprint?: string;
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
    if (i >= lines.length) throw new Error('armored key: no END line (the file is cut short)');
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

/** ASCII armor of binary public-key packets: 64-column base64 and the CRC-24 line. */
export function armor(data: Buffer): string {
  const b64 = data.toString('base64');
  const lines = b64.match(/.{1,64}/g) ?? [];
  const sum = Buffer.alloc(3);
  sum.writeUIntBE(crc24(data), 0, 3);
  return [
    '-----BEGIN PGP PUBLIC KEY BLOCK-----',
    '',
    ...lines,
    `=${sum.toString('base64')}`,
    '-----END PGP PUBLIC KEY BLOCK-----',
    '',
  ].join('\n');
}

/** Splits binary OpenPGP data into packets (old and new header formats). */
export function parsePackets(data: Buffer): PgpPacket[] {
  const out: PgpPacket[] = [];
  let p = 0;
  const need = (n: number) => {
    if (p + n > data.length) throw new Error(`OpenPGP packet truncated at byte ${p} (the file is cut short)`);
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

/** One packet in the format gpg writes: old-format header for tags below 16, new format above. */
export function encodePacket({ tag, body }: PgpPacket): Buffer {
  const len = body.length;
  let head: number[];
  if (tag < 16) {
    const type = len < 0x100 ? 0 : len < 0x10000 ? 1 : 2;
    const n = [1, 2, 4][type]!;
    head = [0x80 | (tag << 2) | type];
    for (let i = n - 1; i >= 0; i--) head.push(Math.floor(len / 256 ** i) & 0xff);
  } else {
    head = [0xc0 | tag];
    if (len < 192) head.push(len);
    else if (len < 8384) head.push(((len - 192) >> 8) + 192, (len - 192) & 0xff);
    else head.push(255, (len >>> 24) & 0xff, (len >> 16) & 0xff, (len >> 8) & 0xff, len & 0xff);
  }
  return Buffer.concat([Buffer.from(head), body]);
}

/** Fingerprint and key id of a public-key or public-subkey packet body. */
export function keyInfo(body: Buffer): PgpKeyInfo {
  const version = body[0];
  if (body.length < 6) throw new Error('key packet too short');
  let fingerprint: string;
  let keyId: string;
  if (version === 4) {
    // RFC 4880 12.2: SHA-1 over 0x99, the two-octet packet length and the packet body.
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
  return {
    version,
    fingerprint,
    keyId,
    algorithm: body[5]!,
    created: new Date(body.readUInt32BE(1) * 1000),
    revoked: false,
  };
}

/** The subpackets of one signature subpacket area: [type, data] in order. */
function subpackets(area: Buffer): Array<[number, Buffer]> {
  const out: Array<[number, Buffer]> = [];
  let p = 0;
  while (p < area.length) {
    const o1 = area[p++]!;
    let len: number;
    if (o1 < 192) len = o1;
    else if (o1 < 255) {
      if (p >= area.length) throw new Error('signature subpacket truncated');
      len = ((o1 - 192) << 8) + area[p++]! + 192;
    } else {
      if (p + 4 > area.length) throw new Error('signature subpacket truncated');
      len = area.readUInt32BE(p);
      p += 4;
    }
    if (len < 1 || p + len > area.length) throw new Error('signature subpacket truncated');
    out.push([area[p]! & 0x7f, area.subarray(p + 1, p + len)]);
    p += len;
  }
  return out;
}

/** Type, creation time, key expiration and issuer of a signature packet body. */
export function parseSignature(body: Buffer): PgpSignature {
  const version = body[0]!;
  if (version === 3) {
    if (body.length < 19) throw new Error('signature packet too short');
    return {
      version,
      type: body[2]!,
      created: new Date(body.readUInt32BE(3) * 1000),
      issuerKeyId: body.subarray(7, 15).toString('hex').toUpperCase(),
    };
  }
  if (version !== 4 && version !== 5 && version !== 6) throw new Error(`unsupported signature version ${version}`);
  const wide = version === 6; // RFC 9580: four-octet subpacket area lengths
  const n = wide ? 4 : 2;
  const read = (at: number) => {
    if (at + n > body.length) throw new Error('signature packet truncated');
    return wide ? body.readUInt32BE(at) : body.readUInt16BE(at);
  };
  const hashedLen = read(4);
  const hashedStart = 4 + n;
  const unhashedAt = hashedStart + hashedLen;
  const unhashedLen = read(unhashedAt);
  if (unhashedAt + n + unhashedLen > body.length) throw new Error('signature packet truncated');
  const sig: PgpSignature = { version, type: body[1]! };
  const areas = [
    { hashed: true, data: body.subarray(hashedStart, unhashedAt) },
    { hashed: false, data: body.subarray(unhashedAt + n, unhashedAt + n + unhashedLen) },
  ];
  for (const { hashed, data } of areas)
    for (const [type, d] of subpackets(data)) {
      // Only the hashed area is covered by the signature; the issuer may sit in either.
      if (type === 2 && hashed && d.length >= 4) sig.created = new Date(d.readUInt32BE(0) * 1000);
      else if (type === 9 && hashed && d.length >= 4) sig.keyExpirationSeconds = d.readUInt32BE(0);
      else if (type === 16 && d.length === 8) sig.issuerKeyId ??= d.toString('hex').toUpperCase();
      else if (type === 33 && d.length > 1) sig.issuerFingerprint ??= d.subarray(1).toString('hex').toUpperCase();
    }
  return sig;
}

/** The expiry a self-signature gives a key created at `created`. */
function expiryOf(created: Date, sig: PgpSignature | undefined): Date | undefined {
  return sig?.keyExpirationSeconds ? new Date(created.getTime() + sig.keyExpirationSeconds * 1000) : undefined;
}

/** Packets a transferable public key may hold (RFC 4880 11.1); anything else is refused. */
const KEY_PACKETS = new Set([2 /* signature */, 6, 12 /* trust */, 13 /* user id */, 14, 17 /* user attribute */]);

/**
 * Splits OpenPGP key data into transferable public keys. `data` is ASCII armor (text or
 * bytes) or binary packets. Throws (plain Error, with the reason) on anything that is not a
 * well-formed public key file: cut short, damaged armor, secret-key or other packets, a
 * subkey or user id before any primary key, no key at all.
 */
export function readPublicKeys(data: string | Buffer): PgpPublicKey[] {
  const buf = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
  const text = buf.toString('latin1');
  let bytes: Buffer;
  if (/-----BEGIN PGP PUBLIC KEY BLOCK-----/.test(text)) bytes = dearmor(buf.toString('utf8'));
  else if (buf.length > 0 && buf[0]! & 0x80) bytes = buf;
  else if (/-----BEGIN PGP/.test(text)) throw new Error('an armored OpenPGP block that is not a PUBLIC KEY BLOCK');
  else throw new Error('neither an ASCII-armored nor a binary OpenPGP public key');
  const keys: PgpPublicKey[] = [];
  type Ctx = { kind: 'key' } | { kind: 'uid' } | { kind: 'subkey'; key: PgpKeyInfo };
  let ctx: Ctx = { kind: 'key' };
  // Newest self-signature seen per key or subkey (by creation time), for the expiry.
  const newest = new Map<PgpKeyInfo, PgpSignature>();
  const isSelf = (k: PgpKeyInfo, s: PgpSignature) =>
    (s.issuerFingerprint === undefined && s.issuerKeyId === undefined) ||
    s.issuerFingerprint === k.fingerprint ||
    s.issuerKeyId === k.keyId;
  const keep = (k: PgpKeyInfo, s: PgpSignature) => {
    const have = newest.get(k);
    if (!have || (s.created?.getTime() ?? 0) >= (have.created?.getTime() ?? 0)) newest.set(k, s);
  };
  for (const packet of parsePackets(bytes)) {
    const { tag, body } = packet;
    if (!KEY_PACKETS.has(tag))
      throw new Error(
        tag === 5 || tag === 7
          ? 'the file holds SECRET key material (packet tag ' + tag + '), not a public key'
          : `unexpected OpenPGP packet tag ${tag} in a public key file`,
      );
    if (tag === 6) {
      keys.push({ ...keyInfo(body), userIds: [], subkeys: [], packets: [packet] });
      ctx = { kind: 'key' };
      continue;
    }
    const cur = keys[keys.length - 1];
    if (!cur) throw new Error(`packet tag ${tag} before any primary key`);
    cur.packets.push(packet);
    if (tag === 13) {
      cur.userIds.push(body.toString('utf8'));
      ctx = { kind: 'uid' };
    } else if (tag === 17) ctx = { kind: 'uid' };
    else if (tag === 14) {
      const sub = keyInfo(body);
      cur.subkeys.push(sub);
      ctx = { kind: 'subkey', key: sub };
    } else if (tag === 2) {
      const sig = parseSignature(body);
      if (ctx.kind === 'subkey') {
        if (sig.type === 0x28) ctx.key.revoked = true;
        else if (sig.type === 0x18 && isSelf(cur, sig)) keep(ctx.key, sig);
      } else if (sig.type === 0x20) cur.revoked = true;
      else if (((sig.type >= 0x10 && sig.type <= 0x13) || sig.type === 0x1f) && isSelf(cur, sig)) keep(cur, sig);
    }
  }
  if (keys.length === 0) throw new Error('the data holds no public key');
  for (const k of keys) {
    k.expires = expiryOf(k.created, newest.get(k));
    for (const s of k.subkeys) s.expires = expiryOf(s.created, newest.get(s));
  }
  return keys;
}

/** The binary transferable public keys of `keys`, re-serialised from their packets (trust packets dropped). */
export function serializeKeys(keys: PgpPublicKey[]): Buffer {
  return Buffer.concat(keys.flatMap((k) => k.packets.filter((p) => p.tag !== 12).map(encodePacket)));
}

const spaced = (fpr: string) => fpr.replace(/(.{4})/g, '$1 ').trim();
const day = (d: Date) => d.toISOString().slice(0, 10);

export interface CheckedSigningKey {
  /** Every primary key in the file. */
  keys: PgpPublicKey[];
  /** The pinned keys that go into the keyring (not revoked, not expired). */
  trusted: PgpPublicKey[];
  /** Binary keyring: the trusted keys' transferable public keys, re-serialised. */
  keyring: Buffer;
  /** The same keyring, ASCII-armored (what is installed as an `.asc` keyring). */
  armored: string;
}

/**
 * Checks a key file (armored or binary) against `spec` and builds the keyring apt may use.
 * Refused with a UserError: a file that cannot be read (cut short, damaged), a file with any
 * primary key that is neither pinned nor retired (e.g. the real key plus an attacker's), a
 * file where the pinned fingerprint is only a subkey, and a pinned key that is revoked or
 * expired at `now`. The keyring holds only the pinned primary keys, each with its own user
 * ids, subkeys and signatures: apt trusts nothing else from the file.
 */
export function checkSigningKey(
  data: string | Buffer,
  spec: SigningKeySpec,
  source: string,
  now: Date = new Date(),
): CheckedSigningKey {
  let keys: PgpPublicKey[];
  try {
    keys = readPublicKeys(data);
  } catch (e) {
    throw new UserError(
      `${source} is not a usable OpenPGP public key: ${(e as Error).message}`,
      'the download is damaged or is not the signing key; delete it from the mirror or the cache and try again',
    );
  }
  const pinned = new Set(spec.fingerprints.map((f) => f.replace(/\s+/g, '').toUpperCase()));
  const retired = new Set((spec.retired ?? []).map((f) => f.replace(/\s+/g, '').toUpperCase()));
  const expected = [...pinned].map(spaced).join(', ');
  const asSubkey = keys.flatMap((k) =>
    k.subkeys
      .filter((s) => pinned.has(s.fingerprint))
      .map(
        (s) => ` ${spaced(s.fingerprint)} is in it only as a subkey of ${spaced(k.fingerprint)}, which is not pinned;`,
      ),
  );
  const strangers = keys.filter((k) => !pinned.has(k.fingerprint) && !retired.has(k.fingerprint));
  const hint = `only these primary keys are accepted: ${expected}; replace the file in the mirror (or delete it from the cache) with a copy of ${spec.url}`;
  if (strangers.length)
    throw new UserError(
      `${source} carries ${strangers.length === 1 ? 'a primary key' : `${strangers.length} primary keys`} that ebpf-lab does not trust for ${spec.name}:` +
        strangers.map((k) => ` ${spaced(k.fingerprint)}${k.userIds[0] ? ` (${k.userIds[0]})` : ''}`).join(',') +
        `;${asSubkey.join('')} refusing the whole file (apt would trust every key in it)`,
      hint,
    );
  const mine = keys.filter((k) => pinned.has(k.fingerprint));
  if (mine.length === 0)
    throw new UserError(`${source} holds none of the pinned primary keys of ${spec.name} (${expected})`, hint);
  const live = mine.filter((k) => !k.revoked);
  if (live.length === 0)
    throw new UserError(
      `the pinned key ${spaced(mine[0]!.fingerprint)} in ${source} is revoked`,
      `the publisher has withdrawn it: ebpf-lab needs an update that pins the new key of ${spec.name}`,
    );
  const trusted = live.filter((k) => !k.expires || k.expires.getTime() > now.getTime());
  if (trusted.length === 0)
    throw new UserError(
      `the pinned key ${spaced(live[0]!.fingerprint)} in ${source} expired on ${day(live[0]!.expires!)}`,
      `publishers extend a key's expiry in new copies of it: fetch ${spec.url} again (delete the cached or mirrored copy) and retry`,
    );
  const keyring = serializeKeys(trusted);
  return { keys, trusted, keyring, armored: armor(keyring) };
}

export interface CachedSigningKey {
  /** The publisher's key file as fetched (in the cache). */
  path: string;
  /** sha256 of that file. */
  sha256: string;
  /** The keyring built from it (only the pinned keys), ASCII-armored, also kept next to it. */
  keyringPath: string;
  keyring: string;
  keys: PgpPublicKey[];
  trusted: PgpPublicKey[];
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
      `without internet access, give a copy with --mirror DIR|https://URL (laid out as DIR/${spec.id}/${spec.file}, a copy of ${spec.url})`,
    );
  }
}

async function download(url: string): Promise<Buffer> {
  await assertResolvable(url);
  let last: unknown;
  for (let attempt = 1; attempt <= 2; attempt++) {
    try {
      const res = await fetch(url, { headers: { 'user-agent': 'ebpf-lab' }, signal: AbortSignal.timeout(30_000) });
      if (!res.ok) throw new Error(`HTTP ${res.status}`);
      return Buffer.from(await res.arrayBuffer());
    } catch (e) {
      last = e;
      // No DNS answer or nobody listening: an offline machine; a second try a second later finds the same.
      if (isOffline(e)) break;
      if (attempt < 2) await new Promise((r) => setTimeout(r, 1000));
    }
  }
  throw last;
}

async function writeAtomic(path: string, data: Buffer | string): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  const tmp = `${path}.${process.pid}.part`;
  await writeFile(tmp, data, { mode: 0o644 });
  await rename(tmp, path);
}

/**
 * Returns the signing key from the local cache, fetching it once from the mirror (when
 * given) or upstream, over https or from a local directory only. The file is checked with
 * {@link checkSigningKey} on every use; a cached copy that fails is fetched again, a fetched
 * copy that fails is refused (UserError) and never enters the cache. The keyring of the
 * pinned keys is written next to it (`<id>.keyring.asc`); the fetch is recorded in the
 * artifact record (see `ebpf-lab artifacts`). An unreachable source throws
 * {@link SigningKeyUnavailable}.
 */
export async function ensureSigningKey(
  spec: SigningKeySpec,
  opts: FetchOptions & { now?: Date },
): Promise<CachedSigningKey> {
  const path = join(opts.cacheDir, 'artifacts', spec.id, spec.file);
  const keyringPath = join(opts.cacheDir, 'artifacts', spec.id, `${spec.id}.keyring.asc`);
  const result = async (data: Buffer, k: CheckedSigningKey): Promise<CachedSigningKey> => {
    let have: string | undefined;
    try {
      have = await readFile(keyringPath, 'utf8');
    } catch {
      /* not written yet */
    }
    if (have !== k.armored) await writeAtomic(keyringPath, k.armored);
    return {
      path,
      sha256: createHash('sha256').update(data).digest('hex'),
      keyringPath,
      keyring: k.armored,
      keys: k.keys,
      trusted: k.trusted,
    };
  };
  try {
    const cached = await readFile(path);
    try {
      return await result(cached, checkSigningKey(cached, spec, path, opts.now));
    } catch (e) {
      opts.log?.(`cached ${path} is refused (${(e as Error).message.split('\n')[0]}): fetching it again`);
    }
  } catch {
    /* not cached yet */
  }
  const rel = `${spec.id}/${spec.file}`;
  const source = opts.mirror ? mirrorPath(opts.mirror, rel) : spec.url;
  const shown = redactUrls(source); // a mirror URL's credentials are never printed
  assertAuthenticated(source, `${spec.name} (${spec.file})`, false);
  opts.log?.(`fetching ${spec.id} from ${shown}`);
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
  const checked = checkSigningKey(data, spec, shown, opts.now);
  await writeAtomic(path, data);
  const out = await result(data, checked);
  await recordArtifact(opts.cacheDir, `${spec.id}/${spec.file}`, {
    sha256: out.sha256,
    trust: 'fingerprint',
    source: shown,
    checkedBy: `primary key fingerprint pinned in ebpf-lab: ${checked.trusted.map((k) => k.fingerprint).join(', ')}`,
    fetchedAt: new Date().toISOString(),
  });
  return out;
}
