import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import ts from 'typescript';
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

/** Every source file of the engine: path and text. */
function sources(d: string): { path: string; text: string }[] {
  return readdirSync(d, { withFileTypes: true }).flatMap((e) => {
    const path = join(d, e.name);
    if (e.isDirectory()) return sources(path);
    return e.name.endsWith('.ts') ? [{ path, text: readFileSync(path, 'utf8') }] : [];
  });
}
const files = [...sources(join(packageRoot(), 'src')), ...sources(join(packageRoot(), 'steps'))];
const code = files.map((f) => f.text).join('\n');

/** Every `hostScript('name', { KEY: … })` call in the code: where, which script, which keys. */
function calls(): { where: string; name: string; keys: string[] }[] {
  const out: { where: string; name: string; keys: string[] }[] = [];
  for (const f of files) {
    const sf = ts.createSourceFile(f.path, f.text, ts.ScriptTarget.Latest, true);
    const visit = (n: ts.Node): void => {
      if (ts.isCallExpression(n) && ts.isIdentifier(n.expression) && n.expression.text === 'hostScript') {
        const [name, values] = n.arguments;
        if (name && ts.isStringLiteral(name)) {
          const keys =
            values && ts.isObjectLiteralExpression(values)
              ? values.properties.map((p) => (p.name && ts.isIdentifier(p.name) ? p.name.text : '?'))
              : [];
          out.push({
            where: `${f.path}:${sf.getLineAndCharacterOfPosition(n.getStart()).line + 1}`,
            name: name.text,
            keys,
          });
        }
      }
      ts.forEachChild(n, visit);
    };
    visit(sf);
  }
  return out;
}

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

  it('every call fills exactly the placeholders of its script (checked in the source, before any run)', () => {
    const found = calls();
    expect(found.length).toBeGreaterThan(25);
    const wrong = found
      .map((c) => ({ ...c, want: placeholders(c.name).map((p) => p.slice(1, -1)) }))
      .filter((c) => [...c.keys].sort().join() !== [...c.want].sort().join())
      .map(
        (c) => `${c.where}: ${c.name} gets ${c.keys.join(', ') || 'nothing'}, wants ${c.want.join(', ') || 'nothing'}`,
      );
    expect(wrong).toEqual([]);
  });

  it('a placeholder without a value, or a value without a placeholder, is an error', () => {
    expect(() => hostScript('main-pid', { CGROUP_LEADER: '' })).toThrow(/no value for @UNIT@/);
    expect(() => hostScript('main-pid', { UNIT: 'a.service', CGROUP_LEADER: '', OTHER: 'x' })).toThrow(
      /no placeholder for OTHER/,
    );
    expect(() => hostScript('../x')).toThrow(/bad host script name/);
  });

  it('fills placeholders verbatim and drops the leading comment', () => {
    const s = hostScript('deadcode-restore', { INI_DIR: '/run/i', UNITS: 'a b', MARKERS: '/p/restart@a', DIR: '/d' });
    expect(s).toBe('rm -rf /run/i && systemctl restart a b && rm -f /p/restart@a /d/opcache-off');
  });
});
