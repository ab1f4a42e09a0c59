import { redactUrls } from '../redact.js';
import { createHash } from 'node:crypto';
import { mkdir, readFile, rename, writeFile, stat } from 'node:fs/promises';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { UserError } from '../errors.js';
import { parseChecksums, type Arch, type ArtifactSpec } from './manifest.js';

export interface FetchOptions {
  cacheDir: string;
  /** A directory or http(s) URL laid out as <mirror>/<id>/<version>/<file> (+ sha256sums.txt). */
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

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/** Where an artifact lives in the cache (and, relative, in a mirror). */
export function artifactRel(spec: ArtifactSpec, arch: Arch): string {
  return join(spec.id, spec.version, spec.file(arch));
}

async function httpGet(url: string): Promise<Buffer> {
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
  if (/^https?:\/\//.test(source)) return (opts.download ?? httpGet)(source);
  return readFile(source);
}

function mirrorPath(mirror: string, rel: string): string {
  if (/^https?:\/\//.test(mirror)) return mirror.replace(/\/+$/, '') + '/' + rel.split('\\').join('/');
  return join(isAbsolute(mirror) ? mirror : resolve(mirror), rel);
}

type Lock = Record<string, string>;
const lockPath = (cacheDir: string) => join(cacheDir, 'artifacts', 'artifacts.lock.json');

async function readLock(cacheDir: string): Promise<Lock> {
  try {
    return JSON.parse(await readFile(lockPath(cacheDir), 'utf8')) as Lock;
  } catch {
    return {};
  }
}

async function writeAtomic(path: string, data: Buffer | string, mode = 0o644): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  const tmp = `${path}.${process.pid}.part`;
  await writeFile(tmp, data, { mode });
  await rename(tmp, path);
}

/**
 * Returns the artifact from the local cache, fetching it once (from the mirror when
 * given, else upstream). Its sha256 must match the pinned value, else the value recorded
 * on first fetch, else the release's sha256sums.txt; a mismatch is refused and the file
 * never enters the cache. Unreachable sources are a UserError naming --mirror and --skip.
 */
export async function ensureArtifact(spec: ArtifactSpec, arch: Arch, opts: FetchOptions): Promise<CachedArtifact> {
  const rel = artifactRel(spec, arch);
  const path = join(opts.cacheDir, 'artifacts', rel);
  const key = `${spec.id}@${spec.version}/${spec.file(arch)}`;
  const lock = await readLock(opts.cacheDir);
  const expected = spec.sha256?.[arch] ?? lock[key];
  try {
    const have = await readFile(path);
    const h = sha256(have);
    if (!expected || h === expected) return { path, sha256: h, bytes: have.length };
    opts.log?.(`cached ${key} does not match its recorded sha256: fetching it again`);
  } catch {
    /* not cached yet */
  }
  const source = opts.mirror ? mirrorPath(opts.mirror, rel) : spec.url(arch);
  const shown = redactUrls(source); // a mirror URL's credentials are never printed
  opts.log?.(`fetching ${key} from ${shown}`);
  let data: Buffer;
  let want = expected;
  try {
    data = await readSource(source, opts);
    if (!want) {
      const sumsSource = opts.mirror
        ? mirrorPath(opts.mirror, join(spec.id, spec.version, 'sha256sums.txt'))
        : spec.checksumsUrl;
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
      `without internet access, give a local copy with --mirror DIR|URL (laid out as DIR/${rel} plus DIR/${join(spec.id, spec.version, 'sha256sums.txt')}), or leave the step out with --skip`,
    );
  }
  const got = sha256(data);
  if (got !== want)
    throw new UserError(
      `${key} from ${shown} has sha256 ${got}, expected ${want}: refusing to install it`,
      'the download is corrupt or was tampered with; delete it from the mirror or try again later',
    );
  await writeAtomic(path, data, 0o644);
  if (!spec.sha256?.[arch] && lock[key] !== got) {
    const fresh = await readLock(opts.cacheDir);
    fresh[key] = got;
    await writeAtomic(lockPath(opts.cacheDir), JSON.stringify(fresh, null, 2) + '\n');
  }
  return { path, sha256: got, bytes: (await stat(path)).size };
}
