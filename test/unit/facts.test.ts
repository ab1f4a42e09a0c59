import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { factsFixture } from '../support/fake-host.js';
import { parseHostFacts, supportedOs } from '../../src/facts/host.js';
import { bpftoolAlternatives, labPackages } from '../../steps/packages.js';
import { describeBpftool, parseBpftoolFacts } from '../../src/facts/bpftool.js';

describe('host facts parser', () => {
  it('reads the real Debian 12 sandbox (recorded)', () => {
    const f = factsFixture('debian-12-sandbox');
    expect(supportedOs(f)).toBe('Debian 12');
    expect(f).toMatchObject({
      arch: 'x86_64',
      multiarch: 'x86_64-linux-gnu',
      btf: true,
      cloudInit: false,
    });
    expect(f.php).toEqual({
      version: '8.2',
      libphp: '/usr/lib/apache2/modules/libphp8.2.so',
      fpmBinary: '/usr/sbin/php-fpm8.2',
      fpmUnit: 'php8.2-fpm.service',
      cli: '/usr/bin/php8.2',
      confDir: '/etc/php/8.2',
      usdt: true,
    });
    expect(f.libmemcached).toBe('/usr/lib/x86_64-linux-gnu/libmemcached.so.11');
    expect(f.apcuSo).toBe('/usr/lib/php/20220829/apcu.so');
  });

  it('reads the real Ubuntu 22.04 sandbox before and after PHP is installed (recorded)', () => {
    const fresh = factsFixture('ubuntu-22.04-sandbox-fresh');
    expect(supportedOs(fresh)).toBe('Ubuntu 22.04');
    expect(fresh.php).toBeUndefined();
    expect(fresh.libmemcached).toBeUndefined();
    expect(fresh).toMatchObject({ cloudInit: false, ubuntuKernel: false });
    expect(fresh.perfEventParanoid).toBe(2);
    const lab = factsFixture('ubuntu-22.04-sandbox');
    expect(lab.os).toMatchObject({ id: 'ubuntu', versionId: '22.04', codename: 'jammy' });
    expect(lab.php).toMatchObject({
      version: '8.1',
      libphp: '/usr/lib/apache2/modules/libphp8.1.so',
      fpmBinary: '/usr/sbin/php-fpm8.1',
      fpmUnit: 'php8.1-fpm.service',
      cli: '/usr/bin/php8.1',
      confDir: '/etc/php/8.1',
    });
    expect(lab.libmemcached).toBe('/usr/lib/x86_64-linux-gnu/libmemcached.so.11');
    expect(lab.apcuSo).toBe('/usr/lib/php/20210902/apcu.so');
  });

  it('reads the real Ubuntu 24.04 sandbox: PHP 8.3 built without DTrace, so no USDT notes (recorded)', () => {
    const f = factsFixture('ubuntu-24.04-sandbox');
    expect(supportedOs(f)).toBe('Ubuntu 24.04');
    expect(f.php).toMatchObject({ version: '8.3', fpmUnit: 'php8.3-fpm.service', usdt: false });
    expect(factsFixture('ubuntu-22.04-sandbox').php?.usdt).toBe(true);
  });

  it("reads an Ubuntu kernel's version signature and perf setting (recorded sandbox, edited: no Ubuntu kernel runs here)", () => {
    const raw = readFileSync(join(__dirname, '..', 'fixtures', 'facts', 'ubuntu-22.04-sandbox.txt'), 'utf8')
      .replace(/== perf\n2\n/, '== perf\n4\n')
      .replace(/== vsig\n/, '== vsig\nUbuntu 5.15.0-126.136-generic 5.15.167\n');
    const f = parseHostFacts(raw);
    expect(f).toMatchObject({ perfEventParanoid: 4, ubuntuKernel: true });
  });

  it('reads arm64 multiarch paths (the recorded Ubuntu 22.04 sandbox, edited to aarch64: no arm64 host here)', () => {
    const raw = readFileSync(join(__dirname, '..', 'fixtures', 'facts', 'ubuntu-22.04-sandbox.txt'), 'utf8')
      .replace(/== uname\nx86_64\n/, '== uname\naarch64\n')
      .replaceAll('x86_64-linux-gnu', 'aarch64-linux-gnu');
    const f = parseHostFacts(raw);
    expect(f.multiarch).toBe('aarch64-linux-gnu');
    expect(f.libmemcached).toBe('/usr/lib/aarch64-linux-gnu/libmemcached.so.11');
  });

  it('flags an unsupported OS without BTF', () => {
    const f = factsFixture('centos-9-nobtf');
    expect(supportedOs(f)).toBeUndefined();
    expect(f.btf).toBe(false);
  });

  it('picks bpftool packaging from the OS: linux-tools on Ubuntu (own kernel first), bpftool on Debian', () => {
    // an Ubuntu kernel (edited in: no Ubuntu kernel runs here) has its own linux-tools first
    expect(bpftoolAlternatives({ ...factsFixture('ubuntu-22.04-sandbox'), kernel: '5.15.0-126-generic' })).toBe(
      'linux-tools-5.15.0-126-generic|bpftool|linux-tools-generic-hwe-22.04|linux-tools-generic',
    );
    expect(bpftoolAlternatives(factsFixture('debian-12-sandbox'))).toBe('bpftool');
    // a container on a foreign kernel: its linux-tools-<kernel> is simply not in the archive
    expect(bpftoolAlternatives({ ...factsFixture('ubuntu-22.04-sandbox'), kernel: 'weird kernel' })).toBe(
      'bpftool|linux-tools-generic-hwe-22.04|linux-tools-generic',
    );
    expect(labPackages(factsFixture('debian-12-sandbox'))).toContain('php-fpm');
  });
});

describe('bpftool facts', () => {
  const recorded = (n: string) => readFileSync(join(__dirname, '..', 'fixtures', 'bpftool', `${n}.txt`), 'utf8');
  it('recorded: Ubuntu 22.04 picks the HWE bpftool past the wrapper; Debian 12 its own /usr/sbin/bpftool', () => {
    const u = parseBpftoolFacts(recorded('ubuntu-22.04-sandbox'));
    expect(u.wrapper).toBe(true);
    expect(u.chosen?.path).toMatch(/^\/usr\/lib\/linux-tools\/6\.8\.0-\d+-generic\/bpftool$/);
    expect(u.chosen).toMatchObject({ version: '7.4.0', libbpf: '1.4' });
    expect(parseBpftoolFacts(recorded('debian-12-sandbox')).chosen).toMatchObject({
      path: '/usr/sbin/bpftool',
      readsBtf: true,
    });
    expect(parseBpftoolFacts(recorded('ubuntu-22.04-sandbox-fresh'))).toEqual({
      candidates: [],
      chosen: undefined,
      wrapper: false,
    });
  });
  it('skips the Ubuntu wrapper and picks the first binary that reads the kernel BTF (recorded on the Ubuntu 22.04 sandbox shape)', () => {
    const out = [
      'wrapper',
      '/usr/lib/linux-tools-6.8.0-60/bpftool\tyes\tbpftool v7.4.0 using libbpf v1.4 ',
      '/usr/lib/linux-tools-5.15.0-140/bpftool\tno\tbpftool v5.15.178 ',
    ].join('\n');
    const f = parseBpftoolFacts(out);
    expect(f.wrapper).toBe(true);
    expect(f.chosen).toEqual({
      path: '/usr/lib/linux-tools-6.8.0-60/bpftool',
      version: '7.4.0',
      libbpf: '1.4',
      readsBtf: true,
    });
    expect(describeBpftool(f)).toBe('/usr/lib/linux-tools-6.8.0-60/bpftool (bpftool v7.4.0, libbpf v1.4)');
  });
  it('says so when no bpftool can read the BTF, naming what it tried', () => {
    const f = parseBpftoolFacts('wrapper\n/usr/lib/linux-tools-5.15.0-140/bpftool\tno\tbpftool v5.15.178 \n');
    expect(f.chosen).toBeUndefined();
    expect(describeBpftool(f)).toMatch(/no bpftool here can read this kernel's BTF \(tried .*v5\.15\.178\)/);
    expect(describeBpftool(parseBpftoolFacts('wrapper\n'))).toMatch(/only the linux-tools wrapper/);
  });
});
