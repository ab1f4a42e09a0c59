import { describe, expect, it } from 'vitest';
import {
  DEFAULT_SANDBOX_OS,
  SANDBOX_OSES,
  archiveUnreachable,
  baseIncludes,
  mirrorArgs,
  parseMirror,
  parseSandboxOs,
  sandboxOs,
} from '../../src/targets/sandbox-os.js';
import { UserError } from '../../src/errors.js';
import { resolveAlternatives } from '../../src/resources/apt.js';
import { validatePackages } from '../../src/targets/sandbox-spec.js';
import { sandboxPackages } from '../../steps/index.js';

describe('sandbox OS catalog', () => {
  it('defaults to the workshop OS and knows the five supported releases', () => {
    expect(DEFAULT_SANDBOX_OS).toBe('ubuntu-22.04');
    expect(SANDBOX_OSES.map((o) => `${o.id}=${o.suite}`)).toEqual([
      'ubuntu-22.04=jammy',
      'ubuntu-24.04=noble',
      'ubuntu-26.04=resolute',
      'debian-12=bookworm',
      'debian-13=trixie',
    ]);
  });
  it('refuses an unknown --os with the list of known ones', () => {
    expect(() => parseSandboxOs('ubuntu-20.04')).toThrow(UserError);
    try {
      parseSandboxOs('centos-9');
    } catch (e) {
      expect((e as UserError).message).toMatch(/unknown --os "centos-9"/);
      expect((e as UserError).hint).toMatch(/ubuntu-22\.04, ubuntu-24\.04, ubuntu-26\.04, debian-12, debian-13/);
    }
    expect(parseSandboxOs(undefined)).toBeUndefined();
    expect(parseSandboxOs('Debian-13')).toBe('debian-13');
  });
  it('gives Ubuntu bases apt (minbase leaves it out) and the cloud image services', () => {
    const jammy = baseIncludes(sandboxOs('ubuntu-22.04'));
    expect(jammy).toEqual(expect.arrayContaining(['apt', 'unattended-upgrades', 'needrestart', 'openssh-server']));
    expect(baseIncludes(sandboxOs('debian-12'))).not.toContain('needrestart');
  });
  it('writes no mirror arguments by default: mmdebstrap picks the archive from the suite', () => {
    expect(mirrorArgs(sandboxOs('ubuntu-24.04'), undefined)).toEqual([]);
    expect(mirrorArgs(sandboxOs('ubuntu-24.04'), 'http://127.0.0.1:3142/ubuntu/')).toEqual([
      'deb http://127.0.0.1:3142/ubuntu noble main universe',
      'deb http://127.0.0.1:3142/ubuntu noble-updates main universe',
      'deb http://127.0.0.1:3142/ubuntu noble-security main universe',
    ]);
  });
  it('validates the mirror URL', () => {
    expect(parseMirror(undefined)).toBeUndefined();
    expect(parseMirror('')).toBeUndefined();
    expect(parseMirror('https://m.example/debian')).toBe('https://m.example/debian');
    expect(() => parseMirror('m.example/debian')).toThrow(/not a URL/);
    expect(() => parseMirror('ftp://m.example/debian')).toThrow(/http\(s\):\/\/ or file:\/\//);
  });
  it('recognises an unreachable archive in apt/mmdebstrap output', () => {
    expect(archiveUnreachable('E: Failed to fetch http://x/dists/jammy/InRelease  Could not connect to x:80')).toBe(
      true,
    );
    expect(archiveUnreachable("W: Temporary failure resolving 'archive.example'")).toBe(true);
    expect(archiveUnreachable('E: Unable to locate package foo')).toBe(false);
    // mmdebstrap's own summary line says nothing of why apt failed (a bad signature fails the same way).
    expect(archiveUnreachable('E: apt-get update --error-on=any -oAPT::Status-Fd=<$fd> failed')).toBe(false);
  });
});

describe('package alternatives', () => {
  const policy = (known: string[]) => known.map((n) => `${n}:\n  Installed: (none)\n  Candidate: 1.0\n`).join('');
  it('takes the first alternative apt has a candidate for', () => {
    const wanted = ['clang', 'linux-tools-6.18.1-x|bpftool|linux-tools-generic-hwe-22.04|linux-tools-generic'];
    expect(
      resolveAlternatives(policy(['clang', 'linux-tools-generic-hwe-22.04', 'linux-tools-generic']), wanted),
    ).toEqual({
      packages: ['clang', 'linux-tools-generic-hwe-22.04'],
      unresolved: [],
    });
    // noble's bpftool is a virtual package: apt lists it with no candidate
    const virtual = 'bpftool:\n  Installed: (none)\n  Candidate: (none)\n' + policy(['linux-tools-generic']);
    expect(resolveAlternatives(virtual, wanted).packages).toEqual(['clang', 'linux-tools-generic']);
  });
  it('reports a group none of whose members apt knows (lists to update first)', () => {
    expect(resolveAlternatives('', ['a|b', 'c'])).toEqual({ packages: ['a', 'c'], unresolved: ['a|b'] });
  });
  it('accepts alternatives in a sandbox package list, but nothing else unusual', () => {
    expect(() => validatePackages(['aa|bb', 'cc'])).not.toThrow();
    expect(() => validatePackages(['aa|bb;c'])).toThrow(/aa\|bb;c/);
  });
  it('derives each sandbox OS package set from that OS (bpftool alternatives on Ubuntu, prometheus always)', () => {
    const jammy = sandboxPackages(sandboxOs('ubuntu-22.04'));
    expect(jammy.find((p) => p.includes('|'))).toMatch(
      /\|bpftool\|linux-tools-generic-hwe-22\.04\|linux-tools-generic$/,
    );
    expect(jammy).toContain('prometheus');
    expect(sandboxPackages(sandboxOs('debian-13'))).toContain('bpftool');
  });
});
