import { afterAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cli, changeList, type CliResult } from '../support/cli.js';
import { DEFAULT_SANDBOX_OS, SANDBOX_OSES } from '../../src/targets/sandbox-os.js';

/**
 * Every supported sandbox OS but the default, on every CI run, from its own archive: a fresh
 * `up`, `verify` (everything passes but the exporter and Grafana hops, which this offline
 * machine cannot install: NOT VERIFIED, never passing), a second `up` with 0 changed, one
 * drift repaired, `down`. The default OS's row, Ubuntu 22.04, is test/integration/lab.test.ts:
 * the same five things on the same kind of sandbox (and its fresh `up` meets a busy apt, as
 * on a freshly booted cloud host), so CI does not build and provision that lab twice.
 */
const home = mkdtempSync(join(tmpdir(), 'ebpf-lab-matrix-'));
const env = { EBPF_LAB_HOME: home };
const timings: string[] = [];

function expectOk(r: CliResult) {
  if (r.code !== 0) throw new Error(`exit ${r.code}\n${r.stdout.slice(-4000)}\n${r.stderr.slice(-3000)}`);
}

/** Steps whose download this offline machine cannot make (stand-ins are never used for verify). */
const OFFLINE = ['ebpf-exporter', 'grafana'];

afterAll(() => {
  console.log(`matrix timings:\n${timings.join('\n')}`);
  rmSync(home, { recursive: true, force: true });
});

const ROWS = SANDBOX_OSES.filter((o) => o.id !== DEFAULT_SANDBOX_OS);

describe.each(ROWS.map((o) => [o.id, o] as const))('%s sandbox', (id, os) => {
  const name = `mx-${id.replace(/[^a-z0-9]/g, '')}`;
  const target = `sandbox:${name}`;
  let ssh: string[] = [];
  const onHost = (cmd: string) => execFileSync('ssh', [...ssh, cmd], { encoding: 'utf8' });

  afterAll(async () => {
    const r = await cli(['down', '--target', target], env);
    expect(r.code).toBe(0);
  });

  it(`fresh up converges on ${os.name}`, async () => {
    const r = await cli(['up', '--target', target, '--os', id, '--output', 'json'], env);
    expectOk(r);
    timings.push(`${id}: fresh up ${(r.ms / 1000).toFixed(1)} s`);
    readSsh();
    const steps = r.json.runs[0].steps;
    const statuses = Object.fromEntries(steps.map((s: any) => [s.id, s.status]));
    for (const [step, status] of Object.entries(statuses))
      expect(status, step).toBe(OFFLINE.includes(step) ? 'skipped' : 'changed');
    expect(onHost('. /etc/os-release; echo "$ID $VERSION_ID"').trim()).toBe(`${os.distro} ${os.versionId}`);
  });

  function readSsh() {
    const dir = join(home, 'sandboxes', name);
    const sb = JSON.parse(readFileSync(join(dir, 'sandbox.json'), 'utf8'));
    expect(sb.os).toBe(id);
    ssh = [
      '-i',
      join(dir, 'id_ed25519'),
      '-p',
      String(sb.port),
      '-o',
      `UserKnownHostsFile=${join(home, 'known_hosts')}`,
    ];
    ssh.push('-o', 'StrictHostKeyChecking=yes', '-o', 'BatchMode=yes', '-o', 'LogLevel=ERROR', 'root@127.0.0.1');
  }

  it('verify passes everything but the exporter and Grafana hops (NOT VERIFIED)', async () => {
    const r = await cli(['verify', '--target', target, '--output', 'json'], env);
    timings.push(`${id}: verify ${(r.ms / 1000).toFixed(1)} s`);
    const evidence = r.json.runs[0].steps.flatMap((s: any) => s.evidence.map((e: any) => ({ ...e, step: s.id })));
    const failed = evidence.filter((e: any) => !e.ok && !e.skipped);
    expect(failed, JSON.stringify(failed, null, 1)).toEqual([]);
    // A fact of the OS, read here independently: is its PHP built with DTrace? (Ubuntu 24.04's is not.)
    const dtrace = onHost("php -i | grep 'DTrace Support' || true");
    const withoutDtrace = /disabled/.test(dtrace) && !/available/.test(dtrace);
    const skipped = evidence.filter((e: any) => e.skipped);
    // The exporter and Grafana hops: their binaries cannot be had here, so every check that needs them says so.
    const hop = (e: any) => /ebpf_exporter is not installed|Grafana|grafana step/.test(`${e.what} ${e.detail}`);
    const offline = skipped.filter(hop);
    // Facts of this machine's kernel, read here independently: without /proc/modules, bpftrace 0.2x+ cannot start.
    const noModules = onHost('test -e /proc/modules && echo yes || echo no').trim() === 'no';
    const kernel = (e: any) => noModules && /no \/proc\/modules/.test(e.detail);
    const noUsdt = skipped.filter((e: any) => !hop(e) && !kernel(e));
    expect([...new Set(offline.map((e: any) => e.step))].sort()).toEqual(expect.arrayContaining(OFFLINE));
    if (withoutDtrace) {
      expect(noUsdt.length + skipped.filter(kernel).length).toBeGreaterThan(0);
      for (const e of noUsdt) expect(e.detail, e.what).toMatch(/built without DTrace/);
    } else expect(noUsdt, JSON.stringify(noUsdt)).toEqual([]);
    const bpftraceRuns = skipped.filter(kernel).length === 0;
    expect(r.code).toBe(0);
    const seen = (w: RegExp) => evidence.find((e: any) => w.test(e.what));
    if (!withoutDtrace && bpftraceRuns)
      for (const w of [/mod_php request on request__startup/, /php-fpm request on request__startup/])
        expect(seen(w)?.ok, w.source).toBe(true);
    expect(seen(/passes the kernel verifier/)?.detail).toMatch(/programs loaded by \/\S+bpftool/);
    expect(seen(/a bpftool that reads this kernel's BTF/)?.ok).toBe(true);
    expect(seen(/^GET \/ ->/)?.ok).toBe(true);
  });

  it('a second up changes nothing', async () => {
    const r = await cli(['up', '--target', target, '--output', 'json'], env);
    expectOk(r);
    timings.push(`${id}: no-op up ${(r.ms / 1000).toFixed(1)} s`);
    expect(changeList(r.json)).toEqual([]);
  });

  it('one drift (a deleted sample page) is planned and repaired', async () => {
    onHost('rm /var/www/html/path1/a.php');
    const plan = await cli(['plan', '--target', target, '--output', 'json'], env);
    expect(changeList(plan.json)).toEqual(['sample-app: create file:/var/www/html/path1/a.php']);
    const up = await cli(['up', '--target', target, '--output', 'json'], env);
    expectOk(up);
    expect(changeList(up.json)).toEqual(['sample-app: create file:/var/www/html/path1/a.php']);
    expect(onHost('curl -s http://127.0.0.1/fpm/path1/a.php')).toMatch(/path1\/a\.php/);
  });
});
