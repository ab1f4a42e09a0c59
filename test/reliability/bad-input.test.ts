import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import {
  copyFileSync,
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  AccessDeniedException,
  AccountSetupInProgressException,
  LightsailClient,
  UnauthenticatedException,
} from '@aws-sdk/client-lightsail';
import { mockClient } from 'aws-sdk-client-mock';
import { CACHE, changeList, cli, type CliResult } from '../support/cli.js';
import { fingerprint, inventory, labFacts, labRun, onHost, TARGET, SKIP, useLab, type Lab } from '../support/fault.js';
import { pidAlive } from '../../src/targets/sandbox-proc.js';

/**
 * Bad input, table-driven: wrong flags, steps, targets, config files and hostile hosts.
 * Every row must end with the exit code it documents (2: bad input, the user's to fix;
 * 1: a step failed on the host for a reason outside the input, like a full disk or a
 * dead apt repository), an `error:` line saying what happened plus a `hint:` saying what
 * to do (or, for exit 1, the failed step's message naming the cause), and nothing changed:
 * every managed file and the operator's files have the same sha256, mode, owner and mtime
 * after the row as before it (rows that drift the host first compare with the drifted state),
 * and no Lightsail call that changes the account was made.
 */
const lab: Lab = useLab();
const scratch = mkdtempSync(join(tmpdir(), 'ebpf-lab-bad-'));
const OPERATOR = ['/var/www/html/mine.php', '/etc/apache2/conf-available/mine.conf', '/etc/prometheus/mine.yml'];
let watched: string[] = [];
let silent: Server;
let silentPort = 0;
const sockets: Socket[] = [];

interface Row {
  name: string;
  args: () => string[];
  code: 1 | 2;
  /** What the message must say. */
  says: RegExp;
  /** The host is reached: fingerprint before/after. */
  host?: boolean;
  setup?: () => void | Promise<void>;
  teardown?: () => void | Promise<void>;
  /** Run main() in this process (Lightsail rows: the API is aws-sdk-client-mock). */
  inproc?: boolean;
  /** What the output must not say (e.g. a chmod hint for a file that is no key). */
  notSays?: RegExp;
  /** Environment of the run (e.g. EBPF_LAB_HOME), over the lab's. */
  env?: () => Record<string, string>;
}

const ssh = (user = 'root') => `ssh://${user}@127.0.0.1:${lab.port}`;
const file = (name: string, text: string, mode = 0o600) => {
  const p = join(scratch, name);
  writeFileSync(p, text, { mode });
  chmodSync(p, mode);
  return p;
};
const mirror = () => {
  const d = join(scratch, 'mirror', 'ebpf_exporter', '2.5.1');
  mkdirSync(d, { recursive: true });
  const bin = Buffer.from('#!/bin/sh\necho not the exporter\n'); // a stand-in file, not ebpf_exporter
  writeFileSync(join(d, 'ebpf_exporter.x86_64'), bin);
  const wrong = createHash('sha256').update('something else').digest('hex');
  writeFileSync(join(d, 'sha256sums.txt'), `${wrong}  ebpf_exporter.x86_64\n`);
  return join(scratch, 'mirror');
};
/** OpenPGP stand-in keys made by gpg in a throw-away GNUPGHOME (Grafana's real key cannot be downloaded here). */
let pgp: { two: string; binary: Buffer } | undefined;
function standInKeys(): { two: string; binary: Buffer } {
  if (pgp) return pgp;
  const gnupg = mkdtempSync(join(tmpdir(), 'ebpf-lab-bad-gpg-'));
  const env = { ...process.env, GNUPGHOME: gnupg, LC_ALL: 'C' };
  const gpg = (...a: string[]) =>
    execFileSync('gpg', ['--batch', '--no-tty', '--quiet', '--pinentry-mode', 'loopback', '--passphrase', '', ...a], {
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
  try {
    gpg('--quick-gen-key', 'stand-in one <one@example.invalid>', 'ed25519', 'sign', 'never');
    gpg('--quick-gen-key', 'stand-in two <two@example.invalid>', 'ed25519', 'sign', 'never');
    pgp = { two: gpg('--armor', '--export').toString('utf8'), binary: gpg('--export', 'one@example.invalid') };
  } finally {
    execFileSync('gpgconf', ['--kill', 'gpg-agent'], { env });
    rmSync(gnupg, { recursive: true, force: true });
  }
  return pgp;
}
/** A mirror holding only Grafana's key file, with `content`. */
const grafanaMirror = (name: string, content: string | Buffer) => {
  const d = join(scratch, name, 'grafana-apt-key');
  mkdirSync(d, { recursive: true });
  writeFileSync(join(d, 'grafana-gpg-full.key'), content);
  return join(scratch, name);
};
const mountTiny = (dir: string) =>
  `set -e; d=${dir}; rm -rf /root/keep.$$; cp -a $d /root/keep; mount -t tmpfs -o size=256k none $d; cp -a /root/keep/. $d/; rm -rf /root/keep; ` +
  `dd if=/dev/zero of=$d/.fill bs=4k count=1000 2>/dev/null || true`;
const unmount = (dir: string) => `umount ${dir}`;
const fifo = (name: string) => {
  const p = join(scratch, name);
  rmSync(p, { force: true });
  execFileSync('mkfifo', [p]);
  return p;
};
/** A scratch EBPF_LAB_HOME prepared by `make` (created once per row). */
const home = (name: string, make: (dir: string) => void = () => {}) => {
  const d = join(scratch, 'homes', name);
  if (!existsSync(d)) {
    mkdirSync(d, { recursive: true });
    make(d);
  }
  return d;
};
/** After a refused sandbox: no sandbox directory, no half-built base left in the cache. */
const nothingCreated = async (name: string) => {
  delete process.env['EBPF_LAB_APT_MIRROR'];
  expect(readdirSync(join(lab.home, 'sandboxes'))).not.toContain(name);
  // A build's temp entry ends in its builder's pid: one whose process has ended is left over
  // (the run under test has ended). Live ones are other suites' builds going on meanwhile.
  const left: string[] = [];
  for (const f of readdirSync(CACHE)) {
    const pid = /\.tmp-(\d+)$/.exec(f)?.[1];
    if (pid && !(await pidAlive(Number(pid)))) left.push(f);
  }
  expect(left).toEqual([]);
};

const ROWS: Row[] = [
  // CLI
  { name: 'unknown flag', args: () => ['up', '--frobnicate'], code: 2, says: /Unknown option '--frobnicate'/ },
  { name: 'unknown command', args: () => ['upp'], code: 2, says: /unknown command "upp"/ },
  {
    name: 'unknown step in --only',
    args: () => ['up', '--target', TARGET, '--only', 'php,nope'],
    code: 2,
    says: /unknown step "nope"/,
  },
  // step selection and ignored flags (issue 14): refused before any sandbox is created or booted
  {
    name: "--only '' (used to run every step)",
    args: () => ['up', '--target', 'sandbox:only-empty', '--only', ''],
    code: 2,
    says: /--only needs at least one step id/,
    teardown: () => nothingCreated('only-empty'),
  },
  {
    name: '--only ,,, (used to run every step)',
    args: () => ['up', '--target', 'sandbox:only-commas', '--only', ',,,'],
    code: 2,
    says: /--only needs at least one step id/,
    teardown: () => nothingCreated('only-commas'),
  },
  {
    name: '--only X --skip X (used to boot a sandbox to run nothing)',
    args: () => ['up', '--target', 'sandbox:only-skip', '--only', 'php', '--skip', 'php'],
    code: 2,
    says: /php is both in --only and in --skip/,
    teardown: () => nothingCreated('only-skip'),
  },
  {
    name: '--key with a sandbox (used to be ignored)',
    args: () => ['up', '--target', 'sandbox:with-key', '--key', lab.key],
    code: 2,
    says: /--key does not apply to sandbox:with-key/,
    teardown: () => nothingCreated('with-key'),
  },
  {
    name: 'unknown step in --skip',
    args: () => ['plan', '--target', TARGET, '--skip', 'grafna'],
    code: 2,
    says: /unknown step "grafna"/,
  },
  { name: 'bad --output', args: () => ['up', '--output', 'xml'], code: 2, says: /--output must be tty, plain or json/ },
  { name: 'bad --opcache', args: () => ['up', '--target', TARGET, '--opcache', 'maybe'], code: 2, says: /opcache/ },
  { name: 'bad --dtrace', args: () => ['up', '--target', TARGET, '--dtrace', 'sometimes'], code: 2, says: /dtrace/ },
  {
    name: 'bad --exporter-version',
    args: () => ['up', '--target', TARGET, '--exporter-version', 'latest'],
    code: 2,
    says: /exporter-version/,
  },
  {
    name: 'bad --prometheus',
    args: () => ['up', '--target', TARGET, '--prometheus', 'docker'],
    code: 2,
    says: /prometheus/,
  },
  { name: 'stray positional argument', args: () => ['up', 'sandbox'], code: 2, says: /unexpected argument "sandbox"/ },
  {
    name: 'bad --rate for load',
    args: () => ['load', '--target', TARGET, '--rate', '0'],
    code: 2,
    says: /--rate must be/,
  },
  {
    name: 'bad --duration for load',
    args: () => ['load', '--target', TARGET, '--duration', '5x'],
    code: 2,
    says: /--duration must be/,
  },
  // targets
  { name: 'unknown target', args: () => ['up', '--target', 'bogus'], code: 2, says: /unknown target "bogus"/ },
  // Sandbox OS
  {
    name: 'unknown --os',
    args: () => ['up', '--target', TARGET, '--os', 'ubuntu-20.04'],
    code: 2,
    says: /unknown --os "ubuntu-20\.04"[\s\S]*hint: pick one of ubuntu-22\.04, ubuntu-24\.04, ubuntu-26\.04, debian-12, debian-13/,
  },
  {
    name: '--os with a target other than a sandbox',
    args: () => ['up', '--target', ssh(), '--os', 'debian-12'],
    code: 2,
    says: /--os does not apply to ssh:/,
  },
  {
    name: 'an OS change on an existing sandbox',
    args: () => ['up', '--target', TARGET, '--os', 'debian-13'],
    code: 2,
    host: true,
    says: /runs Ubuntu 22\.04; it cannot become Debian 13[\s\S]*hint: leave --os out/,
  },
  {
    name: 'EBPF_LAB_APT_MIRROR that is not a URL',
    args: () => ['up', '--target', 'sandbox:bad-mirror'],
    code: 2,
    says: /EBPF_LAB_APT_MIRROR="mirror\.example\/ubuntu" is not a URL/,
    setup: () => void (process.env['EBPF_LAB_APT_MIRROR'] = 'mirror.example/ubuntu'),
    teardown: () => nothingCreated('bad-mirror'),
  },
  {
    name: 'an archive that cannot be reached (names the OS and the mirror option)',
    args: () => ['up', '--target', 'sandbox:no-archive', '--os', 'ubuntu-24.04'],
    code: 2,
    says: /cannot reach the package archive for the Ubuntu 24\.04 sandbox at http:\/\/127\.0\.0\.1:9\/ubuntu[\s\S]*hint: .*EBPF_LAB_APT_MIRROR/,
    setup: () => void (process.env['EBPF_LAB_APT_MIRROR'] = 'http://127.0.0.1:9/ubuntu'),
    teardown: () => nothingCreated('no-archive'),
  },
  {
    name: 'user@host without ssh://',
    args: () => ['up', '--target', 'root@127.0.0.1'],
    code: 2,
    says: /did you mean ssh:\/\/root@127\.0\.0\.1/,
  },
  { name: 'malformed ssh URL', args: () => ['up', '--target', 'ssh://'], code: 2, says: /malformed target/ },
  {
    name: 'ssh URL with a path',
    args: () => ['up', '--target', 'ssh://root@127.0.0.1/etc'],
    code: 2,
    says: /malformed target/,
  },
  {
    name: 'port above 65535',
    args: () => ['up', '--target', 'ssh://root@127.0.0.1:70000'],
    code: 2,
    says: /malformed target|out of range/,
  },
  { name: 'port 0', args: () => ['up', '--target', 'ssh://root@127.0.0.1:0'], code: 2, says: /out of range/ },
  { name: 'invalid sandbox name', args: () => ['up', '--target', 'sandbox:Bad_Name'], code: 2, says: /unknown target/ },
  { name: 'invalid lightsail name', args: () => ['up', '--target', 'lightsail:9lab'], code: 2, says: /unknown target/ },
  {
    name: 'plan on a sandbox that does not exist',
    args: () => ['plan', '--target', 'sandbox:nosuch'],
    code: 2,
    says: /there is no sandbox named "nosuch"/,
  },
  {
    name: 'key file missing',
    args: () => ['up', '--target', ssh(), '--key', '/nonexistent/key'],
    code: 2,
    says: /cannot be read/,
  },
  // files that are not what they claim (issue 14: never opened, never a chmod hint for a non-key)
  {
    name: '--key naming a FIFO (used to hang)',
    args: () => ['up', '--target', ssh(), '--key', fifo('key.fifo')],
    code: 2,
    says: /--key \S+key\.fifo is a FIFO \(named pipe\), not a regular file/,
  },
  {
    name: '--key /dev/zero (used to grow to 4 GB)',
    args: () => ['up', '--target', ssh(), '--key', '/dev/zero'],
    code: 2,
    says: /--key \/dev\/zero is a character device, not a regular file/,
    notSays: /chmod/,
  },
  {
    name: '--key naming a directory',
    args: () => ['up', '--target', ssh(), '--key', '/tmp'],
    code: 2,
    says: /--key \/tmp is a directory, not a regular file/,
    notSays: /chmod/,
  },
  {
    name: '--key /etc/shadow: no chmod hint for a file that is no key',
    args: () => ['up', '--target', ssh(), '--key', '/etc/shadow'],
    code: 2,
    says: /--key \/etc\/shadow is not an ssh private key/,
    notSays: /chmod/,
  },
  {
    name: '--key naming the public key',
    args: () => ['up', '--target', ssh(), '--key', `${lab.key}.pub`],
    code: 2,
    says: /is not an ssh private key/,
    notSays: /chmod/,
  },
  {
    name: '--key far too large for a key',
    args: () => ['up', '--target', ssh(), '--key', file('huge-key', 'x'.repeat(200_000))],
    code: 2,
    says: /is 200000 bytes, more than the 65536 a private key can be/,
  },
  {
    name: '--key that looks like a key but cannot be used',
    args: () => [
      'up',
      '--target',
      ssh(),
      '--key',
      file(
        'garbled-key',
        `-----BEGIN OPENSSH PRIVATE KEY-----\n${Buffer.alloc(30_000, 7).toString('base64')}\n-----END OPENSSH PRIVATE KEY-----\n`,
      ),
    ],
    code: 2,
    says: /is not a usable private key/,
    notSays: /chmod/,
  },
  {
    name: '--config naming a FIFO (used to hang)',
    args: () => ['workshop', 'up', '--count', '1', '--config', fifo('config.fifo'), '--yes'],
    code: 2,
    says: /--config \S+config\.fifo is a FIFO \(named pipe\), not a regular file/,
  },
  {
    name: '--config naming a directory',
    args: () => ['workshop', 'up', '--count', '1', '--config', scratch, '--yes'],
    code: 2,
    says: /--config \S+ is a directory, not a regular file/,
  },
  // EBPF_LAB_HOME and the files in it (issue 14: messages, not stack traces; nothing written)
  {
    name: 'EBPF_LAB_HOME empty (used to write into the current directory)',
    args: () => ['status'],
    env: () => ({ EBPF_LAB_HOME: '' }),
    code: 2,
    says: /EBPF_LAB_HOME is set but empty/,
  },
  {
    name: 'EBPF_LAB_HOME naming a file',
    args: () => ['up', '--target', 'sandbox:nohome'],
    env: () => ({ EBPF_LAB_HOME: file('home-is-a-file', '') }),
    code: 2,
    says: /EBPF_LAB_HOME \S+home-is-a-file is a file, not a directory/,
  },
  {
    name: 'EBPF_LAB_HOME read-only',
    args: () => ['up', '--target', ssh(), '--key', lab.key],
    env: () => ({ EBPF_LAB_HOME: home('ro') }),
    setup: () => void execFileSync('mount', ['-t', 'tmpfs', '-o', 'ro,size=64k', 'none', home('ro')]),
    teardown: () => void execFileSync('umount', [home('ro')]),
    code: 2,
    says: /EBPF_LAB_HOME \S+ is not writable \(read-only file system\)/,
  },
  {
    name: 'known_hosts is a directory',
    args: () => ['up', '--target', ssh(), '--key', lab.key],
    env: () => ({ EBPF_LAB_HOME: home('kh-dir', (d) => mkdirSync(join(d, 'known_hosts'))) }),
    code: 2,
    says: /known_hosts is a directory, not a regular file/,
  },
  {
    name: 'a sandbox directory with a mount under it (down)',
    args: () => ['down', '--target', 'sandbox:mnt'],
    env: () => ({ EBPF_LAB_HOME: home('mnt') }),
    setup: () => {
      const srv = join(home('mnt'), 'sandboxes', 'mnt', 'rootfs', 'srv');
      mkdirSync(srv, { recursive: true });
      execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=64k', 'none', srv]);
    },
    teardown: () => {
      const srv = join(home('mnt'), 'sandboxes', 'mnt', 'rootfs', 'srv');
      // Nothing was removed: the directory and its mount are still there.
      expect(existsSync(srv)).toBe(true);
      execFileSync('umount', [srv]);
    },
    code: 2,
    says: /sandboxes\/mnt has a filesystem mounted under it \(\S+\/srv\); ebpf-lab never removes files through a mount/,
  },
  // hints that were missing (issue 14)
  {
    name: 'deadcode --since=-5m',
    args: () => ['deadcode', '--target', TARGET, '--since=-5m'],
    code: 2,
    says: /--since must be a duration/,
  },
  {
    name: 'inject-latency --to 99999',
    args: () => ['inject-latency', '--target', TARGET, '--to', '99999', '--delay', '2ms'],
    code: 2,
    says: /--to must be memcached or a port/,
  },
  {
    name: "inject-latency --to 'memcached;id'",
    args: () => ['inject-latency', '--target', TARGET, '--to', 'memcached;id', '--delay', '2ms'],
    code: 2,
    says: /--to must be memcached or a port/,
  },
  {
    name: 'inject-latency --to 0',
    args: () => ['inject-latency', '--target', TARGET, '--to', '0', '--delay', '2ms'],
    code: 2,
    says: /--to must be memcached or a port/,
  },
  {
    name: 'a host named -oProxyCommand=x',
    args: () => ['up', '--target', 'ssh://-oProxyCommand=x', '--key', lab.key],
    code: 2,
    says: /"-oProxyCommand=x" is not a valid host name or address/,
  },
  // more of the command line: each refused before a sandbox is created or a host is reached
  { name: '-v with -q', args: () => ['up', '--target', TARGET, '-v', '-q'], code: 2, says: /exclude each other/ },
  {
    name: 'a value-taking short flag glued to letters (-out)',
    args: () => ['up', '--target', TARGET, '-out', 'x'],
    code: 2,
    says: /"-out" is ambiguous/,
  },
  {
    name: 'a command after -- for a command that takes none',
    args: () => ['plan', '--target', TARGET, '--', 'ls'],
    code: 2,
    says: /unexpected argument "ls" after --/,
  },
  {
    name: '--key without its value',
    args: () => ['up', '--target', ssh(), '--key'],
    code: 2,
    says: /--key needs a value/,
  },
  {
    name: '--key naming a symlink loop',
    setup: () => {
      const p = join(scratch, 'loop-key');
      rmSync(p, { force: true });
      symlinkSync(p, p);
    },
    args: () => ['up', '--target', ssh(), '--key', join(scratch, 'loop-key')],
    code: 2,
    says: /--key \S+loop-key cannot be read \(ELOOP\)/,
  },
  {
    name: '--mirror naming a directory that does not exist (used to build a sandbox first)',
    args: () => ['up', '--target', 'sandbox:no-mirror', '--mirror', join(scratch, 'no-such-mirror')],
    code: 2,
    says: /--mirror \S+no-such-mirror does not exist/,
    teardown: () => nothingCreated('no-mirror'),
  },
  {
    name: '--mirror naming a file',
    args: () => ['up', '--target', TARGET, '--mirror', file('mirror-file', 'not a directory\n')],
    code: 2,
    says: /--mirror \S+mirror-file is not a directory/,
  },
  {
    name: '--mirror with an ftp:// URL',
    args: () => ['up', '--target', TARGET, '--mirror', 'ftp://127.0.0.1/mirror'],
    code: 2,
    says: /is an ftp:\/\/ URL/,
  },
  {
    name: 'an IPv6 target without its closing bracket',
    args: () => ['up', '--target', 'ssh://root@[::1:22', '--key', lab.key],
    code: 2,
    says: /malformed target/,
  },
  {
    name: 'a host name with a space',
    args: () => ['up', '--target', 'ssh://root@bad host', '--key', lab.key],
    code: 2,
    says: /malformed target/,
  },
  {
    name: 'deadcode --since with an unknown unit',
    args: () => ['deadcode', '--target', TARGET, '--since', '5x'],
    code: 2,
    says: /--since must be a duration/,
  },
  {
    name: 'inject-latency --delay without a unit',
    args: () => ['inject-latency', '--target', TARGET, '--to', 'memcached', '--delay', 'abc'],
    code: 2,
    says: /--delay must be a positive delay/,
  },
  {
    name: '--config naming /dev/zero',
    inproc: true,
    args: () => ['up', '--target', 'lightsail:lab1', '--config', '/dev/zero', '--yes'],
    code: 2,
    says: /--config \/dev\/zero is a character device, not a regular file/,
  },
  {
    name: '--config larger than a config file can be',
    inproc: true,
    args: () => [
      'up',
      '--target',
      'lightsail:lab1',
      '--config',
      file('huge.yaml', '# padding\n'.repeat(120_000)),
      '--yes',
    ],
    code: 2,
    says: /more than the \d+ a config file can be/,
  },
  {
    name: 'workshop --count above the Lightsail quota',
    inproc: true,
    args: () => ['workshop', 'up', '--count', '1000', '--yes', '--region', 'eu-central-1'],
    code: 2,
    says: /count must be between 1 and 20/,
  },
  // config file / workshop (in process: should anything reach for AWS, the mocked API answers)
  {
    name: 'workshop --count 0',
    inproc: true,
    args: () => ['workshop', 'up', '--count', '0', '--yes', '--region', 'eu-central-1'],
    code: 2,
    says: /count/,
  },
  {
    name: 'workshop --count abc',
    inproc: true,
    args: () => ['workshop', 'up', '--count', 'abc', '--yes'],
    code: 2,
    says: /--count must be a whole number/,
  },
  {
    name: 'config file missing',
    inproc: true,
    args: () => ['workshop', 'up', '--config', '/nonexistent.yaml', '--yes'],
    code: 2,
    says: /--config \/nonexistent\.yaml cannot be read \(ENOENT\)/,
  },
  {
    name: 'config file malformed',
    inproc: true,
    args: () => ['workshop', 'up', '--config', file('bad.yaml', 'region: [eu\ncount: {'), '--yes'],
    code: 2,
    says: /neither JSON nor YAML/,
  },
  {
    name: 'config file unknown key',
    inproc: true,
    args: () => ['workshop', 'up', '--config', file('unknown.yaml', 'region: eu-central-1\ncolour: blue\n'), '--yes'],
    code: 2,
    says: /unknown key "colour"/,
  },
  {
    name: 'config file wrong type',
    inproc: true,
    args: () => ['workshop', 'up', '--config', file('type.json', '{"count": "many"}'), '--yes'],
    code: 2,
    says: /"count" must be/,
  },
  {
    name: 'config file not a mapping',
    inproc: true,
    args: () => ['workshop', 'up', '--config', file('list.yaml', '- a\n- b\n'), '--yes'],
    code: 2,
    says: /must hold a mapping/,
  },
  {
    name: '--allow-from not a CIDR',
    inproc: true,
    args: () => ['workshop', 'up', '--count', '2', '--allow-from', '300.1.2.3/40', '--yes', '--region', 'eu-central-1'],
    code: 2,
    says: /allow-from|CIDR/i,
  },
  {
    name: 'hostile --prefix ($(...))',
    inproc: true,
    args: () => [
      'workshop',
      'up',
      '--count',
      '1',
      '--prefix',
      '$(touch /tmp/ebpf-lab-injected)',
      '--yes',
      '--region',
      'eu-central-1',
    ],
    code: 2,
    says: /prefix/,
  },
  {
    name: '--ttl not a duration',
    inproc: true,
    args: () => ['workshop', 'up', '--count', '2', '--ttl', 'forever', '--yes', '--region', 'eu-central-1'],
    code: 2,
    says: /--ttl "forever" is not a duration/,
  },
  // hosts
  {
    name: 'refused port',
    args: () => ['up', '--target', 'ssh://root@127.0.0.1:1', '--key', lab.key],
    code: 2,
    says: /connection refused/,
  },
  {
    name: 'silent host (accepts TCP, never speaks)',
    args: () => ['up', '--target', `ssh://root@127.0.0.1:${silentPort}`, '--key', lab.key],
    code: 2,
    says: /cannot reach|timed out/i,
  },
  {
    name: 'wrong key',
    host: true,
    args: () => ['up', '--target', ssh(), '--key', join(scratch, 'other-key')],
    code: 2,
    says: /authentication as root .* failed/,
  },
  {
    name: 'key readable by others (0644)',
    host: true,
    code: 2,
    says: /accessible by others \(mode 644\)/,
    args: () => {
      const k = join(scratch, 'open-key');
      copyFileSync(lab.key, k);
      chmodSync(k, 0o644);
      return ['up', '--target', ssh(), '--key', k];
    },
  },
  {
    name: 'changed host key',
    host: true,
    code: 2,
    says: /host key .*changed|changed.*host key/i,
    args: () => ['up', '--target', ssh(), '--key', lab.key],
    setup: () => {
      const kh = join(lab.home, 'known_hosts');
      writeFileSync(join(scratch, 'kh.saved'), readFileSync(kh));
      const pub = readFileSync(join(scratch, 'other-key.pub'), 'utf8').split(' ').slice(0, 2).join(' ');
      const keep = readFileSync(kh, 'utf8')
        .split('\n')
        .filter((l) => l && !l.startsWith(`[127.0.0.1]:${lab.port} `));
      writeFileSync(kh, [...keep, `[127.0.0.1]:${lab.port} ${pub}`].join('\n') + '\n');
    },
    teardown: () => writeFileSync(join(lab.home, 'known_hosts'), readFileSync(join(scratch, 'kh.saved'))),
  },
  {
    name: 'user without password-less sudo',
    host: true,
    args: () => ['up', '--target', ssh('nosudo'), '--key', lab.key],
    code: 2,
    says: /nosudo .* no password-less sudo/,
  },
  {
    name: 'unsupported OS',
    host: true,
    code: 2,
    says: /not supported/,
    args: () => ['up', '--target', TARGET, '--skip', SKIP],
    setup: () =>
      void onHost(
        lab,
        'cp /usr/lib/os-release /root/os-release.bak && sed -i "s/^VERSION_ID=.*/VERSION_ID=\\"9\\"/" /usr/lib/os-release',
      ),
    teardown: () => void onHost(lab, 'cp /root/os-release.bak /usr/lib/os-release'),
  },
  {
    // The kernel's BTF file really is gone from the host's view: an empty tmpfs over /sys/kernel/btf.
    name: 'kernel without BTF',
    host: true,
    code: 2,
    says: /has no BTF/,
    args: () => ['up', '--target', TARGET, '--skip', SKIP],
    setup: () => void onHost(lab, 'mount -t tmpfs -o size=4k none /sys/kernel/btf'),
    teardown: () => void onHost(lab, 'while mountpoint -q /sys/kernel/btf; do umount /sys/kernel/btf; done'),
  },
  {
    name: 'corrupt artifact from --mirror (wrong sha256)',
    host: true,
    code: 2,
    says: /refusing to install|sha256/,
    args: () => ['up', '--target', TARGET, '--only', 'ebpf-exporter', '--mirror', mirror()],
  },
  {
    name: '--mirror over plain http',
    args: () => ['up', '--target', TARGET, '--only', 'ebpf-exporter', '--mirror', 'http://127.0.0.1:9/mirror'],
    code: 2,
    says: /--mirror http:\/\/127\.0\.0\.1:9\/mirror is plain http/,
  },
  {
    // The pinned key plus another would have passed the old key-id check; here neither is Grafana's.
    name: "Grafana key file carrying a key that is not Grafana's pinned one (--mirror)",
    host: true,
    code: 2,
    says: /carries 2 primary keys that ebpf-lab does not trust for Grafana's APT repository: .*refusing the whole file/,
    args: () => [
      'up',
      '--target',
      TARGET,
      '--only',
      'grafana',
      '--mirror',
      grafanaMirror('gpg-two', standInKeys().two),
    ],
  },
  {
    name: 'Grafana key file cut short (--mirror)',
    host: true,
    code: 2,
    says: /is not a usable OpenPGP public key: OpenPGP packet truncated/,
    args: () => {
      const b = standInKeys().binary;
      return [
        'up',
        '--target',
        TARGET,
        '--only',
        'grafana',
        '--mirror',
        grafanaMirror('gpg-cut', b.subarray(0, b.length - 40)),
      ];
    },
  },
  {
    // PHP whose running SAPIs do not fire USDT probes (USE_ZEND_DTRACE unset): verify says so.
    name: 'PHP without DTrace probes enabled (verify)',
    host: true,
    code: 1,
    says: /lacks USE_ZEND_DTRACE=1|has USE_ZEND_DTRACE=1/,
    args: () => ['verify', '--target', TARGET, '--only', 'dtrace', '--output', 'plain'],
    setup: async () => void (await labRun(lab, 'up', ['--only', 'dtrace', '--dtrace', 'off'])),
    teardown: async () => void (await labRun(lab, 'up', ['--only', 'dtrace'])),
  },
  {
    name: 'full disk: the page cannot be written, the old one survives',
    host: true,
    code: 1,
    says: /No space left on device/,
    args: () => ['up', '--target', TARGET, '--skip', SKIP, '--output', 'plain'],
    setup: () =>
      void onHost(lab, `echo '<?php // operator edit' >> /var/www/html/index.php; ${mountTiny('/var/www/html')}`),
    teardown: () => void onHost(lab, unmount('/var/www/html')),
  },
  {
    name: 'apt repository down',
    host: true,
    code: 1,
    says: /apt-get|jq/,
    args: () => ['up', '--target', TARGET, '--skip', SKIP, '--output', 'plain'],
    setup: () =>
      void onHost(
        lab,
        'DEBIAN_FRONTEND=noninteractive apt-get remove -y -q jq >/dev/null 2>&1; mount -t tmpfs -o size=4k none /srv/ebpf-lab-repo',
      ),
    teardown: () => void onHost(lab, 'umount /srv/ebpf-lab-repo'),
  },
  // Lightsail (mocked API, in process)
  {
    name: 'Lightsail: no valid credentials',
    inproc: true,
    args: () => ['up', '--target', 'lightsail:lab1', '--region', 'eu-central-1', '--yes'],
    code: 2,
    says: /credential|authenticat/i,
  },
  {
    name: 'Lightsail: access denied',
    inproc: true,
    args: () => ['up', '--target', 'lightsail:lab1', '--region', 'eu-central-1', '--yes'],
    code: 2,
    says: /denied|permission/i,
  },
  {
    name: 'Lightsail: API endpoint unreachable',
    inproc: true,
    args: () => ['up', '--target', 'lightsail:lab1', '--region', 'eu-central-1', '--yes'],
    code: 2,
    says: /Lightsail API endpoint cannot be reached/,
  },
  {
    name: 'Lightsail: account still being set up',
    inproc: true,
    args: () => ['up', '--target', 'lightsail:lab1', '--region', 'eu-central-1', '--yes'],
    code: 2,
    says: /being set up/,
  },
];

const LIGHTSAIL_ERRORS: Record<string, Error> = {
  'Lightsail: no valid credentials': new UnauthenticatedException({
    message: 'The security token included in the request is invalid',
    $metadata: {},
  }),
  'Lightsail: access denied': new AccessDeniedException({
    message: 'not authorized to perform lightsail:GetInstance',
    $metadata: {},
  }),
  'Lightsail: API endpoint unreachable': Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:9'), {
    code: 'ECONNREFUSED',
  }),
  'Lightsail: account still being set up': new AccountSetupInProgressException({
    message: 'setting up',
    $metadata: {},
  }),
};

async function inProcess(args: string[], err: Error): Promise<{ r: CliResult; mutating: string[] }> {
  const ls = mockClient(LightsailClient);
  ls.onAnyCommand().rejects(err);
  let stderr = '';
  const spy = vi
    .spyOn(process.stderr, 'write')
    .mockImplementation((s: string | Uint8Array) => ((stderr += String(s)), true));
  const out = vi.spyOn(process.stdout, 'write').mockImplementation(() => true);
  const prev = {
    home: process.env['EBPF_LAB_HOME'],
    key: process.env['AWS_ACCESS_KEY_ID'],
    secret: process.env['AWS_SECRET_ACCESS_KEY'],
  };
  Object.assign(process.env, {
    EBPF_LAB_HOME: join(scratch, 'ls-home'),
    AWS_ACCESS_KEY_ID: 'AKIAEXAMPLE',
    AWS_SECRET_ACCESS_KEY: 'example',
  });
  let code: number;
  try {
    const { main, report } = await import('../../src/cli.js');
    code = await main(args).catch((e) => report(e));
  } finally {
    spy.mockRestore();
    out.mockRestore();
    for (const [k, v] of [
      ['EBPF_LAB_HOME', prev.home],
      ['AWS_ACCESS_KEY_ID', prev.key],
      ['AWS_SECRET_ACCESS_KEY', prev.secret],
    ] as const)
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
  }
  const mutating = ls
    .calls()
    .map((c) => (c.args[0] as { constructor: { name: string } }).constructor.name)
    .filter((n) => !/^Get/.test(n));
  ls.restore();
  return { r: { code, stdout: '', stderr, ms: 0 }, mutating };
}

describe(`bad input: ${ROWS.length} rows, each with its exit code, a message with a fix, and nothing changed`, () => {
  let before = '';
  beforeAll(async () => {
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', join(scratch, 'other-key')]);
    onHost(
      lab,
      `echo '<?php echo "mine";' > ${OPERATOR[0]}; echo '# mine' > ${OPERATOR[1]}; echo 'mine: true' > ${OPERATOR[2]}`,
    );
    watched = [...(await inventory(labFacts(lab))).files.keys(), ...OPERATOR];
    silent = createServer((s) => sockets.push(s)); // accepts and never answers
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
    silentPort = (silent.address() as { port: number }).port;
    before = fingerprint(lab, OPERATOR);
  });

  afterAll(async () => {
    for (const s of sockets) s.destroy();
    silent?.close();
    // Undo the rows' own drift (a page edit, a removed package), then: converged, and the
    // operator's files were never touched by any row.
    const up = await labRun(lab, 'up');
    expect(up.code, up.stdout.slice(-2000)).toBe(0);
    expect(changeList((await labRun(lab, 'plan')).json)).toEqual([]);
    expect(fingerprint(lab, OPERATOR)).toBe(before);
    expect(readdirSync(join(lab.home, 'sandboxes')).sort()).toEqual(['rel']);
    onHost(lab, `rm -f ${OPERATOR.join(' ')}`);
    rmSync(scratch, { recursive: true, force: true });
  });

  it.each(ROWS.map((r) => [r.name, r] as const))('%s', async (_name, row) => {
    let r: CliResult;
    if (row.inproc) {
      const { r: res, mutating } = await inProcess(
        row.args(),
        LIGHTSAIL_ERRORS[row.name] ?? new Error('this test expects no AWS call'),
      );
      expect(mutating, 'no call that changes the account').toEqual([]);
      r = res;
    } else {
      try {
        await row.setup?.();
        const mark = fingerprint(lab, watched);
        r = await cli(row.args(), { ...lab.env, ...row.env?.() }, 120_000);
        expect(fingerprint(lab, watched), 'nothing changed on the host').toBe(mark);
      } finally {
        await row.teardown?.();
      }
    }
    const text = r.stderr + r.stdout;
    expect(r.code, text.slice(-3000)).toBe(row.code);
    expect(text).toMatch(row.says);
    if (row.notSays) expect(text).not.toMatch(row.notSays);
    if (row.code === 2) {
      expect(r.stderr, 'an error line').toMatch(/^error: \S/m);
      // What to do: always a hint line of its own.
      expect(r.stderr, 'what to do').toMatch(/^hint: \S/m);
      expect(r.stderr).not.toMatch(/internal error| {4}at /);
    } else {
      expect(text, 'the failed step is named').toMatch(/FAILED|failed/);
    }
  });

  it('the table has at least 90 rows', () => expect(ROWS.length).toBeGreaterThanOrEqual(90));
});
