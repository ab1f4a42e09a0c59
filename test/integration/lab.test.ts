import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cli, changeList, ROOT, type CliResult } from '../support/cli.js';

/**
 * The real thing: `ebpf-lab up` turns a fresh Debian 12 systemd-nspawn sandbox into a
 * lab, `verify` proves bpftrace sees real requests, a second `up` changes nothing,
 * hand-made drift is reported by `plan` and repaired by `up`, and bad input touches nothing.
 */
const home = mkdtempSync(join(tmpdir(), 'ebpf-lab-it-'));
const env = { EBPF_LAB_HOME: home };
const TARGET = 'sandbox:itest';
let sshBase: string[] = [];

function onHost(cmd: string): string {
  return execFileSync('ssh', [...sshBase, cmd], { encoding: 'utf8' });
}

function expectOk(r: CliResult) {
  if (r.code !== 0) throw new Error(`exit ${r.code}\n${r.stdout.slice(-4000)}\n${r.stderr.slice(-2000)}`);
}

describe('sandbox lab, end to end', () => {
  beforeAll(async () => {
    const r = await cli(['up', '--target', TARGET, '--output', 'json'], env);
    expectOk(r);
    const sb = JSON.parse(readFileSync(join(home, 'sandboxes', 'itest', 'sandbox.json'), 'utf8'));
    const key = join(home, 'sandboxes', 'itest', 'id_ed25519');
    sshBase = [
      '-i',
      key,
      '-p',
      String(sb.port),
      '-o',
      `UserKnownHostsFile=${join(home, 'known_hosts')}`,
      '-o',
      'StrictHostKeyChecking=yes',
      '-o',
      'BatchMode=yes',
      'root@127.0.0.1',
    ];
    const statuses = Object.fromEntries(r.json.runs[0].steps.map((s: any) => [s.id, s.status]));
    expect(statuses).toEqual({
      preflight: 'changed',
      packages: 'changed',
      php: 'changed',
      dtrace: 'changed',
      'sample-app': 'changed',
      'bpf-programs': 'changed',
      prometheus: 'changed',
      'bt-tools': 'changed',
      'batch-job': 'changed',
      // No internet here: the exporter's release and Grafana's key cannot be fetched, and up says so.
      'ebpf-exporter': 'skipped',
      grafana: 'skipped',
    });
    const exporter = r.json.runs[0].steps.find((s: any) => s.id === 'ebpf-exporter');
    expect(exporter.notes[0]).toMatch(
      /cannot fetch ebpf_exporter 2\.5\.1 .*--mirror DIR\|https:\/\/URL.*--skip ebpf-exporter/,
    );
  });

  afterAll(async () => {
    const r = await cli(['down', '--target', TARGET], env);
    expect(r.code).toBe(0);
    rmSync(home, { recursive: true, force: true });
  });

  it('verify shows data flowing: probes in the loaded module and binary, bpftrace sees both SAPIs', async () => {
    const r = await cli(['verify', '--target', TARGET, '--output', 'json'], env);
    expectOk(r);
    const evidence = r.json.runs[0].steps.flatMap((s: any) => s.evidence);
    const seen = (what: RegExp) => evidence.find((e: any) => what.test(e.what));
    for (const w of [
      /mod_php request on request__startup/,
      /mod_php request on compile__file__entry/,
      /php-fpm request on request__startup/,
      /php-fpm request on compile__file__entry/,
    ]) {
      expect(seen(w)?.ok, JSON.stringify(seen(w))).toBe(true);
      expect(seen(w).detail).toMatch(/SEEN (apache|fpm) (request|compile) .*\.ebpf-lab-probe-[0-9a-f]+\.php/);
    }
    expect(seen(/USDT probes in the loaded mod_php module \/usr\/lib\/apache2\/modules\/libphp8\.2\.so/)?.ok).toBe(
      true,
    );
    expect(seen(/USDT probes in the running php-fpm binary \/usr\/sbin\/php-fpm8\.2/)?.ok).toBe(true);
    expect(seen(/apache2.service main process has USE_ZEND_DTRACE=1/)?.detail).toMatch(/environ/);
    expect(evidence.filter((e: any) => /^GET \//.test(e.what)).every((e: any) => e.ok)).toBe(true);
  });

  it('verify: every BPF object passes the kernel verifier, bt tools compile, Prometheus is on loopback, the missing exporter is NOT VERIFIED', async () => {
    const r = await cli(['verify', '--target', TARGET, '--output', 'json'], env);
    expectOk(r);
    const evidence = r.json.runs[0].steps.flatMap((s: any) => s.evidence);
    const verifier = evidence.filter((e: any) => /passes the kernel verifier/.test(e.what));
    expect(verifier.map((e: any) => e.what.split('.')[0]).sort()).toEqual([
      'memcached',
      'php_compile',
      'php_exception',
      'php_function',
      'php_request',
    ]);
    expect(verifier.every((e: any) => e.ok && /\d+ programs loaded/.test(e.detail))).toBe(true);
    const bt = evidence.filter((e: any) => /compiles with bpftrace/.test(e.what));
    expect(bt.length).toBeGreaterThanOrEqual(8);
    expect(bt.every((e: any) => e.ok)).toBe(true);
    expect(evidence.find((e: any) => e.what === 'Prometheus listens on loopback only')).toMatchObject({
      ok: true,
      detail: '127.0.0.1:9090',
    });
    const notVerified = evidence.filter((e: any) => e.skipped);
    expect(notVerified.length).toBeGreaterThan(0);
    expect(notVerified.every((e: any) => e.ok === false && /not installed/.test(e.detail))).toBe(true);
    expect(r.stdout).toMatch(/"ok": true/);
  });

  it('the programs built on the host attach for real and their maps grow with requests (lab-attach: a stand-in for ebpf_exporter)', async () => {
    const out = mkdtempSync(join(tmpdir(), 'lab-attach-'));
    execFileSync('make', ['-s', '-C', join(ROOT, 'bpf'), `OUT=${out}`, 'loader']);
    execFileSync('scp', [
      '-q',
      ...sshBase.slice(0, -1).map((a) => (a === '-p' ? '-P' : a)),
      join(out, 'lab-attach'),
      'root@127.0.0.1:/root/lab-attach',
    ]);
    const report = onHost(`set -e; cd /root; rm -f la.in la.out; mkfifo la.in
      ./lab-attach --strict /opt/ebpf-lab/bpf/*.bpf.o < la.in > la.out 2> la.err & pid=$!; exec 3> la.in
      lines() { wc -l < la.out; }
      for i in $(seq 100); do [ "$(lines)" -ge 1 ] && break; sleep 0.1; done
      echo dump >&3; for i in $(seq 50); do [ "$(lines)" -ge 2 ] && break; sleep 0.1; done
      for i in $(seq 3); do for u in index.php path1/a.php path2/a.php exception.php mem.php?n=40 'index.php?q=secret'; do
        curl -s -o /dev/null "http://127.0.0.1/$u"; curl -s -o /dev/null "http://127.0.0.1/fpm/$u"; done; done
      echo dump >&3; for i in $(seq 50); do [ "$(lines)" -ge 3 ] && break; sleep 0.1; done
      echo quit >&3; exec 3>&-; wait $pid; cat la.out`);
    rmSync(out, { recursive: true, force: true });
    const [attach, before, after] = report
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(attach.programs.length).toBeGreaterThanOrEqual(13);
    expect(attach.programs.filter((p: any) => !p.attached)).toEqual([]);
    const total = (d: any, map: string) =>
      d.maps
        .filter((m: any) => m.name === map)
        .flatMap((m: any) => m.entries)
        .reduce((a: number, e: any) => a + e.value, 0);
    const keys = (d: any, map: string) =>
      d.maps
        .filter((m: any) => m.name === map)
        .flatMap((m: any) => m.entries.map((e: any) => Buffer.from(e.key, 'hex').toString('latin1')));
    for (const map of [
      'php_request_duration_seconds',
      'php_compile_file_total',
      'php_exception_thrown_total',
      'php_exception_caught_total',
      'php_function_calls_total',
      'memcached_set_value_bytes',
    ])
      expect(total(after, map), map).toBeGreaterThan(total(before, map));
    const req = keys(after, 'php_request_duration_seconds').join('\n');
    expect(req).toContain('apache');
    expect(req).toContain('fpm');
    expect(req).toContain('/path1/a.php');
    expect(req).not.toContain('q=secret'); // the query string is cut off: bounded cardinality, no data in labels
    expect(keys(after, 'php_compile_file_total').join('\n')).toContain('/var/www/html/path2');
    expect(keys(after, 'php_exception_caught_total').join('\n')).toContain('RuntimeException');
  });

  it('the USDT bpftrace tools installed on the host see real requests', async () => {
    const out = onHost(`cd /root; for t in php-compiled-files php-exceptions; do
        timeout -k 5 -s INT 12 /opt/ebpf-lab/bt/$t.bt > $t.out 2>&1 & done
      sleep 5; for i in 1 2 3; do curl -s -o /dev/null http://127.0.0.1/exception.php; curl -s -o /dev/null http://127.0.0.1/fpm/path2/a.php; done
      sleep 8; for i in 1 2 3; do curl -s -o /dev/null http://127.0.0.1/index.php; sleep 0.5; done; wait
      cat php-compiled-files.out php-exceptions.out`);
    expect(out).toMatch(/NEW .*\/var\/www\/html\/exception\.php/);
    expect(out).toMatch(/NEW .*\/var\/www\/html\/path2\/a\.php/);
    expect(out).toMatch(/THROWN RuntimeException/);
    expect(out).toMatch(/CAUGHT RuntimeException/);
  });

  it('a second up changes nothing', async () => {
    const r = await cli(['up', '--target', TARGET, '--output', 'json'], env);
    expectOk(r);
    expect(changeList(r.json)).toEqual([]);
    const steps = r.json.runs[0].steps;
    expect(steps.filter((s: any) => s.status !== 'unchanged').map((s: any) => `${s.id}: ${s.status}`)).toEqual([
      'ebpf-exporter: skipped',
      'grafana: skipped',
    ]);
    expect(steps.every((s: any) => s.notes.length > 0)).toBe(true);
  });

  it('drift — a deleted drop-in, a stopped apache, a removed package — is planned and repaired exactly', async () => {
    onHost('mkdir -p /srv/mine && echo keep > /srv/mine/notes.txt && echo "<?php echo 1;" > /var/www/html/mine.php');
    onHost(
      'rm /etc/systemd/system/apache2.service.d/ebpf-lab-dtrace.conf && systemctl stop apache2 && DEBIAN_FRONTEND=noninteractive apt-get remove -y -q jq >/dev/null 2>&1 && chmod 600 /var/www/html/path1/a.php',
    );
    const expected = [
      'dtrace: create file:/etc/systemd/system/apache2.service.d/ebpf-lab-dtrace.conf',
      'dtrace: restart unit:apache2.service',
      'packages: install apt:jq',
      'php: start unit:apache2.service',
      'sample-app: chmod file:/var/www/html/path1/a.php',
    ];
    const plan = await cli(['plan', '--target', TARGET, '--output', 'json'], env);
    expectOk(plan);
    expect(changeList(plan.json)).toEqual(expected);
    // plan changed nothing
    expect(onHost('systemctl is-active apache2 || true').trim()).toBe('inactive');
    const up = await cli(['up', '--target', TARGET, '--output', 'json'], env);
    expectOk(up);
    expect(changeList(up.json)).toEqual(expected);
    const again = await cli(['up', '--target', TARGET, '--output', 'json'], env);
    expect(changeList(again.json)).toEqual([]);
    expect(onHost('cat /srv/mine/notes.txt; cat /var/www/html/mine.php')).toBe('keep\n<?php echo 1;\n');
    expect(onHost('systemctl show -p Environment --value apache2')).toContain('USE_ZEND_DTRACE=1');
  });

  it('an interrupted run (drop-in written, restart never happened) is finished by the next up', async () => {
    // What a run cut between the write and the restart leaves: new drop-in content, a
    // pending marker, and a master started before the drop-in.
    onHost('mkdir -p /var/lib/ebpf-lab/pending && touch /var/lib/ebpf-lab/pending/restart@php8.2-fpm.service');
    const pid = onHost('systemctl show -p MainPID --value php8.2-fpm').trim();
    const up = await cli(['up', '--target', TARGET, '--only', 'dtrace', '--output', 'json'], env);
    expectOk(up);
    expect(changeList(up.json)).toEqual(['dtrace: restart unit:php8.2-fpm.service']);
    expect(onHost('systemctl show -p MainPID --value php8.2-fpm').trim()).not.toBe(pid);
    expect(onHost('ls /var/lib/ebpf-lab/pending | wc -l').trim()).toBe('0');
  });

  describe('bad input against the real host: exit 2 and nothing changed', () => {
    let port = 0;
    let key = '';
    const fingerprint = () =>
      onHost(
        'find /etc /var/www -xdev -type f -newer /var/lib/dpkg/status -printf "%p %T@\\n" 2>/dev/null | sort | md5sum',
      );
    beforeAll(() => {
      port = JSON.parse(readFileSync(join(home, 'sandboxes', 'itest', 'sandbox.json'), 'utf8')).port;
      key = join(home, 'sandboxes', 'itest', 'id_ed25519');
    });

    it('a user without password-less sudo', async () => {
      const before = fingerprint();
      const r = await cli(['up', '--target', `ssh://nosudo@127.0.0.1:${port}`, '--key', key], env);
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(/nosudo.*(sudo)/);
      expect(fingerprint()).toBe(before);
    });

    it('a sudo user (not root) can plan: the sudo path works for real', async () => {
      const r = await cli(['plan', '--target', `ssh://lab@127.0.0.1:${port}`, '--key', key, '--output', 'json'], env);
      expectOk(r);
      expect(changeList(r.json)).toEqual([]);
    });

    it('a wrong key', async () => {
      const other = join(home, 'other-key');
      execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', other]);
      const r = await cli(['up', '--target', `ssh://root@127.0.0.1:${port}`, '--key', other], env);
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(/auth|key/i);
    });

    it('an unreachable host (nothing listens)', async () => {
      const r = await cli(['up', '--target', 'ssh://root@127.0.0.1:1', '--key', key], env);
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(/refused/);
    });

    it('a changed host key stops the run before anything is sent', async () => {
      const kh = join(home, 'known_hosts');
      const saved = readFileSync(kh, 'utf8');
      const fake = join(home, 'fake-hostkey');
      execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', fake]);
      const pub = readFileSync(`${fake}.pub`, 'utf8').split(' ').slice(0, 2).join(' ');
      const before = fingerprint();
      writeFileSync(
        kh,
        saved
          .split('\n')
          .filter((l) => !l.startsWith(`[127.0.0.1]:${port} `))
          .join('\n') + `\n[127.0.0.1]:${port} ${pub}\n`,
      );
      let r: CliResult;
      try {
        r = await cli(['up', '--target', `ssh://root@127.0.0.1:${port}`, '--key', key], env);
      } finally {
        writeFileSync(kh, saved);
      }
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(/host key.*changed|changed.*host key/i);
      expect(r.stderr).toMatch(/SHA256:/);
      expect(fingerprint()).toBe(before);
    });

    it('an unsupported OS', async () => {
      onHost(
        'cp /etc/os-release /root/os-release.bak && sed -i "s/^VERSION_ID=.*/VERSION_ID=\\"9\\"/" /usr/lib/os-release',
      );
      try {
        const r = await cli(['up', '--target', TARGET], env);
        expect(r.code).toBe(2);
        expect(r.stderr).toMatch(/not supported/);
        expect(r.stderr).toMatch(/hint: ebpf-lab supports Ubuntu 22.04, Ubuntu 24.04, Debian 12/);
      } finally {
        onHost('cp /root/os-release.bak /usr/lib/os-release');
      }
    });
  });
});
