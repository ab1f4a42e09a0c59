import { describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { cli, changeList, CACHE, ROOT, type CliResult } from '../support/cli.js';
import { labRun, onHost as onLab, TARGET, useLab, type Lab } from '../support/fault.js';

/**
 * The lab's exercises on the reliability lab (test/reliability/global-setup.ts): doctor,
 * inject-latency refusing on a kernel without netem, load reaching the pages, the
 * batch-job exercise, deadcode, and bench measuring three states and restoring the
 * configured one — also after being killed, through the next `up`. The lab is left
 * converged, as every file here leaves it.
 */
const lab: Lab = useLab();
const env = lab.env;
const onHost = (cmd: string) => onLab(lab, cmd);

function expectOk(r: CliResult) {
  if (r.code !== 0) throw new Error(`exit ${r.code}\n${r.stdout.slice(-4000)}\n${r.stderr.slice(-2000)}`);
}

/** What bench must leave as it found: the drop-ins on disk, no runtime drop-in, no marker, the env as configured. */
const configured = () =>
  onHost(
    `md5sum /etc/systemd/system/*.service.d/*.conf; ls /run/systemd/system/*.service.d/ 2>/dev/null; ls /var/lib/ebpf-lab/pending; systemctl show -p Environment --value apache2 ${fpm()}`,
  );
const apacheEnv = () =>
  onHost(
    `tr '\\0' '\\n' < /proc/$(cat /run/apache2/apache2.pid)/environ | grep '^USE_ZEND_DTRACE=' || echo unset`,
  ).trim();

/** The lab's php-fpm unit (php8.1-fpm.service on Ubuntu 22.04, php8.2-fpm.service on Debian 12…). */
let fpmUnit = '';
const fpm = () =>
  (fpmUnit ||= onHost("systemctl list-unit-files 'php*-fpm.service' --no-legend | awk '{print $1}'").trim());

describe('exercises on the sandbox lab', () => {
  it("doctor on the Ubuntu 22.04 sandbox: netem unavailable, and jammy's bpftrace and bpftool limits, each with its fix", async () => {
    const r = await cli(['doctor', '--target', TARGET, '--output', 'json'], env);
    const byId = Object.fromEntries(r.json.checks.map((c: any) => [c.id, c]));
    // As recorded on this sandbox (test/unit/doctor.test.ts): bpftrace 0.14 has no BEGIN/END and
    // cannot read this kernel's BTF; `bpftool` on PATH is linux-tools' wrapper for a kernel it has no tools for.
    const notOk = r.json.checks.filter((c: any) => c.status !== 'ok');
    expect(notOk.map((c: any) => c.id)).toEqual(['bpftrace', 'bpftrace-btf', 'bpftool', 'netem']);
    for (const c of notOk) expect(c.fix, c.id).toMatch(/\S/);
    expect(r.code, 'exit 1 only when a check fails (warnings do not)').toBe(
      notOk.some((c: any) => c.status === 'fail') ? 1 : 0,
    );
    expect(byId.netem.detail).toMatch(/^unavailable: /);
    expect(byId.syscalls.detail).toMatch(/attached an interval probe/);
    expect(byId['usdt-mod_php'].detail).toMatch(/libphp8\.\d\.so: [1-9]\d* stapsdt notes/);
  });

  it('inject-latency refuses cleanly where netem is missing: exit 2, no qdisc changed', async () => {
    const before = onHost('tc qdisc show; tc filter show dev lo');
    const r = await cli(['inject-latency', '--target', TARGET, '--to', 'memcached', '--delay', '2ms'], env);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/tc netem is not available on .*nothing was changed/);
    expect(r.stderr).toMatch(/hint: .*CONFIG_NET_SCH_NETEM/);
    expect(onHost('tc qdisc show; tc filter show dev lo')).toBe(before);
    const clear = await cli(['inject-latency', '--target', TARGET, '--clear'], env);
    expectOk(clear);
    expect(clear.stdout).toMatch(/no injected latency/);
  });

  it("load reaches the pages of both SAPIs (counted in apache's access log)", async () => {
    const before = Number(onHost('wc -l < /var/log/apache2/access.log').trim());
    const r = await cli(['load', '--target', TARGET, '--rate', '20', '--duration', '5s', '--output', 'json'], env);
    expectOk(r);
    expect(r.json).toMatchObject({ sent: 100, ok: 100, errors: 0, failed: 0, sapis: { mod_php: 50, 'php-fpm': 50 } });
    const lines = onHost(`tail -n +${before + 1} /var/log/apache2/access.log`)
      .split('\n')
      .filter((l) => l.includes('"GET /'));
    expect(lines.length).toBe(100);
    for (const page of [
      '/index.php',
      '/mem.php?n=50',
      '/exception.php',
      '/error.php',
      '/path1/a.php',
      '/path2/a.php',
    ]) {
      expect(
        lines.some((l) => l.includes(`"GET ${page} `)),
        page,
      ).toBe(true);
      expect(
        lines.some((l) => l.includes(`"GET /fpm${page} `)),
        `/fpm${page}`,
      ).toBe(true);
    }
    expect(
      lines.filter((l) => /"GET \/(fpm\/)?(exception|error)\.php HTTP\/1\.1" 500 /.test(l)).length,
    ).toBeGreaterThan(0);
  });

  it("the batch-job exercise shows each run's command line, exit code and run time", async () => {
    const r = await cli(['load', '--job', '--target', TARGET, '--output', 'json'], env);
    expectOk(r);
    expect(r.json.runs.map((j: any) => [j.command, j.exitCode])).toEqual([
      ['php /opt/ebpf-lab/jobs/nightly-report.php --items 300', 0],
      ['php /opt/ebpf-lab/jobs/nightly-report.php --items 100 --sleep-ms 100 --fail', 3],
    ]);
    // the second run sleeps 2 x 100 ms
    expect(r.json.runs[1].elapsedMs).toBeGreaterThanOrEqual(200);
  });

  it('deadcode lists files never requested, and not those requested', async () => {
    onHost('mkdir -p /var/www/html/legacy && printf "<?php echo 1;\\n" > /var/www/html/legacy/never.php');
    expectOk(await cli(['deadcode', '--target', TARGET, '--start'], env));
    onHost('curl -s -o /dev/null http://127.0.0.1/path1/a.php; curl -s -o /dev/null http://127.0.0.1/fpm/index.php');
    const r = await cli(['deadcode', '--target', TARGET, '--output', 'json'], env);
    expectOk(r);
    const compiled = r.json.compiled.map((c: any) => c.file);
    expect(compiled).toEqual(['/var/www/html/index.php', '/var/www/html/path1/a.php']);
    expect(r.json.notCompiled).toContain('/var/www/html/legacy/never.php');
    expect(r.json.notCompiled).toContain('/var/www/html/path2/a.php');
    expect(r.json.notCompiled).not.toContain('/var/www/html/path1/a.php');
    const again = await cli(['deadcode', '--target', TARGET, '--start'], env);
    expect(again.code).toBe(2);
    expect(again.stderr).toMatch(/already runs/);
    const stop = await cli(['deadcode', '--target', TARGET, '--stop'], env);
    expectOk(stop);
    expect(onHost('systemctl is-active ebpf-lab-deadcode || true').trim()).not.toBe('active');
  });

  it('bench measures three real states and restores the configured one', async () => {
    const before = configured();
    const r = await cli(['bench', '--target', TARGET, '--duration', '3s', '--output', 'json'], env);
    expectOk(r);
    const ms = r.json.measurements;
    expect(ms.map((m: any) => [m.state, m.apacheEnv])).toEqual([
      ['off', '(unset)'],
      ['on', '1'],
      ['attached', '1'],
    ]);
    for (const m of ms) {
      expect(m.requests).toBeGreaterThan(50);
      expect(m.failed).toBe(0);
      expect(m.p50).toBeGreaterThan(0);
      expect(m.p99).toBeGreaterThanOrEqual(m.p50);
    }
    expect(r.json.attachedWith).toMatch(/bpftrace stand-in .*ebpf_exporter is not installed/);
    expect(Object.keys(r.json.ratios)).toEqual(['on', 'attached']);
    expect(configured()).toBe(before);
    expect(apacheEnv()).toBe('USE_ZEND_DTRACE=1');
    const plan = await labRun(lab, 'plan');
    expectOk(plan);
    expect(changeList(plan.json)).toEqual([]);
  });

  it('a bench killed mid-way is repaired by the next up', async () => {
    const child = spawn(
      process.execPath,
      [join(ROOT, 'bin', 'ebpf-lab.js'), 'bench', '--target', TARGET, '--duration', '20s'],
      { env: { ...process.env, EBPF_LAB_CACHE: CACHE, ...env }, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    await new Promise<void>((resolve, reject) => {
      const t = setInterval(() => {
        if (/off: measuring/.test(out)) {
          clearInterval(t);
          child.kill('SIGKILL');
          resolve();
        }
      }, 100);
      child.on('exit', () => (clearInterval(t), reject(new Error(`bench ended before it could be killed:\n${out}`))));
    });
    expect(apacheEnv()).toBe('unset');
    expect(onHost('ls /var/lib/ebpf-lab/pending').split('\n').filter(Boolean).sort()).toEqual([
      'restart@apache2.service',
      `restart@${fpm()}`,
    ]);
    const up = await labRun(lab, 'up');
    expectOk(up);
    expect(changeList(up.json)).toEqual(
      expect.arrayContaining(['php: restart unit:apache2.service', `php: restart unit:${fpm()}`]),
    );
    expect(apacheEnv()).toBe('USE_ZEND_DTRACE=1');
    expect(onHost('ls /var/lib/ebpf-lab/pending | wc -l').trim()).toBe('0');
  });
});
