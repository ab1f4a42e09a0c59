import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { cpSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT, CACHE } from '../support/cli.js';
import { sandboxPackages } from '../../steps/index.js';
import { sandboxDown, sandboxUp, type SandboxInfo } from '../../src/targets/sandbox.js';

/**
 * The `local` target for real: the packed ebpf-lab (`npm pack`, its production
 * dependencies installed from the registry, this machine's Node runtime) inside a fresh
 * Ubuntu 22.04 sandbox, where `ebpf-lab up --target local` converges the very host it
 * runs on, `verify --target local` proves it, and a second `up` changes nothing.
 */
const home = mkdtempSync(join(tmpdir(), 'ebpf-lab-local-'));
const stage = mkdtempSync(join(tmpdir(), 'ebpf-lab-pack-'));
let box: SandboxInfo;
let ssh: string[];
const onLab = (cmd: string, timeout = 900_000) =>
  execFileSync('ssh', [...ssh, cmd], { encoding: 'utf8', timeout, maxBuffer: 64 * 1024 * 1024 });

function labJson(cmd: string): { code: number; json: any; raw: string } {
  let raw = '';
  let code = 0;
  try {
    raw = onLab(cmd);
  } catch (e: any) {
    raw = String(e.stdout ?? '');
    code = e.status ?? 1;
  }
  return { code, json: JSON.parse(raw), raw };
}

describe('the local target, run inside an Ubuntu 22.04 sandbox from the packed tool', () => {
  beforeAll(async () => {
    // What a user gets from the registry: the tarball, then its production dependencies.
    // npm pack runs the build (`prepare`) unless scripts/test.sh has built dist already: other
    // suites run the CLI from dist meanwhile, and must not see it rewritten under them.
    const built = process.env['EBPF_LAB_BUILT'] ? ['--ignore-scripts'] : [];
    execFileSync('npm', ['pack', '--silent', ...built, '--pack-destination', stage], { cwd: ROOT, stdio: 'pipe' });
    const tgz = readdirSync(stage).find((f) => f.endsWith('.tgz'))!;
    execFileSync(
      'npm',
      ['install', '--silent', '--global', '--omit=dev', '--prefix', join(stage, 'prefix'), join(stage, tgz)],
      { stdio: 'pipe', env: { ...process.env, npm_config_audit: 'false', npm_config_fund: 'false' } },
    );
    box = await sandboxUp({
      name: 'localt',
      home,
      cacheDir: CACHE,
      os: 'ubuntu-22.04',
      packages: sandboxPackages,
      log: (l) => console.log(`[local-target] ${l}`),
    });
    // The Node runtime and the installed package, into the container's /usr/local.
    const rootfs = join(box.dir, 'rootfs');
    cpSync(process.execPath, join(rootfs, 'usr/local/bin/node'));
    cpSync(
      join(stage, 'prefix', 'lib', 'node_modules', 'ebpf-lab'),
      join(rootfs, 'usr/local/lib/node_modules/ebpf-lab'),
      {
        recursive: true,
      },
    );
    ssh = [
      '-i',
      box.keyPath,
      '-p',
      String(box.port),
      '-o',
      'StrictHostKeyChecking=no',
      '-o',
      'UserKnownHostsFile=/dev/null',
    ];
    ssh.push('-o', 'LogLevel=ERROR', '-o', 'BatchMode=yes', 'root@127.0.0.1');
    onLab('ln -sf /usr/local/lib/node_modules/ebpf-lab/bin/ebpf-lab.js /usr/local/bin/ebpf-lab && ebpf-lab --version');
  });

  afterAll(async () => {
    if (box) await sandboxDown({ name: 'localt', home });
    rmSync(home, { recursive: true, force: true });
    rmSync(stage, { recursive: true, force: true });
  });

  it('up --target local converges the host it runs on (offline: exporter and Grafana skipped)', () => {
    const r = labJson('ebpf-lab up --target local --prometheus package --output json');
    expect(r.code, r.raw.slice(-3000)).toBe(0);
    const statuses = Object.fromEntries(r.json.runs[0].steps.map((s: any) => [s.id, s.status]));
    expect(statuses).toMatchObject({ preflight: 'changed', packages: 'changed', php: 'changed', dtrace: 'changed' });
    expect(statuses['ebpf-exporter']).toBe('skipped');
    expect(statuses['grafana']).toBe('skipped');
    expect(onLab('. /etc/os-release; echo $VERSION_ID; curl -s http://127.0.0.1/').trim()).toMatch(
      /^22\.04\n[\s\S]*ebpf-lab sample app/,
    );
  });

  it('verify --target local passes all but the exporter and Grafana hops', () => {
    const r = labJson('ebpf-lab verify --target local --prometheus package --output json');
    const evidence = r.json.runs[0].steps.flatMap((s: any) => s.evidence.map((e: any) => ({ ...e, step: s.id })));
    const failed = evidence.filter((e: any) => !e.ok && !e.skipped);
    expect(failed, JSON.stringify(failed, null, 1)).toEqual([]);
    // NOT VERIFIED only where a hop needs the exporter or Grafana, which cannot be downloaded
    // here (the prometheus step's check of the workshop's series is one: no exporter, no series).
    const skipped = evidence.filter((e: any) => e.skipped);
    const hop = (e: any) => /ebpf_exporter is not installed|Grafana|grafana step/.test(`${e.what} ${e.detail}`);
    expect(
      skipped.filter((e: any) => !hop(e)),
      JSON.stringify(skipped, null, 1),
    ).toEqual([]);
    expect([...new Set(skipped.map((e: any) => e.step))]).toEqual(expect.arrayContaining(['ebpf-exporter', 'grafana']));
    expect(evidence.find((e: any) => /php-fpm request on request__startup/.test(e.what))?.ok).toBe(true);
    expect(r.code).toBe(0);
  });

  it('a second up --target local changes nothing', () => {
    const r = labJson('ebpf-lab up --target local --prometheus package --output json');
    expect(r.code).toBe(0);
    const changes = r.json.runs[0].steps.flatMap((s: any) => s.changes);
    expect(changes).toEqual([]);
  });
});
