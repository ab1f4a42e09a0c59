import { afterEach, describe, expect, it, beforeEach, vi } from 'vitest';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, mkdirSync, writeFileSync, existsSync, rmSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ensureArtifact, lockPath, readArtifactRecords } from '../../src/artifacts/cache.js';
import {
  ebpfExporter,
  prometheus,
  parseChecksums,
  archOf,
  GRAFANA_KEY,
  PROMETHEUS_VERSION,
} from '../../src/artifacts/manifest.js';
import { UserError } from '../../src/errors.js';
import { prepareArtifact } from '../../src/lab/artifact-skip.js';
import { fakeContext, factsFixture } from '../support/fake-host.js';

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

describe('artifact manifest', () => {
  it('names the right asset per architecture', () => {
    const e = ebpfExporter('2.5.1');
    expect(e.url('x86_64')).toBe(
      'https://github.com/cloudflare/ebpf_exporter/releases/download/v2.5.1/ebpf_exporter.x86_64',
    );
    expect(e.url('aarch64')).toBe(
      'https://github.com/cloudflare/ebpf_exporter/releases/download/v2.5.1/ebpf_exporter.aarch64',
    );
    expect(e.checksumsUrl).toBe('https://github.com/cloudflare/ebpf_exporter/releases/download/v2.5.1/sha256sums.txt');
    const p = prometheus('3.1.0');
    expect(p.url('x86_64')).toBe(
      'https://github.com/prometheus/prometheus/releases/download/v3.1.0/prometheus-3.1.0.linux-amd64.tar.gz',
    );
    expect(p.file('aarch64')).toBe('prometheus-3.1.0.linux-arm64.tar.gz');
    expect(archOf('aarch64')).toBe('aarch64');
    expect(() => archOf('riscv64')).toThrow(/riscv64/);
  });
  it('pins the sha256 of the default Prometheus release (from a source other than the download); the exporter is trust on first use', () => {
    const p = prometheus(PROMETHEUS_VERSION);
    expect(PROMETHEUS_VERSION).toBe('3.5.0');
    expect(p.sha256).toEqual({
      x86_64: 'e811827af26d822afb09a4f28314f61b618b12cff5369835a67f674d8b46f39a',
      aarch64: '173389cc42bf09c4e6e54cb53fa07a5a835d7c261e14775d2183181d6e385d1c',
    });
    expect(p.pinSource).toContain('openstack/kolla');
    expect(prometheus('3.1.0').sha256).toBeUndefined();
    expect(ebpfExporter('2.5.1').sha256).toBeUndefined();
  });
  it("pins Grafana's APT key by full v4 fingerprints: the signing key (long id 963FA27710458545) and its revoked predecessors", () => {
    for (const f of [...GRAFANA_KEY.fingerprints, ...GRAFANA_KEY.retired]) expect(f).toMatch(/^[0-9A-F]{40}$/);
    expect(GRAFANA_KEY.fingerprints).toEqual(['B53AE77BADB630A683046005963FA27710458545']);
    expect(GRAFANA_KEY.fingerprints[0]!.slice(-16)).toBe('963FA27710458545'); // the id apt names in NO_PUBKEY
    expect(GRAFANA_KEY.retired).toEqual([
      '4E40DDF6D76E284A4A6780E48C8C34C524098CB6',
      '0E22EB88E39E12277A7760AE9E439B102CF3C0C6',
    ]);
    expect(GRAFANA_KEY.url).toBe('https://apt.grafana.com/gpg-full.key');
  });
  it('parses both checksum line styles', () => {
    const m = parseChecksums(
      `${'a'.repeat(64)}  ebpf_exporter.x86_64\n${'B'.repeat(64)} *./prometheus.tar.gz\ngarbage\n`,
    );
    expect(m.get('ebpf_exporter.x86_64')).toBe('a'.repeat(64));
    expect(m.get('prometheus.tar.gz')).toBe('b'.repeat(64));
  });
});

// Stand-in artifacts: random bytes in a local mirror, since the real releases cannot be
// downloaded on this machine. They exercise the cache and the checksum logic only.
describe('artifact cache (stand-in files in a local mirror)', () => {
  let cacheDir: string;
  let mirror: string;
  const spec = ebpfExporter('2.5.1');
  const bin = randomBytes(4096);
  const put = (name: string, data: Buffer | string) => {
    mkdirSync(join(mirror, 'ebpf_exporter', '2.5.1'), { recursive: true });
    writeFileSync(join(mirror, 'ebpf_exporter', '2.5.1', name), data);
  };
  beforeEach(() => {
    cacheDir = mkdtempSync(join(tmpdir(), 'art-cache-'));
    mirror = mkdtempSync(join(tmpdir(), 'art-mirror-'));
    put('ebpf_exporter.x86_64', bin);
    put('sha256sums.txt', `${sha(bin)}  ebpf_exporter.x86_64\n${'0'.repeat(64)}  ebpf_exporter.aarch64\n`);
  });
  afterEach(() => {
    for (const d of [cacheDir, mirror]) rmSync(d, { recursive: true, force: true });
  });

  it('fetches once from the mirror, verifies, caches, records the sha256 with where it came from and when', async () => {
    const a = await ensureArtifact(spec, 'x86_64', { cacheDir, mirror });
    expect(a.sha256).toBe(sha(bin));
    expect(readFileSync(a.path)).toEqual(bin);
    const lock = JSON.parse(readFileSync(join(cacheDir, 'artifacts', 'artifacts.lock.json'), 'utf8'));
    expect(lock.version).toBe(2);
    expect(lock.artifacts['ebpf_exporter@2.5.1/ebpf_exporter.x86_64']).toMatchObject({
      sha256: sha(bin),
      trust: 'tofu',
      source: join(mirror, 'ebpf_exporter', '2.5.1', 'ebpf_exporter.x86_64'),
      checkedBy: join(mirror, 'ebpf_exporter', '2.5.1', 'sha256sums.txt'),
    });
    expect(Date.parse(lock.artifacts['ebpf_exporter@2.5.1/ebpf_exporter.x86_64'].fetchedAt)).toBeGreaterThan(
      Date.now() - 60_000,
    );
    rmSync(mirror, { recursive: true });
    const again = await ensureArtifact(spec, 'x86_64', { cacheDir, mirror }); // served from the cache
    expect(again.sha256).toBe(sha(bin));
  });

  it('refuses a corrupt download: wrong checksum, nothing enters the cache', async () => {
    put('ebpf_exporter.aarch64', randomBytes(100));
    const err = await ensureArtifact(spec, 'aarch64', { cacheDir, mirror }).catch((e) => e);
    expect(err).toBeInstanceOf(UserError);
    expect(err.message).toMatch(
      /has sha256 [0-9a-f]{64}, expected 0{64} \(from .*sha256sums\.txt\): refusing to install it/,
    );
    expect(existsSync(join(cacheDir, 'artifacts', 'ebpf_exporter', '2.5.1', 'ebpf_exporter.aarch64'))).toBe(false);
  });

  it('refuses a file that changed after its sha256 was recorded (a re-published or tampered release)', async () => {
    await ensureArtifact(spec, 'x86_64', { cacheDir, mirror });
    rmSync(join(cacheDir, 'artifacts', 'ebpf_exporter'), { recursive: true });
    const evil = randomBytes(4096);
    put('ebpf_exporter.x86_64', evil);
    put('sha256sums.txt', `${sha(evil)}  ebpf_exporter.x86_64\n`);
    await expect(ensureArtifact(spec, 'x86_64', { cacheDir, mirror })).rejects.toThrow(/refusing to install/);
  });

  it('a pinned sha256 in the manifest wins over the checksum file; a match is recorded as pinned', async () => {
    const wrong = { ...spec, sha256: { x86_64: 'f'.repeat(64) }, pinSource: 'test pin' };
    await expect(ensureArtifact(wrong, 'x86_64', { cacheDir, mirror })).rejects.toThrow(
      /expected f{64} \(pinned in ebpf-lab: test pin\)/,
    );
    const pinned = { ...spec, sha256: { x86_64: sha(bin) }, pinSource: 'test pin' };
    rmSync(join(mirror, 'ebpf_exporter', '2.5.1', 'sha256sums.txt')); // not needed when pinned
    await ensureArtifact(pinned, 'x86_64', { cacheDir, mirror });
    expect(await readArtifactRecords(cacheDir)).toEqual([
      expect.objectContaining({ key: 'ebpf_exporter@2.5.1/ebpf_exporter.x86_64', trust: 'pinned', sha256: sha(bin) }),
    ]);
    // a later different file stays refused, even with a checksum list that agrees with it
    rmSync(join(cacheDir, 'artifacts', 'ebpf_exporter'), { recursive: true });
    const evil = randomBytes(4096);
    put('ebpf_exporter.x86_64', evil);
    put('sha256sums.txt', `${sha(evil)}  ebpf_exporter.x86_64\n`);
    await expect(ensureArtifact(pinned, 'x86_64', { cacheDir, mirror })).rejects.toThrow(/refusing to install/);
  });

  it('a cached file with nothing to check it against is not trusted: it is fetched and checked again', async () => {
    mkdirSync(join(cacheDir, 'artifacts', 'ebpf_exporter', '2.5.1'), { recursive: true });
    writeFileSync(join(cacheDir, 'artifacts', 'ebpf_exporter', '2.5.1', 'ebpf_exporter.x86_64'), 'planted');
    const a = await ensureArtifact(spec, 'x86_64', { cacheDir, mirror });
    expect(readFileSync(a.path)).toEqual(bin);
  });

  it('reads the records of older ebpf-lab versions (a flat name -> sha256 map) as trust on first use', async () => {
    mkdirSync(join(cacheDir, 'artifacts'), { recursive: true });
    writeFileSync(lockPath(cacheDir), JSON.stringify({ 'ebpf_exporter@2.5.1/ebpf_exporter.x86_64': sha(bin) }));
    expect(await readArtifactRecords(cacheDir)).toEqual([
      { key: 'ebpf_exporter@2.5.1/ebpf_exporter.x86_64', sha256: sha(bin), trust: 'tofu' },
    ]);
    const evil = randomBytes(64);
    put('ebpf_exporter.x86_64', evil);
    put('sha256sums.txt', `${sha(evil)}  ebpf_exporter.x86_64\n`);
    await expect(ensureArtifact(spec, 'x86_64', { cacheDir, mirror })).rejects.toThrow(/recorded on first use/);
  });

  it('never fetches an unpinned artifact or a checksum list over plain http', async () => {
    const seen: string[] = [];
    const err = await ensureArtifact(spec, 'x86_64', {
      cacheDir,
      mirror: 'http://127.0.0.1:9/mirror/',
      download: async (url) => (seen.push(url), bin),
    }).catch((e) => e);
    expect(err).toBeInstanceOf(UserError);
    expect(err.message).toMatch(/plain http is not authenticated and its sha256 is not pinned/);
    expect(err.hint).toMatch(/https:\/\/ mirror, or a local directory/);
    expect(seen).toEqual([]);
    expect(existsSync(join(cacheDir, 'artifacts'))).toBe(false);
  });

  it('without internet says so and points to --mirror and --skip', async () => {
    const err = await ensureArtifact(spec, 'x86_64', {
      cacheDir,
      download: async (url) => {
        throw new Error(`getaddrinfo EAI_AGAIN github.com (${url})`);
      },
    }).catch((e) => e);
    expect(err).toBeInstanceOf(UserError);
    expect(err.message).toMatch(
      /cannot fetch ebpf_exporter 2.5.1 \(ebpf_exporter.x86_64\) from https:\/\/github.com\/cloudflare/,
    );
    expect(err.hint).toMatch(/--mirror DIR\|https:\/\/URL.*--skip/);
  });

  it('an https mirror URL is used as a base for the same layout', async () => {
    const seen: string[] = [];
    await ensureArtifact(spec, 'x86_64', {
      cacheDir,
      mirror: 'https://mirror.example.invalid/mirror/',
      download: async (url) => {
        seen.push(url);
        return url.endsWith('sha256sums.txt') ? Buffer.from(`${sha(bin)}  ebpf_exporter.x86_64\n`) : bin;
      },
    });
    expect(seen).toEqual([
      'https://mirror.example.invalid/mirror/ebpf_exporter/2.5.1/ebpf_exporter.x86_64',
      'https://mirror.example.invalid/mirror/ebpf_exporter/2.5.1/sha256sums.txt',
    ]);
  });

  it("a step's prepare stops on an unauthenticated source (never a quiet skip), but skips when offline", async () => {
    vi.stubEnv('EBPF_LAB_CACHE', cacheDir);
    try {
      const facts = factsFixture('debian-12-sandbox');
      const http = fakeContext({ facts }, { options: { mirror: 'http://127.0.0.1:9/mirror' } });
      await expect(prepareArtifact(http.ctx, spec)).rejects.toThrow(/refusing to fetch .*plain http/);
      const offline = fakeContext({ facts }, { options: { mirror: join(mirror, 'absent') } });
      expect(await prepareArtifact(offline.ctx, spec)).toMatch(/^cannot fetch ebpf_exporter 2\.5\.1/);
    } finally {
      vi.unstubAllEnvs();
    }
  });
});
