import { describe, expect, it } from 'vitest';
import { factsFixture } from '../support/fake-host.js';
import { supportedOs } from '../../src/facts/host.js';
import { bpftoolPackages, labPackages } from '../../steps/packages.js';

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

  it('picks bpftool packaging from the OS: linux-tools on Ubuntu, bpftool on Debian', () => {
    expect(bpftoolPackages(factsFixture('ubuntu-22.04-lab'))).toEqual([
      'linux-tools-common',
      'linux-tools-5.15.0-126-generic',
    ]);
    expect(bpftoolPackages(factsFixture('ubuntu-22.04-fresh'))).toEqual([
      'linux-tools-common',
      'linux-tools-6.8.0-1021-aws',
    ]);
    expect(bpftoolPackages(factsFixture('debian-12-sandbox'))).toEqual(['bpftool']);
    // a container on a foreign kernel has no linux-tools-<kernel> package
    expect(bpftoolPackages({ ...factsFixture('ubuntu-22.04-lab'), kernel: '6.18.44-fc-v657' })).toEqual([
      'linux-tools-common',
      'linux-tools-generic',
    ]);
    expect(labPackages(factsFixture('debian-12-sandbox'))).toContain('php-fpm');
  });
});
