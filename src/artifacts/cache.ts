import { redactUrls } from '../redact.js';
import { createHash } from 'node:crypto';
import { mkdir, readFile, rename, writeFile, stat } from 'node:fs/promises';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { UserError } from '../errors.js';
import { parseChecksums, type Arch, type ArtifactSpec } from './manifest.js';
import { assertResolvable } from './reach.js';

export interface FetchOptions {
  cacheDir: string;
  /** A directory or https URL laid out as <mirror>/<id>/<version>/<file> (+ sha256sums.txt). */
  mirror?: string;
  log?: (line: string) => void;
  /** Injected for tests; defaults to global fetch with retries. */
  download?: (url: string) => Promise<Buffer>;
}

export interface CachedArtifact {
  path: string;
  sha256: string;
  bytes: number;
}

/**
 * How a recorded artifact's content is known to be the right one:
 * - `pinned`: its sha256 is pinned in ebpf-lab's manifest, from a source other than the download;
 * - `tofu`: trust on first use — the sha256 came from the release's own sha256sums.txt when it
 *   was first fetched, and every later copy must match that record;
 * - `fingerprint`: a signing key, accepted for the full fingerprint of its primary key.
 */
export type Trust = 'pinned' | 'tofu' | 'fingerprint';

/** One entry of the artifact record (`<cache>/artifacts/artifacts.lock.json`). */
export interface ArtifactRecord {
  /** `<id>@<version>/<file>` for releases, `<id>/<file>` for signing keys. */
  key: string;
  sha256: string;
  trust: Trust;
  /** Where the file was fetched from (URL or mirror path); absent for records of older ebpf-lab versions. */
  source?: string;
  /** What the sha256 was checked against: the pin's source, the checksum list, or the key fingerprint. */
  checkedBy?: string;
  /** When it was first fetched and recorded (ISO 8601). */
  fetchedAt?: string;
}

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

export const isUrl = (s: string): boolean => /^[a-z][a-z0-9+.-]*:\/\//i.test(s);
const isHttps = (s: string) => /^https:\/\//i.test(s);

/**
 * Refuses to fetch `what` from `source` over a channel that authenticates nothing: only
 * https URLs and local paths are sources. `pinned` (the sha256 is pinned in the manifest)
 * does not relax it here; --mirror refuses http:// before any of this runs.
 */
export function assertAuthenticated(source: string, what: string, pinned: boolean): void {
  if (!isUrl(source) || isHttps(source)) return;
  throw new UserError(
    `refusing to fetch ${what} from ${redactUrls(source)}: ${/^http:/i.test(source) ? 'plain http' : 'that scheme'} is not authenticated${pinned ? '' : ' and its sha256 is not pinned in ebpf-lab'}`,
    'use an https:// mirror, or a local directory (--mirror DIR)',
  );
}

/** Where an artifact lives in the cache (and, relative, in a mirror). */
export function artifactRel(spec: ArtifactSpec, arch: Arch): string {
  return join(spec.id, spec.version, spec.file(arch));
}

async function httpGet(url: string): Promise<Buffer> {
  await assertResolvable(url);
  let last: unknown;
  for (let attempt = 1; attempt <= 3; attempt++) {
    try {
      const headers: Record<string, string> = { 'user-agent': 'ebpf-lab' };
      if (process.env['GITHUB_TOKEN'] && url.startsWith('https://github.com/'))
        headers['authorization'] = `Bearer ${process.env['GITHUB_TOKEN']}`;
      const res = await fetch(url, { headers, signal: AbortSignal.timeout(120_000) });
      if (res.status === 404) throw Object.assign(new Error(`404 Not Found: ${url}`), { final: true });
      if (!res.ok) throw new Error(`HTTP ${res.status} for ${url}`);
      return Buffer.from(await res.arrayBuffer());
    } catch (e) {
      last = e;
      // No DNS answer or nobody listening: an offline machine, not a flaky download.
      const code = (e as { cause?: { code?: string } }).cause?.code;
      if ((e as { final?: boolean }).final || code === 'ENOTFOUND' || code === 'ECONNREFUSED' || code === 'EAI_AGAIN') {
        if (code) last = new Error(`${code}: ${(e as { cause?: { message?: string } }).cause?.message ?? ''}`.trim());
        break;
      }
      await new Promise((r) => setTimeout(r, 1000 * attempt));
    }
  }
  throw last;
}

async function readSource(source: string, opts: FetchOptions): Promise<Buffer> {
  if (isUrl(source)) return (opts.download ?? httpGet)(source);
  return readFile(source);
}

/** `rel` under the mirror: a URL joined with `/`, or a path under the (resolved) directory. */
export function mirrorPath(mirror: string, rel: string): string {
  if (isUrl(mirror)) return mirror.replace(/\/+$/, '') + '/' + rel.split('\\').join('/');
  return join(isAbsolute(mirror) ? mirror : resolve(mirror), rel);
}

type Lock = Record<string, Omit<ArtifactRecord, 'key'>>;
/** The record of every artifact fetched: what ebpf-lab trusts, and why (see {@link Trust}). */
export const lockPath = (cacheDir: string): string => join(cacheDir, 'artifacts', 'artifacts.lock.json');

async function readLock(cacheDir: string): Promise<Lock> {
  let raw: unknown;
  try {
    raw = JSON.parse(await readFile(lockPath(cacheDir), 'utf8'));
  } catch {
    return {};
  }
  if (!raw || typeof raw !== 'object') return {};
  const o = raw as { version?: number; artifacts?: Lock };
  if (o.version === 2 && o.artifacts && typeof o.artifacts === 'object') return o.artifacts;
  // Version 1 (ebpf-lab before the record said where and when): `{ key: sha256 }`, all first-use records.
  const out: Lock = {};
  for (const [k, v] of Object.entries(raw as Record<string, unknown>))
    if (typeof v === 'string' && /^[0-9a-f]{64}$/.test(v)) out[k] = { sha256: v, trust: 'tofu' };
  return out;
}

/** Every recorded artifact, sorted by key. */
export async function readArtifactRecords(cacheDir: string): Promise<ArtifactRecord[]> {
  const lock = await readLock(cacheDir);
  return Object.keys(lock)
    .sort()
    .map((key) => ({ key, ...lock[key]! }));
}

async function writeAtomic(path: string, data: Buffer | string, mode = 0o644): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  const tmp = `${path}.${process.pid}.part`;
  await writeFile(tmp, data, { mode });
  await rename(tmp, path);
}

/** Adds or replaces one record (read-modify-write of the lock file, re-read just before writing). */
export async function recordArtifact(cacheDir: string, key: string, rec: Omit<ArtifactRecord, 'key'>): Promise<void> {
  const lock = await readLock(cacheDir);
  lock[key] = rec;
  await writeAtomic(lockPath(cacheDir), JSON.stringify({ version: 2, artifacts: lock }, null, 2) + '\n');
}

/**
 * Returns the artifact from the local cache, fetching it once (from the mirror when given,
 * else upstream; https or a local directory only). Its sha256 must match the value pinned in
 * the manifest, else the value recorded on first fetch, else — trust on first use — the
 * release's own sha256sums.txt, which is then recorded with where it came from and when. A
 * mismatch is refused and the file never enters the cache; a cached file with nothing to
 * check it against is fetched and checked again. Unreachable sources are a UserError naming
 * --mirror and --skip.
 */
export async function ensureArtifact(spec: ArtifactSpec, arch: Arch, opts: FetchOptions): Promise<CachedArtifact> {
  const rel = artifactRel(spec, arch);
  const path = join(opts.cacheDir, 'artifacts', rel);
  const key = `${spec.id}@${spec.version}/${spec.file(arch)}`;
  const lock = await readLock(opts.cacheDir);
  const pin = spec.sha256?.[arch];
  const expected = pin ?? lock[key]?.sha256;
  try {
    const have = await readFile(path);
    const h = sha256(have);
    if (expected && h === expected) return { path, sha256: h, bytes: have.length };
    opts.log?.(
      expected
        ? `cached ${key} does not match its ${pin ? 'pinned' : 'recorded'} sha256: fetching it again`
        : `cached ${key} has no recorded sha256: fetching it again`,
    );
  } catch {
    /* not cached yet */
  }
  const source = opts.mirror ? mirrorPath(opts.mirror, rel) : spec.url(arch);
  const shown = redactUrls(source); // a mirror URL's credentials are never printed
  const sumsSource = opts.mirror
    ? mirrorPath(opts.mirror, join(spec.id, spec.version, 'sha256sums.txt'))
    : spec.checksumsUrl;
  assertAuthenticated(source, `${spec.id} ${spec.version} (${spec.file(arch)})`, Boolean(pin));
  if (!expected && sumsSource)
    assertAuthenticated(sumsSource, `the checksum list of ${spec.id} ${spec.version}`, false);
  opts.log?.(`fetching ${key} from ${shown}`);
  let data: Buffer;
  let want = expected;
  try {
    data = await readSource(source, opts);
    if (!want) {
      if (!sumsSource) throw new Error(`no checksum source for ${key}`);
      want = parseChecksums((await readSource(sumsSource, opts)).toString('utf8')).get(spec.file(arch));
      if (!want)
        throw new UserError(
          `the checksum list for ${spec.id} ${spec.version} has no entry for ${spec.file(arch)}`,
          'the release may not ship this architecture; check --exporter-version',
        );
    }
  } catch (e) {
    if (e instanceof UserError) throw e;
    throw new UserError(
      `cannot fetch ${spec.id} ${spec.version} (${spec.file(arch)}) from ${shown}: ${redactUrls((e as Error).message)}`,
      `without internet access, give a local copy with --mirror DIR|https://URL (laid out as DIR/${rel} plus DIR/${join(spec.id, spec.version, 'sha256sums.txt')}), or leave the step out with --skip`,
    );
  }
  const got = sha256(data);
  if (got !== want)
    throw new UserError(
      `${key} from ${shown} has sha256 ${got}, expected ${want} (${pin ? `pinned in ebpf-lab: ${spec.pinSource ?? 'manifest'}` : lock[key] ? `recorded on first use ${lock[key].fetchedAt ?? ''}`.trim() : `from ${redactUrls(String(sumsSource))}`}): refusing to install it`,
      'the download is corrupt or was tampered with; delete it from the mirror or try again later',
    );
  await writeAtomic(path, data, 0o644);
  const known = lock[key];
  if (!known || known.sha256 !== got || (pin && known.trust !== 'pinned'))
    await recordArtifact(
      opts.cacheDir,
      key,
      pin
        ? {
            sha256: got,
            trust: 'pinned',
            source: shown,
            checkedBy: `sha256 pinned in ebpf-lab (${spec.pinSource ?? 'manifest'})`,
            fetchedAt: new Date().toISOString(),
          }
        : {
            sha256: got,
            trust: 'tofu',
            source: shown,
            checkedBy: sumsSource && redactUrls(sumsSource),
            fetchedAt: new Date().toISOString(),
          },
    );
  return { path, sha256: got, bytes: (await stat(path)).size };
}
