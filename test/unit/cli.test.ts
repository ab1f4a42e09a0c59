import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { main, report } from '../../src/cli.js';
import { parseTarget } from '../../src/targets/index.js';
import { UserError, VerifyError } from '../../src/errors.js';

/** Bad input is refused before any host is touched: a UserError (exit 2) with a hint. */
describe('CLI input validation', () => {
  const bad: [string, string[], RegExp][] = [
    ['unknown command', ['destroy'], /unknown command "destroy"/],
    ['unknown flag', ['up', '--bogus'], /Unknown option '--bogus'/],
    ['unknown target', ['up', '--target', 'vagrant'], /unknown target "vagrant"/],
    ['user@host without scheme', ['up', '--target', 'root@example.org'], /did you mean ssh:\/\/root@example.org/],
    ['malformed ssh url', ['up', '--target', 'ssh://'], /malformed target/],
    ['port out of range', ['up', '--target', 'ssh://root@127.0.0.1:70000'], /malformed target|out of range/],
    ['port zero', ['up', '--target', 'ssh://root@127.0.0.1:0'], /out of range/],
    ['ssh url with a path', ['up', '--target', 'ssh://root@host/etc'], /no path/],
    ['hostile host name', ['up', '--target', 'ssh://root@$(reboot)'], /malformed target|not a valid host/],
    ['unknown step', ['up', '--only', 'grafna'], /unknown step "grafna"/],
    ['unknown skipped step', ['plan', '--skip', 'x'], /unknown step "x"/],
    ['bad output mode', ['up', '--output', 'xml'], /--output must be tty, plain or json/],
    ['bad opcache value', ['up', '--opcache', 'maybe'], /--opcache must be on or off/],
    ['bad exporter version', ['up', '--exporter-version', 'latest'], /--exporter-version must look like/],
    ['bad prometheus source', ['up', '--prometheus', 'docker'], /--prometheus must be/],
    ['stray argument', ['up', 'now'], /unexpected argument "now"/],
    ['bad sandbox name', ['up', '--target', 'sandbox:Bad_Name'], /unknown target/],
    [
      'plain-http mirror',
      ['up', '--mirror', 'http://mirror.example.org/ebpf-lab'],
      /--mirror http:\/\/mirror\.example\.org\/ebpf-lab is plain http[^\n]*\nuse an https:\/\/ mirror, or a local directory/,
    ],
    ['ftp mirror', ['workshop', 'up', '--mirror', 'ftp://mirror.example.org/'], /is an ftp:\/\/ URL/],
    ['absent mirror directory', ['up', '--mirror', '/nonexistent/ebpf-lab-mirror'], /--mirror \S+ does not exist/],
    ['mirror naming a file', ['up', '--mirror', '/etc/hostname'], /--mirror \/etc\/hostname is not a directory/],
    ['empty mirror', ['up', '--mirror', ''], /--mirror is empty/],
  ];
  for (const [name, argv, msg] of bad) {
    it(`${name}: ${argv.join(' ')}`, async () => {
      const err = await main(argv).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(UserError);
      expect(`${(err as UserError).message}\n${(err as UserError).hint ?? ''}`).toMatch(msg);
    });
  }

  it('parses valid targets', () => {
    expect(parseTarget(undefined).spec).toMatchObject({ kind: 'sandbox', name: 'default' });
    expect(parseTarget('sandbox:lab-2').spec).toMatchObject({ kind: 'sandbox', name: 'lab-2' });
    expect(parseTarget('ssh://ubuntu@10.0.0.5:2222').spec).toMatchObject({
      kind: 'ssh',
      user: 'ubuntu',
      host: '10.0.0.5',
      port: 2222,
    });
    expect(parseTarget('ssh://ubuntu@[::1]').spec).toMatchObject({ kind: 'ssh', host: '::1', port: 22 });
    expect(parseTarget('local').spec).toMatchObject({ kind: 'local' });
  });
});

describe('report', () => {
  const stderr = (f: () => number): [number, string] => {
    const orig = process.stderr.write.bind(process.stderr);
    let out = '';
    process.stderr.write = ((s: string) => ((out += s), true)) as typeof process.stderr.write;
    try {
      return [f(), out];
    } finally {
      process.stderr.write = orig;
    }
  };

  it('bad input: error and hint lines, exit 2', () => {
    expect(stderr(() => report(new UserError('no such lab', 'run ebpf-lab status')))).toEqual([
      2,
      'error: no such lab\nhint: run ebpf-lab status\n',
    ]);
  });

  it('a failed post-condition (e.g. a sandbox that never answered) is an error, not a bug: exit 1, no stack', () => {
    const [code, out] = stderr(() =>
      report(new VerifyError('sandbox x: sshd did not answer on 127.0.0.1:1 within 90 s')),
    );
    expect(code).toBe(1);
    expect(out).toBe('error: sandbox x: sshd did not answer on 127.0.0.1:1 within 90 s\n');
  });

  it('anything else is reported as a bug, with its stack', () => {
    const [code, out] = stderr(() => report(new TypeError('x is undefined')));
    expect(code).toBe(1);
    expect(out).toMatch(/^internal error \(a bug in ebpf-lab.*\nTypeError: x is undefined\n {4}at /);
  });
});

describe('version', () => {
  it("ebpf-lab version, --version and -V print package.json's version and nothing else", async () => {
    const want = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')).version as string;
    expect(want).toMatch(/^\d+\.\d+\.\d+/);
    for (const argv of [['version'], ['--version'], ['-V'], ['up', '--version']]) {
      const orig = process.stdout.write.bind(process.stdout);
      let out = '';
      process.stdout.write = ((s: string) => ((out += s), true)) as typeof process.stdout.write;
      try {
        expect(await main(argv), argv.join(' ')).toBe(0);
      } finally {
        process.stdout.write = orig;
      }
      expect(out, argv.join(' ')).toBe(`${want}\n`);
    }
  });
});
