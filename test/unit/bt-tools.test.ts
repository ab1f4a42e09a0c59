import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { packageRoot } from '../../src/paths.js';
import {
  BT_PLACEHOLDERS,
  btPathsFromFacts,
  btPlaceholders,
  listBtTools,
  renderBt,
  type BtPaths,
} from '../../src/render/bt.js';
import type { HostFacts } from '../../src/facts/host.js';

// Static checks of bt/*.bt and of the placeholder substitution. bt-parse.test.ts (integration)
// feeds the rendered tools to the host's real bpftrace.

const tools = listBtTools();
const PATHS: Required<BtPaths> = {
  libphp: '/usr/lib/apache2/modules/libphp8.1.so',
  phpFpm: '/usr/sbin/php-fpm8.1',
  phpCli: '/usr/bin/php8.1',
  libmemcached: '/usr/lib/x86_64-linux-gnu/libmemcached.so.11',
  apcuSo: '/usr/lib/php/20210902/apcu.so',
};

/** Probe specs of a bpftrace source: `type:target...` at the start of a line. */
function probeSpecs(source: string): string[] {
  return [...source.matchAll(/^(usdt|uprobe|uretprobe|tracepoint|interval):[^\s,{]+/gm)].map((m) => m[0]);
}

describe('bt/ tools', () => {
  it('ships the lab tools', () => {
    expect(tools.map((t) => t.file)).toEqual([
      'apcu-store.bt',
      'memcached-set.bt',
      'php-batch-jobs.bt',
      'php-compile-latency.bt',
      'php-compiled-files.bt',
      'php-exceptions.bt',
      'php-function-calls.bt',
      'php-request-latency.bt',
    ]);
  });

  it.each(tools)('$file has a header: purpose, usage, probes, needs', ({ file, source, summary }) => {
    const lines = source.split('\n');
    expect(lines[0]).toBe('#!/usr/bin/env bpftrace');
    expect(lines[1]).toMatch(new RegExp(`^// ${file.replace('.', '\\.')}: \\S`));
    expect(summary.length).toBeGreaterThan(20);
    const header = lines.slice(
      0,
      lines.findIndex((l) => l.trim() === '' || (!l.startsWith('/') && !l.startsWith('#'))),
    );
    for (const k of ['Usage:', 'Probes:', 'Needs:']) expect(header.join('\n')).toContain(`// ${k}`);
    expect(header.every((l) => l.length <= 100)).toBe(true);
  });

  it.each(tools)('$file works without BEGIN/END (stripped bpftrace on Ubuntu 22.04)', ({ source }) => {
    const code = source.replace(/\/\/.*$/gm, '');
    expect(code).not.toMatch(/^\s*(BEGIN|END)\b/m);
  });

  it.each(tools)('$file attaches only through placeholders, never hard-coded paths', ({ source }) => {
    const specs = probeSpecs(source);
    expect(specs.length).toBeGreaterThan(0);
    for (const s of specs.filter((p) => /^(usdt|uprobe|uretprobe):/.test(p))) {
      expect(s).toMatch(/^(usdt|uprobe|uretprobe):@[A-Z_]+@:/);
    }
    for (const s of specs.filter((p) => p.startsWith('usdt:'))) expect(s).toMatch(/:php:[a-z_]+$/);
  });

  it.each(tools)('$file keeps clear of bpftrace 0.17 pitfalls', ({ source }) => {
    const code = source.replace(/\/\/.*$/gm, '');
    // A string held in a $variable and used as a map key inside an if block comes out garbled.
    expect(code).not.toMatch(/\$\w+\s*=\s*str\(/);
    // count() results cannot be compared (type error), so `@x[...] == 0` must be on a plain map.
    for (const m of code.matchAll(/(@\w+)\[[^\]]*\]\s*==/g)) {
      expect(code).not.toMatch(new RegExp(`${m[1]}\\[[^\\]]*\\]\\s*=\\s*count\\(\\)`));
    }
  });

  it.each(tools)('$file renders with host paths, leaving no placeholder', ({ source }) => {
    const out = renderBt(source, PATHS);
    expect(out).not.toMatch(/@[A-Z][A-Z0-9_]*@/);
    for (const name of btPlaceholders(source)) expect(out).toContain(PATHS[BT_PLACEHOLDERS[name]]);
  });

  it('bt/README.md has one line per tool and nothing else', () => {
    const readme = readFileSync(join(packageRoot(), 'bt', 'README.md'), 'utf8');
    const listed = [...readme.matchAll(/^- `([^`]+\.bt)` — \S/gm)].map((m) => m[1]);
    expect(listed.sort()).toEqual(tools.map((t) => t.file));
  });
});

describe('renderBt', () => {
  const src = 'usdt:@PHP_CLI@:php:request__startup,\nuprobe:@LIBMEMCACHED@:memcached_set { @[comm] = count(); }';

  it('substitutes every placeholder, as often as it appears', () => {
    expect(renderBt(`${src}\n// @PHP_CLI@`, PATHS)).toBe(
      'usdt:/usr/bin/php8.1:php:request__startup,\nuprobe:/usr/lib/x86_64-linux-gnu/libmemcached.so.11:memcached_set { @[comm] = count(); }\n// /usr/bin/php8.1',
    );
  });

  it('throws on an unknown placeholder', () => {
    expect(() => renderBt('uprobe:@LIBC@:malloc {}', PATHS)).toThrow(/unknown placeholder @LIBC@/);
  });

  it('throws when a used placeholder has no path, and names it', () => {
    expect(() => renderBt(src, { phpCli: '/usr/bin/php8.1' })).toThrow(/@LIBMEMCACHED@/);
    expect(() => renderBt(src, { ...PATHS, phpCli: '' })).toThrow(/@PHP_CLI@/);
  });

  it('does not need paths for placeholders the source does not use', () => {
    expect(renderBt('uprobe:@APCU_SO@:apc_cache_store {}', { apcuSo: '/x/apcu.so' })).toBe(
      'uprobe:/x/apcu.so:apc_cache_store {}',
    );
  });

  it('refuses paths bpftrace would misparse', () => {
    for (const bad of ['relative/php', '/opt/my php/php', '/usr/bin/php:8', '/usr/bin/php{']) {
      expect(() => renderBt(src, { ...PATHS, phpCli: bad })).toThrow(/not usable/);
    }
  });

  it('takes the paths from host facts', () => {
    const facts = {
      php: {
        version: '8.2',
        libphp: '/l/libphp8.2.so',
        fpmBinary: '/s/php-fpm8.2',
        cli: '/b/php8.2',
        confDir: '/etc/php/8.2',
      },
      libmemcached: '/m/libmemcached.so.11',
      apcuSo: '/a/apcu.so',
    } as HostFacts;
    expect(btPathsFromFacts(facts)).toEqual({
      libphp: '/l/libphp8.2.so',
      phpFpm: '/s/php-fpm8.2',
      phpCli: '/b/php8.2',
      libmemcached: '/m/libmemcached.so.11',
      apcuSo: '/a/apcu.so',
    });
    expect(btPathsFromFacts({} as HostFacts)).toEqual({});
  });
});
