import { describe, expect, it } from 'vitest';
import { factsFixture } from '../support/fake-host.js';
import { supportedOs } from '../../src/facts/host.js';
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
      virt: 'systemd-nspawn',
      cloudInit: false,
    });
    expect(f.php).toEqual({
      version: '8.2',
      libphp: '/usr/lib/apache2/modules/libphp8.2.so',
      fpmBinary: '/usr/sbin/php-fpm8.2',
      fpmUnit: 'php8.2-fpm.service',
      cli: '/usr/bin/php8.2',
      confDir: '/etc/php/8.2',
    });
    expect(f.libmemcached).toBe('/usr/lib/x86_64-linux-gnu/libmemcached.so.11');
    expect(f.apcuSo).toBe('/usr/lib/php/20220829/apcu.so');
  });

  it('reads Ubuntu 22.04 before and after PHP is installed', () => {
    const fresh = factsFixture('ubuntu-22.04-fresh');
    expect(supportedOs(fresh)).toBe('Ubuntu 22.04');
    expect(fresh.php).toBeUndefined();
    expect(fresh.cloudInit).toBe(true);
    expect(fresh.defaultUser).toBe('ubuntu');
    const lab = factsFixture('ubuntu-22.04-lab');
    expect(lab.php?.libphp).toBe('/usr/lib/apache2/modules/libphp8.1.so');
    expect(lab.php?.fpmUnit).toBe('php8.1-fpm.service');
  });

  it('reads Ubuntu 24.04 on arm64 (multiarch paths, PHP 8.3)', () => {
    const f = factsFixture('ubuntu-24.04-arm64-lab');
    expect(supportedOs(f)).toBe('Ubuntu 24.04');
    expect(f.multiarch).toBe('aarch64-linux-gnu');
    expect(f.php?.version).toBe('8.3');
    expect(f.libmemcached).toBe('/usr/lib/aarch64-linux-gnu/libmemcached.so.11');
  });

  it('flags an unsupported OS without BTF', () => {
    const f = factsFixture('centos-9-nobtf');
    expect(supportedOs(f)).toBeUndefined();
    expect(f.btf).toBe(false);
  });

  it('picks bpftool packaging from the OS: linux-tools on Ubuntu (own kernel first), bpftool on Debian', () => {
    expect(bpftoolAlternatives(factsFixture('ubuntu-22.04-lab'))).toBe(
      'linux-tools-5.15.0-126-generic|bpftool|linux-tools-generic-hwe-22.04|linux-tools-generic',
    );
    expect(bpftoolAlternatives(factsFixture('debian-12-sandbox'))).toBe('bpftool');
    // a container on a foreign kernel: its linux-tools-<kernel> is simply not in the archive
    expect(bpftoolAlternatives({ ...factsFixture('ubuntu-22.04-lab'), kernel: 'weird kernel' })).toBe(
      'bpftool|linux-tools-generic-hwe-22.04|linux-tools-generic',
    );
    expect(labPackages(factsFixture('debian-12-sandbox'))).toContain('php-fpm');
  });
});

describe('bpftool facts', () => {
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
