import { afterAll, describe, expect, it } from 'vitest';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
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

describe('the bundle (dist/ebpf-lab.cjs) as bin/ebpf-lab.js runs it, with its code cache', () => {
  const tmp = mkdtempSync(join(tmpdir(), 'ebpf-lab-bundle-'));
  afterAll(() => rmSync(tmp, { recursive: true, force: true }));
  const cli = (args: string[]) =>
    spawnSync(process.execPath, [join(ROOT, 'bin/ebpf-lab.js'), ...args], {
      encoding: 'utf8',
      env: { ...process.env, NO_COLOR: '1', EBPF_LAB_HOME: join(tmp, 'home') },
    });

  it('loads a package kept outside it (yaml, for a Lightsail config file), the first time and from the cache', () => {
    const bad = join(tmp, 'bad.yaml');
    writeFileSync(bad, 'count: [oops\n');
    for (const _ of [1, 2]) {
      const r = cli(['up', '--target', 'lightsail', '--config', bad]);
      expect(r.status).toBe(2);
      expect(r.stderr).toMatch(/is neither JSON nor YAML: Flow sequence/);
      expect(r.stderr).not.toMatch(/dynamic import|ExperimentalWarning/);
    }
    expect(readdirSync(join(ROOT, 'dist', 'ebpf-lab.cjs.cache')).some((f) => f.startsWith('up-'))).toBe(true);
  });

  it('is one file of ASCII, and runs no import() of its own', () => {
    const text = readFileSync(join(ROOT, 'dist', 'ebpf-lab.cjs'), 'latin1');
    expect(/[^\x00-\x7f]/.test(text)).toBe(false);
    expect(text).not.toMatch(/\bimport\((["'`])/);
  });
});
