import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { doctorChecks, parseDoctorFacts, parseNetem, type DoctorCheck } from '../../src/facts/doctor.js';
import { doctorLines } from '../../src/commands/doctor.js';
import { parseBpftoolFacts } from '../../src/facts/bpftool.js';

const fixture = (name: string) =>
  parseDoctorFacts(readFileSync(join(__dirname, '..', 'fixtures', 'doctor', `${name}.txt`), 'utf8'));
const byId = (checks: DoctorCheck[]) => Object.fromEntries(checks.map((c) => [c.id, c]));

describe('doctor on recorded facts', () => {
  it('the real Debian 12 sandbox passes everything but netem (its kernel has no netem/prio qdisc)', () => {
    const f = fixture('debian-12-sandbox');
    expect(f).toMatchObject({
      kernel: expect.stringMatching(/^6\.18\./),
      btf: true,
      uid: 0,
      uprobe: true,
      bpftrace: '0.17.0',
      bpftraceBtf: true,
      usdtHeader: true,
      php: expect.stringMatching(/^8\.2\./),
    });
    expect(f.bpftool).toMatchObject({
      wrapper: false,
      chosen: { path: '/usr/sbin/bpftool', version: '7.1.0', libbpf: '1.1', readsBtf: true },
    });
    expect(f.usdt).toEqual([
      { what: 'mod_php', path: '/usr/lib/apache2/modules/libphp8.2.so', notes: 15 },
      { what: 'php-fpm', path: '/usr/sbin/php-fpm8.2', notes: 15 },
    ]);
    const checks = doctorChecks(f);
    const c = byId(checks);
    expect(checks.filter((x) => x.status !== 'ok').map((x) => x.id)).toEqual(['netem']);
    expect(c['netem']).toMatchObject({
      status: 'warn',
      detail: expect.stringMatching(
        /unavailable: Error: Specified qdisc kind is unknown.*CONFIG_NET_SCH_NETEM is not set/,
      ),
    });
    expect(c['netem']!.fix).toMatch(/CONFIG_NET_SCH_NETEM/);
    expect(c['caps']!.detail).toMatch(/CAP_SYS_ADMIN/);
    expect(checks.filter((x) => x.status === 'ok').every((x) => x.fix === undefined)).toBe(true);
    expect(doctorLines(checks).at(-1)).toBe('ready: 12 ok, 1 warning(s), 0 failed');
    expect(f.memc).toEqual({
      atWorkshopPath: true,
      found: ['/usr/lib/x86_64-linux-gnu/libmemcached.so.11'],
      probeListed: true,
    });
    expect(c['workshop-memc']).toMatchObject({ status: 'ok', detail: expect.stringMatching(/runs unchanged/) });
  });

  it("the workshop's memc.bt: an arm64 host (edited) is told which path to put in it", () => {
    const raw = readFileSync(join(__dirname, '..', 'fixtures', 'doctor', 'debian-12-sandbox.txt'), 'utf8');
    const arm = raw.replace(/== memc\n[\s\S]*$/, '== memc\nfound /usr/lib/aarch64-linux-gnu/libmemcached.so.11\n');
    expect(arm).not.toBe(raw);
    const c = byId(doctorChecks(parseDoctorFacts(arm)));
    expect(c['workshop-memc']).toMatchObject({
      status: 'warn',
      detail: 'not at that path: this host has /usr/lib/aarch64-linux-gnu/libmemcached.so.11',
    });
    expect(c['workshop-memc']!.fix).toContain(
      "sed -i 's#/usr/lib/x86_64-linux-gnu/libmemcached.so.11#/usr/lib/aarch64-linux-gnu/libmemcached.so.11#' bt/memc.bt",
    );
    expect(c['workshop-memc']!.fix).toContain('/opt/ebpf-lab/bt/memcached-set.bt');
    const none = byId(doctorChecks(parseDoctorFacts(raw.replace(/== memc\n[\s\S]*$/, '== memc\n'))));
    expect(none['workshop-memc']).toMatchObject({ status: 'warn', detail: 'libmemcached is not installed' });
    expect(none['workshop-memc']!.fix).toMatch(/libmemcached11t64/);
  });

  it('the real Ubuntu 22.04 sandbox (recorded): bpftrace 0.14 without BEGIN or BTF, bpftool only off PATH, libbpf 0.5', () => {
    const f = fixture('ubuntu-22.04-sandbox');
    expect(f).toMatchObject({ bpftrace: '0.14.0', bpftraceBtf: false, php: expect.stringMatching(/^8\.1\./) });
    expect(f.bpftool.wrapper).toBe(true);
    expect(f.bpftool.chosen).toMatchObject({ version: '7.4.0', libbpf: '1.4', readsBtf: true });
    const checks = doctorChecks(f);
    const c = byId(checks);
    expect(checks.filter((x) => x.status !== 'ok').map((x) => x.id)).toEqual([
      'bpftrace',
      'bpftrace-btf',
      'bpftool',
      'netem',
    ]);
    expect(c['bpftrace']).toMatchObject({
      detail: expect.stringMatching(
        /v0\.14\.0: BEGIN\/END do not work .*Could not resolve symbol: \/proc\/self\/exe:BEGIN_trigger/,
      ),
      fix: expect.stringMatching(/bpftrace-dbgsym/),
    });
    expect(c['bpftrace-btf']!.detail).toMatch(/cannot read kernel .*'s BTF/);
    expect(c['bpftool']!.detail).toMatch(
      /linux-tools\/6\.8\.[^ ]*\/bpftool \(bpftool v7\.4\.0, libbpf v1\.4\).*no bpf\/usdt\.bpf\.h; `bpftool` on PATH is the linux-tools wrapper/,
    );
    expect(c['bpftool']!.fix).toMatch(
      /^run \/usr\/lib\/linux-tools\/6\.8\.[^ ]*\/bpftool instead of bpftool .*lab_usdt\.bpf\.h/,
    );
    expect(c['usdt-mod_php']!.detail).toMatch(/libphp8\.1\.so: \d+ stapsdt notes/);
  });

  it('no bpftool that can read the BTF fails, naming what was tried (5.15 tools on a 6.x kernel, edited)', () => {
    const f = fixture('ubuntu-22.04-sandbox');
    const old = {
      ...f,
      bpftool: parseBpftoolFacts('wrapper\n/usr/lib/linux-tools-5.15.0-140/bpftool\tno\tbpftool v5.15.178 \n'),
    };
    const c = byId(doctorChecks(old));
    expect(c['bpftool']).toMatchObject({
      status: 'fail',
      fix: expect.stringMatching(/linux-tools-generic-hwe-22\.04/),
    });
  });

  it('a locked-down container (edited): each missing piece fails with its own fix', () => {
    const checks = doctorChecks(fixture('edited-container-no-bpf'));
    const c = byId(checks);
    expect(c['kernel']).toMatchObject({ status: 'warn', detail: expect.stringMatching(/^5\.4\.0/) });
    expect(c['btf']).toMatchObject({ status: 'fail', fix: expect.stringMatching(/CONFIG_DEBUG_INFO_BTF/) });
    expect(c['caps']).toMatchObject({ status: 'fail', detail: expect.stringMatching(/00000000a80425fb: neither/) });
    expect(c['syscalls']).toMatchObject({
      status: 'fail',
      detail: expect.stringMatching(/Operation not permitted/),
      fix: expect.stringMatching(/system-call-filter/),
    });
    expect(c['tracefs']).toMatchObject({ status: 'fail', fix: 'sudo mount -t tracefs nodev /sys/kernel/tracing' });
    expect(c['uprobe']).toMatchObject({ status: 'fail', fix: expect.stringMatching(/CONFIG_UPROBE_EVENTS/) });
    expect(doctorLines(checks).at(-1)).toMatch(/^NOT READY: .* 5 failed$/);
  });

  it('a PHP without DTrace (edited): no DTrace line, no USDT notes', () => {
    const c = byId(doctorChecks(fixture('edited-php-without-dtrace')));
    expect(c['php-dtrace']).toMatchObject({
      status: 'fail',
      detail: expect.stringMatching(/no "DTrace Support" line/),
      fix: expect.stringMatching(/--enable-dtrace/),
    });
    expect(c['usdt-mod_php']).toMatchObject({
      status: 'fail',
      detail: '/usr/lib/apache2/modules/libphp8.2.so: 0 stapsdt notes',
    });
    expect(c['usdt-php-fpm']!.status).toBe('fail');
  });

  it('a fresh host (edited): what `up` installs is a warning, not a failure', () => {
    const checks = doctorChecks(fixture('edited-fresh-host'));
    const c = byId(checks);
    for (const id of ['syscalls', 'php-dtrace', 'usdt-mod_php', 'usdt-php-fpm', 'bpftrace', 'bpftool'])
      expect(c[id]!.status, id).toBe('warn');
    expect(c['syscalls']!.detail).toMatch(/not tested: bpftrace is not installed/);
    expect(checks.some((x) => x.status === 'fail')).toBe(false);
  });

  it('parses the netem test: success, and the kernel message with its config lines', () => {
    expect(parseNetem('rc=0').available).toBe(true);
    const no = parseNetem('rc=2\nError: Specified qdisc kind is unknown.\n# CONFIG_NET_SCH_NETEM is not set');
    expect(no).toEqual({
      available: false,
      reason: 'Error: Specified qdisc kind is unknown.; # CONFIG_NET_SCH_NETEM is not set',
    });
  });
});

describe('doctor on the real Ubuntu 24.04 sandbox (recorded)', () => {
  it('says its PHP 8.3 has no DTrace, what that costs, and what to do', () => {
    const c = byId(doctorChecks(fixture('ubuntu-24.04-sandbox')));
    expect(c['php-dtrace']).toMatchObject({
      status: 'fail',
      detail: expect.stringMatching(/^PHP 8\.3\.\d+: DTrace Support => disabled$/),
    });
    expect(c['php-dtrace']!.fix).toMatch(
      /without --enable-dtrace .*LP #2088977.*NOT VERIFIED.*Ubuntu 22\.04 or 26\.04/,
    );
    expect(c['usdt-mod_php']).toMatchObject({ status: 'fail', fix: expect.stringMatching(/see php-dtrace/) });
    expect(c['bpftool']!.detail).toMatch(/bpftool v7\.\d+\.\d+/);
  });
});
