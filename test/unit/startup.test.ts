import { describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';

const ROOT = join(__dirname, '..', '..');
const run = (file: string, args: string[]) =>
  execFileSync(process.execPath, [join(ROOT, file), ...args], {
    encoding: 'utf8',
    env: { ...process.env, NO_COLOR: '1', COLUMNS: '80' },
  });

describe('start-up shortcuts of bin/ebpf-lab.js (npm test builds dist first)', () => {
  it("a bare --help prints the CLI's own help, written at build time, without loading the CLI", () => {
    const cli = run('dist/src/main.js', ['--help']);
    expect(cli).toMatch(/^Usage: ebpf-lab <command>/);
    for (const a of ['--help', '-h', 'help']) expect(run('bin/ebpf-lab.js', [a])).toBe(cli);
  });
  it('--help of a command still goes through the CLI (its own flags)', () => {
    expect(run('bin/ebpf-lab.js', ['up', '--help'])).toMatch(/--os <os>/);
  });
});
