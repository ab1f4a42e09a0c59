import { sandboxOs } from '../../src/targets/sandbox-os.js';
import { SERVICE_FORWARDS } from '../../src/targets/sandbox-spec.js';
import { labUrls, urlLines } from '../../src/targets/urls.js';
import { describe, expect, it } from 'vitest';
import { UserError } from '../../src/errors.js';
import {
  aptNeedsUpdate,
  baseKey,
  escapeBindPath,
  forwarderArgv,
  hostKeyLine,
  isOurForwarder,
  isOurNspawn,
  machineName,
  nspawnArgv,
  passwdEntry,
  repoKey,
  sortHostKeys,
  validatePackages,
  validateSandboxName,
} from '../../src/targets/sandbox-spec.js';

describe('sandbox names and packages', () => {
  it.each(['default', 'a', 'lab-01', 'x'.repeat(31)])('accepts %s', (n) => {
    expect(() => validateSandboxName(n)).not.toThrow();
  });
  it.each(['', 'Default', '-a', 'a_b', 'a/b', '../x', 'x'.repeat(32), 'a b'])('rejects %j with a UserError', (n) => {
    expect(() => validateSandboxName(n)).toThrow(UserError);
  });
  it('rejects package names that are not Debian package names', () => {
    expect(() => validatePackages(['apache2', 'libapache2-mod-php8.2', 'g++'])).not.toThrow();
    expect(() => validatePackages(['-o', 'x'])).toThrow(UserError);
    expect(() => validatePackages(['apache2;rm'])).toThrow(/apache2;rm/);
  });
  it('makes machine names from the sandbox name and a random suffix', () => {
    expect(machineName('default', 'a1b2c3')).toBe('ebpflab-default-a1b2c3');
  });
});

describe('cache keys', () => {
  it('keys the base by OS, architecture and mirror', () => {
    const jammy = sandboxOs('ubuntu-22.04');
    expect(baseKey(jammy, undefined, 'x64')).toBe(baseKey(jammy, undefined, 'x64'));
    expect(baseKey(jammy, undefined, 'x64')).not.toBe(baseKey(jammy, undefined, 'arm64'));
    expect(baseKey(jammy, undefined, 'x64')).not.toBe(baseKey(sandboxOs('ubuntu-24.04'), undefined, 'x64'));
    expect(baseKey(jammy, 'http://m/ubuntu', 'x64')).not.toBe(baseKey(jammy, undefined, 'x64'));
  });
  it('keys a repo by the set of packages and the base', () => {
    expect(repoKey('b1', ['curl', 'apache2'])).toBe(repoKey('b1', ['apache2', 'curl', 'curl']));
    expect(repoKey('b1', ['curl'])).not.toBe(repoKey('b1', ['curl', 'apache2']));
    expect(repoKey('b1', ['curl'])).not.toBe(repoKey('b2', ['curl']));
  });
});

describe('container and forwarder argv', () => {
  it('boots systemd with BPF allowed, a private network and the repo read-only', () => {
    const argv = nspawnArgv({ rootfs: '/h/sandboxes/d/rootfs', machine: 'm1', repoDir: '/c/repo-1' });
    expect(argv.slice(0, 6)).toEqual(['systemd-nspawn', '-D', '/h/sandboxes/d/rootfs', '-b', '-M', 'm1']);
    expect(argv).toContain('--register=no');
    expect(argv).toContain('--keep-unit');
    expect(argv).toContain('--capability=all');
    expect(argv).toContain('--system-call-filter=bpf perf_event_open');
    expect(argv).toContain('--private-network');
    expect(argv).toContain('--bind=/sys/fs/bpf');
    expect(argv).toContain('--bind-ro=/c/repo-1:/srv/ebpf-lab-repo');
    expect(argv).toContain('--console=pipe');
  });
  it('escapes colons and backslashes in bind paths', () => {
    expect(escapeBindPath('/a:b\\c')).toBe('/a\\:b\\\\c');
  });
  it('forwards loopback only, into the leader netns, with socat-escaped colons and TCP_NODELAY on both legs', () => {
    expect(forwarderArgv(2230, 4242)).toEqual([
      'socat',
      'TCP-LISTEN:2230,bind=127.0.0.1,reuseaddr,fork,nodelay',
      'EXEC:nsenter --net=/proc/4242/ns/net socat STDIO TCP\\:127.0.0.1\\:22\\,nodelay',
    ]);
  });
  it('recognises only our own processes (pid reuse)', () => {
    const argv = ['/usr/bin/systemd-nspawn', ...nspawnArgv({ rootfs: '/r', machine: 'm', repoDir: '/x' }).slice(1)];
    expect(isOurNspawn(argv, '/r', 'm')).toBe(true);
    expect(isOurNspawn(argv, '/other', 'm')).toBe(false);
    expect(isOurNspawn(argv, '/r', 'm2')).toBe(false);
    expect(isOurNspawn(['bash'], '/r', 'm')).toBe(false);
    expect(isOurNspawn(undefined, '/r', 'm')).toBe(false);
    expect(isOurForwarder(forwarderArgv(1, 2), 1, 2)).toBe(true);
    expect(isOurForwarder(forwarderArgv(1, 2), 1, 3)).toBe(false);
    expect(isOurForwarder(['sleep', '1'], 1, 2)).toBe(false);
    // a forwarder from before nodelay: stopped (legacy), but not taken as the current one
    const old = [
      'socat',
      'TCP-LISTEN:1,bind=127.0.0.1,reuseaddr,fork',
      'EXEC:nsenter --net=/proc/2/ns/net socat STDIO TCP\\:127.0.0.1\\:22',
    ];
    expect(isOurForwarder(old, 1, 2)).toBe(false);
    expect(isOurForwarder(old, 1, 2, true)).toBe(true);
    expect(isOurForwarder(old, 1, 3, true)).toBe(false);
  });
});

describe('parsers', () => {
  it('strips the comment from host keys and sorts ed25519 first', () => {
    expect(hostKeyLine('ssh-ed25519 AAAAC3Nz root@ebpf-lab\n')).toBe('ssh-ed25519 AAAAC3Nz');
    expect(() => hostKeyLine('garbage')).toThrow();
    expect(sortHostKeys(['ssh-rsa A', 'ecdsa-sha2-nistp256 B', 'ssh-ed25519 C'])).toEqual([
      'ssh-ed25519 C',
      'ecdsa-sha2-nistp256 B',
      'ssh-rsa A',
    ]);
  });
  it('reads uid, gid and home from /etc/passwd', () => {
    const passwd = 'root:x:0:0:root:/root:/bin/bash\nlab:x:1000:1000::/home/lab:/bin/bash\n';
    expect(passwdEntry(passwd, 'lab')).toEqual({ uid: 1000, gid: 1000, home: '/home/lab' });
    expect(passwdEntry(passwd, 'nosudo')).toBeUndefined();
  });
  it('knows when apt needs fresh package lists', () => {
    expect(aptNeedsUpdate('E: Unable to locate package foo')).toBe(true);
    expect(aptNeedsUpdate("E: Package 'x' has no installation candidate")).toBe(true);
    expect(aptNeedsUpdate('E: Failed to fetch http://deb.debian.org/x.deb  404  Not Found')).toBe(true);
    expect(aptNeedsUpdate('E: Could not get lock /var/lib/dpkg/lock')).toBe(false);
  });
});

describe('loopback forwards of the lab services', () => {
  it('forward the pages, Grafana and Prometheus from 127.0.0.1 only, each to its port in the container', () => {
    expect(SERVICE_FORWARDS.map((f) => `${f.service}:${f.to}`)).toEqual(['web:80', 'grafana:3000', 'prometheus:9090']);
    const argv = forwarderArgv(41000, 1234, false, 3000);
    expect(argv[1]).toBe('TCP-LISTEN:41000,bind=127.0.0.1,reuseaddr,fork,nodelay');
    expect(argv[2]).toBe('EXEC:nsenter --net=/proc/1234/ns/net socat STDIO TCP\\:127.0.0.1\\:3000\\,nodelay');
    expect(isOurForwarder(argv, 41000, 1234, false, 3000)).toBe(true);
    expect(isOurForwarder(argv, 41000, 1234)).toBe(false); // not the ssh forwarder
  });
  it('print where to open the lab: sandbox forwards, or public URLs plus a tunnel for Prometheus', () => {
    const sandbox = labUrls(
      { kind: 'sandbox' },
      { web: 'http://127.0.0.1:41001/', grafana: 'http://127.0.0.1:41002/', prometheus: 'http://127.0.0.1:41003/' },
    );
    expect(urlLines(sandbox)).toEqual([
      'pages      http://127.0.0.1:41001/ (mod_php)   http://127.0.0.1:41001/fpm/ (php-fpm)',
      'grafana    http://127.0.0.1:41002/',
      'prometheus http://127.0.0.1:41003/',
    ]);
    expect(labUrls({ kind: 'sandbox' }, undefined)).toEqual({}); // stopped: nothing to open
    const remote = labUrls({ kind: 'ssh', host: '203.0.113.7', user: 'ubuntu', port: 22, keyPath: '/k/id' });
    expect(remote.grafana).toBe('http://203.0.113.7:3000/');
    expect(remote.tunnel).toBe('ssh -i /k/id -p 22 -N -L 9090:127.0.0.1:9090 ubuntu@203.0.113.7');
    expect(labUrls({ kind: 'ssh', host: '2001:db8::1', user: 'u', port: 2222 }).pages).toBe('http://[2001:db8::1]/');
  });
});
