import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { packageRoot } from '../../src/paths.js';
import { hostScript, hostScriptNames } from '../../src/render/script.js';

// Scripts that run on a host live in templates/scripts/*.sh (not in TypeScript strings):
// each is POSIX sh, says what it does in its leading comment, and is used by the code.

const dir = join(packageRoot(), 'templates', 'scripts');
const text = (name: string) => readFileSync(join(dir, `${name}.sh`), 'utf8');
const placeholders = (name: string) => [
  ...new Set(
    text(name)
      .split('\n')
      .filter((l) => !l.startsWith('#'))
      .join('\n')
      .match(/@[A-Z][A-Z0-9_]*@/g) ?? [],
  ),
];

/** Every source file of the engine, for "is this script used?". */
function sources(d: string): string[] {
  return readdirSync(d, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? sources(join(d, e.name)) : e.name.endsWith('.ts') ? [readFileSync(join(d, e.name), 'utf8')] : [],
  );
}
const code = [...sources(join(packageRoot(), 'src')), ...sources(join(packageRoot(), 'steps'))].join('\n');

describe('host scripts', () => {
  const names = hostScriptNames();

  it('there are some', () => {
    expect(names.length).toBeGreaterThan(20);
  });

  it.each(names)('%s says what it does, is used, and is valid POSIX sh', (name) => {
    expect(text(name).split('\n')[0], 'a leading comment').toMatch(/^# \S/);
    expect(code, 'used by the code').toContain(`hostScript('${name}'`);
    const values = Object.fromEntries(placeholders(name).map((p) => [p.slice(1, -1), 'x']));
    const script = hostScript(name, values);
    expect(script).not.toMatch(/^#/);
    const r = spawnSync('dash', ['-n', '-c', script], { encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
  });

  it('a placeholder without a value, or a value without a placeholder, is an error', () => {
    expect(() => hostScript('main-pid', {})).toThrow(/no value for @UNIT@/);
    expect(() => hostScript('main-pid', { UNIT: 'a.service', OTHER: 'x' })).toThrow(/no placeholder for OTHER/);
    expect(() => hostScript('../x')).toThrow(/bad host script name/);
  });

  it('fills placeholders verbatim and drops the leading comment', () => {
    const s = hostScript('deadcode-restore', { INI_DIR: '/run/i', UNITS: 'a b', MARKERS: '/p/restart@a', DIR: '/d' });
    expect(s).toBe('rm -rf /run/i && systemctl restart a b && rm -f /p/restart@a /d/opcache-off');
  });
});
