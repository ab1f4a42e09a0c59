import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cli, changeList, ROOT, type CliResult } from '../support/cli.js';
import { parseRules, workshopSeriesEvidence, WORKSHOP_SERIES_QUERIES } from '../../steps/prometheus-rules.js';

/**
 * The real thing: `ebpf-lab up` turns a fresh Ubuntu 22.04 systemd-nspawn sandbox into a
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

function readSsh() {
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
}

function expectOk(r: CliResult) {
  if (r.code !== 0) throw new Error(`exit ${r.code}\n${r.stdout.slice(-4000)}\n${r.stderr.slice(-2000)}`);
}

describe('sandbox lab, end to end', () => {
  beforeAll(async () => {
    // Also the default OS's row of the OS matrix (test/matrix). Like a freshly booted Ubuntu
    // cloud host, apt is busy when `up` starts: the sandbox is booted first, then an
    // apt-daily-upgrade run starts and a dpkg lock is held, and preflight must wait them out.
    expectOk(await cli(['up', '--target', TARGET, '--only', 'preflight', '--output', 'json'], env));
    readSsh();
    onHost(
      'systemctl start --no-block apt-daily-upgrade.service; ' +
        `systemd-run --quiet --unit=hold-dpkg-lock python3 -c "import fcntl, time; f = open('/var/lib/dpkg/lock-frontend', 'w'); fcntl.lockf(f, fcntl.LOCK_EX); time.sleep(20)"`,
    );
    const r = await cli(['up', '--target', TARGET, '--output', 'json'], env);
    expectOk(r);
    const pre = r.json.runs[0].steps.find((s: any) => s.id === 'preflight');
    expect(pre.changes.map((c: any) => `${c.action} ${c.resource}`)).toContain('wait dpkg-lock');
    expect(pre.changes.find((c: any) => c.resource === 'dpkg-lock').detail).toMatch(
      /lock-frontend held by pid \d+|unattended-upgrade/,
    );
    expect(onHost('. /etc/os-release; echo "$ID $VERSION_ID"').trim()).toBe('ubuntu 22.04');
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
    expect(seen(/USDT probes in the loaded mod_php module \/usr\/lib\/apache2\/modules\/libphp8\.1\.so/)?.ok).toBe(
      true,
    );
    expect(seen(/USDT probes in the running php-fpm binary \/usr\/sbin\/php-fpm8\.1/)?.ok).toBe(true);
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
    // The workshop's recording rules: loaded by the real Prometheus and evaluating without error,
    // their output NOT VERIFIED here (no exporter, so no lab series to derive from).
    expect(evidence.find((e: any) => /loaded the workshop's recording rules/.test(e.what))).toMatchObject({
      ok: true,
      detail: '6 recording rules from /etc/prometheus/ebpf-lab-workshop.rules.yml',
    });
    expect(evidence.find((e: any) => /recording rules evaluate without error/.test(e.what))).toMatchObject({
      ok: true,
      detail: '6/6 rules: health ok, no lastError',
    });
    expect(evidence.find((e: any) => /workshop's series are derived/.test(e.what))).toMatchObject({
      ok: false,
      skipped: true,
    });
    expect(r.stdout).toMatch(/"ok": true/);
  });

  it("workshop mode: the workshop dashboard's queries answer on the lab's Prometheus (stand-in exporter)", async () => {
    // Nothing listens on :9435 here (no exporter release offline): a stand-in serves series shaped
    // like the lab's, so the real Prometheus scrapes them through the lab's config (relabel) and
    // rules, and every panel query of the workshop's dashboard is run against it.
    const panels = JSON.parse(
      readFileSync(join(ROOT, 'test', 'fixtures', 'workshop', 'dashboard-panels.json'), 'utf8'),
    ).panels.flatMap((p: any) => p.queries.map((q: any) => ({ title: p.title, ...q })));
    execFileSync('scp', [
      '-q',
      ...sshBase.slice(0, -1).map((a) => (a === '-p' ? '-P' : a)),
      join(ROOT, 'test', 'support', 'stand-in-exporter.php'),
      'root@127.0.0.1:/root/stand-in-exporter.php',
    ]);
    const pid = onHost(
      // `;`, not `&&`: only php goes to the background, so ssh returns at once
      'cd /root; T0=$(date +%s.%N) setsid php -S 127.0.0.1:9435 stand-in-exporter.php > stand-in.log 2>&1 < /dev/null & echo $!',
    ).trim();
    const query = (expr: string) =>
      JSON.parse(onHost(`curl -s -m 10 --data-urlencode 'query=${expr}' http://127.0.0.1:9090/api/v1/query`)) as any;
    try {
      const ready = panels.find((q: any) => /php_request_time_sec_bucket\[5m\]\)\) by \(le\)\)$/.test(q.expr)).expr;
      let result: any[] = [];
      for (let i = 0; i < 60 && !result.some((x) => Number.isFinite(Number(x.value[1]))); i++) {
        await new Promise((res) => setTimeout(res, 2000));
        result = query(ready).data.result;
      }
      const answers: Record<string, any[]> = {};
      for (const q of panels) {
        const a = query(q.expr);
        expect(a.status, q.expr).toBe('success');
        expect(a.data.result.length, `${q.title}: ${q.expr}`).toBeGreaterThan(0);
        answers[`${q.title} ${q.refId}`] = a.data.result;
      }
      const value = (k: string) => Number(answers[k]![0].value[1]);
      const close = (got: number, want: number) =>
        expect(Math.abs(got / want - 1), `${got} vs ${want}`).toBeLessThan(1e-4);
      // By hand, from the stand-in's rates (see test/fixtures/workshop/rules-test.yml for the same arithmetic):
      close(value('memcached value length percentile A'), 4194304); // p99 is past the workshop's last bucket, 2^22
      close(value('memcached value length percentile B'), 1022.72);
      close(value('memcached value length percentile C'), 780.8);
      close(value('PHP Request time from startup to shutdown A'), 65.4311424);
      close(value('PHP Request time from startup to shutdown B'), 58.720256);
      close(value('PHP Request time from startup to shutdown C'), 50.331648);
      close(value('PHP Request time from startup to shutdown D'), 0.006144);
      // the heatmap: the workshop's memcached layout, le 2^0..2^22 and +Inf
      expect(answers['memcached value length distribution(set) A']!.map((x) => x.metric.le).sort()).toEqual(
        [
          ...Array.from({ length: 20 }, (_, i) => String(2 ** i)),
          '1.048576e+06',
          '2.097152e+06',
          '4.194304e+06',
          '+Inf',
        ].sort(),
      );
      // the pie: the workshop's `filename` label (directory with its trailing slash)
      expect(answers['PHP USDT Compile DIR Total A']!.map((x) => x.metric.filename).sort()).toEqual([
        '/var/www/html/',
        '/var/www/html/path1/',
      ]);
      expect(answers['PHP USDT Exception Count A']!.map((x) => x.metric.class)).toEqual(['RuntimeException']);
      // what verify's prove would report with an exporter: the derived series exist
      const pairs = WORKSHOP_SERIES_QUERIES.map(
        (p): [string, string] =>
          [p.from, p.to].map((e) =>
            onHost(`curl -s -m 10 --data-urlencode 'query=${e}' http://127.0.0.1:9090/api/v1/query`),
          ) as [string, string],
      );
      expect(workshopSeriesEvidence(pairs)).toMatchObject({ ok: true });
      const rules = parseRules(onHost('curl -s -m 10 http://127.0.0.1:9090/api/v1/rules'));
      expect(Array.isArray(rules) && rules.flatMap((g) => g.rules).every((x) => x.health === 'ok')).toBe(true);
    } finally {
      onHost(`kill ${pid}; rm -f /root/stand-in-exporter.php /root/stand-in.log`);
    }
  });

  it("the programs built on the host attach for real and their maps grow with requests (lab-attach: a stand-in for ebpf_exporter); the workshop's bpftool map command finds the compile map", async () => {
    // The workshop README's command as written (we are root: no sudo).
    const workshopMapCommand = JSON.parse(
      readFileSync(join(ROOT, 'test', 'fixtures', 'workshop', 'workshop-commands.json'), 'utf8'),
    ).mapCommands[1].replace(/sudo /g, '');
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
      # As on a host whose linux-tools match its kernel: here \`bpftool\` on PATH is Ubuntu's
      # wrapper, which has no tools for this machine's kernel (doctor says so and names this one).
      mkdir -p /root/bin; bt=$(ls /usr/lib/linux-tools/*/bpftool 2>/dev/null | sort -V | tail -1)
      if [ -n "$bt" ]; then ln -sf "$bt" /root/bin/bpftool; fi
      { PATH=/root/bin:$PATH; ${workshopMapCommand}; } > bm.out 2>&1
      echo quit >&3; exec 3>&-; wait $pid; cat la.out; echo ==bpftool; cat bm.out`);
    rmSync(out, { recursive: true, force: true });
    const [json, bpftoolOut = ''] = report.split('==bpftool\n');
    const [attach, before, after] = json!
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    // The workshop's own command found the lab's compile-counter map by name and dumped it.
    expect(bpftoolOut).toMatch(/"sapi": "apache"/);
    expect(bpftoolOut).toMatch(/"dir": "\/var\/www\/html\/path2"/);
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

  it("workshop mode: the probe of the workshop's bt/memc.bt attaches unchanged here, and doctor says so", async () => {
    // Our own one-line program on the workshop's exact probe, reading the same arguments as memc.bt.
    const probe = JSON.parse(readFileSync(join(ROOT, 'test', 'fixtures', 'workshop', 'workshop-commands.json'), 'utf8'))
      .memcBt.probe;
    const out =
      onHost(`cd /root; timeout -k 5 -s INT 15 bpftrace -e '${probe} { printf("SET %s %d %d\\n", str(arg1, arg2), arg4, arg5); }' > memc.out 2>&1 &
      for i in $(seq 100); do grep -q '^Attaching' memc.out && break; sleep 0.1; done; sleep 1
      curl -s -o /dev/null 'http://127.0.0.1/mem.php?n=3'; curl -s -o /dev/null 'http://127.0.0.1/fpm/mem.php?n=3'; wait; cat memc.out`);
    expect(out).toMatch(/Attaching 1 probe/);
    expect(out).toMatch(/SET ebpf-lab:0 1 60/);
    expect(out).toMatch(/SET ebpf-lab:2 4 60/);
    const d = await cli(['doctor', '--target', TARGET, '--output', 'json'], env);
    expectOk(d);
    expect(d.json.checks.find((c: any) => c.id === 'workshop-memc')).toMatchObject({
      status: 'ok',
      detail: expect.stringMatching(/bpftrace lists memcached_set: memc.bt runs unchanged/),
    });
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
    const fpm = onHost("systemctl list-unit-files 'php*-fpm.service' --no-legend | awk '{print $1}'").trim();
    expect(fpm).toBe('php8.1-fpm.service'); // Ubuntu 22.04's PHP
    onHost(`mkdir -p /var/lib/ebpf-lab/pending && touch /var/lib/ebpf-lab/pending/restart@${fpm}`);
    const pid = onHost(`systemctl show -p MainPID --value ${fpm}`).trim();
    const up = await cli(['up', '--target', TARGET, '--only', 'dtrace', '--output', 'json'], env);
    expectOk(up);
    expect(changeList(up.json)).toEqual([`dtrace: restart unit:${fpm}`]);
    expect(onHost(`systemctl show -p MainPID --value ${fpm}`).trim()).not.toBe(pid);
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
        expect(r.stderr).toMatch(
          /hint: ebpf-lab supports Ubuntu 22.04, Ubuntu 24.04, Ubuntu 26.04, Debian 12, Debian 13/,
        );
      } finally {
        onHost('cp /root/os-release.bak /usr/lib/os-release');
      }
    });
  });
});
