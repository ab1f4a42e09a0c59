import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { main } from '../../src/cli.js';
import { lockPath, recordArtifact } from '../../src/artifacts/cache.js';
import { labSecret } from '../../src/secrets.js';

/** `ebpf-lab artifacts` against a real record in a temporary cache (nothing is fetched). */
let home: string;
let cache: string;
let out: string;
beforeEach(() => {
  home = mkdtempSync(join(tmpdir(), 'ebpf-lab-art-home-'));
  cache = mkdtempSync(join(tmpdir(), 'ebpf-lab-art-cache-'));
  vi.stubEnv('EBPF_LAB_HOME', home);
  vi.stubEnv('EBPF_LAB_CACHE', cache);
  out = '';
  vi.spyOn(process.stdout, 'write').mockImplementation((s: string | Uint8Array) => ((out += String(s)), true));
});
afterEach(() => {
  vi.restoreAllMocks();
  vi.unstubAllEnvs();
  rmSync(home, { recursive: true, force: true });
  rmSync(cache, { recursive: true, force: true });
});

const SHA = (c: string) => c.repeat(64);
async function seed() {
  await recordArtifact(cache, 'ebpf_exporter@2.5.1/ebpf_exporter.x86_64', {
    sha256: SHA('a'),
    trust: 'tofu',
    source: 'https://github.com/cloudflare/ebpf_exporter/releases/download/v2.5.1/ebpf_exporter.x86_64',
    checkedBy: 'https://github.com/cloudflare/ebpf_exporter/releases/download/v2.5.1/sha256sums.txt',
    fetchedAt: '2026-01-02T03:04:05.000Z',
  });
  await recordArtifact(cache, 'prometheus@3.5.0/prometheus-3.5.0.linux-amd64.tar.gz', {
    sha256: SHA('b'),
    trust: 'pinned',
    source: '/srv/mirror/prometheus/3.5.0/prometheus-3.5.0.linux-amd64.tar.gz',
    checkedBy: 'sha256 pinned in ebpf-lab (openstack/kolla …)',
    fetchedAt: '2026-01-02T03:04:06.000Z',
  });
  await recordArtifact(cache, 'grafana-apt-key/grafana-gpg-full.key', {
    sha256: SHA('c'),
    trust: 'fingerprint',
    source: 'https://apt.grafana.com/gpg-full.key',
    checkedBy: 'primary key fingerprint pinned in ebpf-lab: B53AE77BADB630A683046005963FA27710458545',
    fetchedAt: '2026-01-02T03:04:07.000Z',
  });
}

describe('ebpf-lab artifacts', () => {
  it('lists every recorded artifact: sha256, how it is trusted, where from and when', async () => {
    await seed();
    expect(await main(['artifacts'])).toBe(0);
    expect(out).toContain(`artifacts recorded in ${lockPath(cache)}:`);
    expect(out).toMatch(
      /ebpf_exporter@2\.5\.1\/ebpf_exporter\.x86_64\n {4}sha256 a{64} {2}\(tofu\)\n {4}from https:\/\/github\.com\/\S+\/ebpf_exporter\.x86_64 at 2026-01-02T03:04:05\.000Z\n {4}checked against \S+\/sha256sums\.txt/,
    );
    expect(out).toMatch(/prometheus@3\.5\.0\/prometheus-3\.5\.0\.linux-amd64\.tar\.gz\n {4}sha256 b{64} {2}\(pinned\)/);
    expect(out).toMatch(/grafana-apt-key\/grafana-gpg-full\.key\n {4}sha256 c{64} {2}\(fingerprint\)/);
    expect(out).toMatch(/^tofu {8}trust on first use: the sha256 from the release's own sha256sums\.txt/m);
  });

  it('--output json: one object with the lock path and every record', async () => {
    await seed();
    expect(await main(['artifacts', '--output', 'json'])).toBe(0);
    const j = JSON.parse(out);
    expect(j.lock).toBe(lockPath(cache));
    expect(j.artifacts.map((a: { key: string; trust: string }) => [a.key, a.trust])).toEqual([
      ['ebpf_exporter@2.5.1/ebpf_exporter.x86_64', 'tofu'],
      ['grafana-apt-key/grafana-gpg-full.key', 'fingerprint'],
      ['prometheus@3.5.0/prometheus-3.5.0.linux-amd64.tar.gz', 'pinned'],
    ]);
    expect(j.artifacts[0]).toMatchObject({ sha256: SHA('a'), fetchedAt: '2026-01-02T03:04:05.000Z' });
    expect(j.artifacts[0].means).toMatch(/trust on first use/);
  });

  it('nothing recorded yet: says so and how records appear', async () => {
    expect(await main(['artifacts'])).toBe(0);
    expect(out).toMatch(/^no artifacts recorded yet in .*artifacts\.lock\.json: `ebpf-lab up` records each download/);
    out = '';
    expect(await main(['artifacts', '--output', 'json'])).toBe(0);
    expect(JSON.parse(out)).toEqual({ lock: lockPath(cache), artifacts: [] });
  });

  it('prints no lab secret (plain and json)', async () => {
    await seed();
    const pw = await labSecret('sandbox:default', 'grafana');
    await main(['artifacts']);
    await main(['artifacts', '--output', 'json']);
    expect(out.length).toBeGreaterThan(500);
    expect(out).not.toContain(pw);
  });

  it('--help says which downloads are pinned and which are trusted on first use', async () => {
    await main(['--help']);
    expect(out).toMatch(/ebpf_exporter's is trust on first use/);
    expect(out).toMatch(/Grafana's APT key is pinned by its primary key's full fingerprint/);
    expect(out).toMatch(/--mirror takes a local\s+directory or an https:\/\/ URL, never http:\/\//);
    expect(out).toMatch(/artifacts \[options\]\s+every recorded download/);
    out = '';
    await main(['up', '--help']);
    expect(out).toMatch(
      /--mirror <dir\|url>\s+downloads from a local directory or an\s+https:\/\/ URL \(never http:\/\/\)/,
    );
  });
});
