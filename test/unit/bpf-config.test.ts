import { readFileSync, readdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { describe, expect, it } from 'vitest';
import type { Label, Metric } from '../support/exporter-config.js';
import { parse } from 'yaml';
import { UserError } from '../../src/errors.js';
import { bpfMakeCommand, bpfMakeVars } from '../../src/facts/bpf-targets.js';
import { packageRoot } from '../../src/paths.js';
import { EXPORTER_CONFIGS, LAB_METRICS } from '../../src/render/metrics.js';

// Static checks of bpf/: every config validates against ebpf_exporter's published schema,
// sources and configs pair up, and each metric map's key struct (parsed from the C source)
// is exactly as large as the YAML labels say. The same sizes are checked against the
// compiled objects by the kernel in test/integration/bpf-programs.test.ts.

const here = dirname(fileURLToPath(import.meta.url));
const schemaPath = resolve(here, '../../../shared/data/ebpf_exporter-config-schema.yaml');
const bpfDir = join(packageRoot(), 'bpf');
const includeDir = join(bpfDir, 'include');

interface Config {
  metrics: { counters?: Metric[]; histograms?: Metric[] };
}

const names = (ext: string) =>
  readdirSync(bpfDir)
    .filter((f) => f.endsWith(ext))
    .map((f) => f.slice(0, -ext.length))
    .sort();
const sources = names('.bpf.c');
const configs = names('.yaml');
const loadConfig = (name: string) => parse(readFileSync(join(bpfDir, `${name}.yaml`), 'utf8')) as Config;
const readSource = (name: string) => readFileSync(join(bpfDir, `${name}.bpf.c`), 'utf8');
const headers = readdirSync(includeDir).map((f) => readFileSync(join(includeDir, f), 'utf8'));

/** Integer #defines of a source plus our headers (all the key sizes use plain literals). */
function defines(source: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const text of [...headers, source]) {
    for (const m of text.matchAll(/^#define\s+(\w+)\s+(\d+)\s*$/gm)) out.set(m[1]!, Number(m[2]));
  }
  return out;
}

const SCALARS: Record<string, number> = {
  char: 1,
  __u8: 1,
  __s8: 1,
  __u16: 2,
  __s16: 2,
  __u32: 4,
  __s32: 4,
  int: 4,
  __u64: 8,
  __s64: 8,
};

/** sizeof(struct name) with C alignment, and whether the compiler would insert padding. */
function structSize(source: string, name: string): { size: number; padded: boolean } {
  const body = new RegExp(`struct\\s+${name}\\s*\\{([^}]*)\\};`).exec(source)?.[1];
  if (body === undefined) throw new Error(`struct ${name} not found`);
  const defs = defines(source);
  let offset = 0;
  let align = 1;
  let padded = false;
  for (const m of body.matchAll(/(\w+)\s+\w+\s*(?:\[(\w+)\])?\s*;/g)) {
    const unit = SCALARS[m[1]!];
    if (unit === undefined) throw new Error(`unknown field type ${m[1]} in struct ${name}`);
    const dim = m[2] === undefined ? 1 : /^\d+$/.test(m[2]) ? Number(m[2]) : defs.get(m[2]);
    if (dim === undefined) throw new Error(`unknown array size ${m[2]} in struct ${name}`);
    if (offset % unit !== 0) padded = true;
    offset = Math.ceil(offset / unit) * unit + unit * dim;
    align = Math.max(align, unit);
  }
  const size = Math.ceil(offset / align) * align;
  return { size, padded: padded || size !== offset };
}

/** Map name -> key struct and value type, from the BTF-style map definitions in a source. */
function maps(source: string): Map<string, { key: string; value: string }> {
  const out = new Map<string, { key: string; value: string }>();
  for (const m of source.matchAll(/struct\s*\{([^}]*)\}\s*(\w+)\s+SEC\("\.maps"\)/g)) {
    const key = /__type\(key,\s*struct\s+(\w+)\)/.exec(m[1]!)?.[1];
    const value = /__type\(value,\s*(\w+)\)/.exec(m[1]!)?.[1];
    if (key && value) out.set(m[2]!, { key, value });
  }
  return out;
}

const metricsOf = (c: Config) => [
  ...(c.metrics.counters ?? []).map((m) => ({ ...m, type: 'counter' as const })),
  ...(c.metrics.histograms ?? []).map((m) => ({ ...m, type: 'histogram' as const })),
];
const labelBytes = (labels: Label[] = []) => labels.reduce((n, l) => n + l.size + (l.padding ?? 0), 0);

describe('bpf/ programs and ebpf_exporter configs', () => {
  it('pairs every <name>.bpf.c with <name>.yaml, exactly the configs of the metric contract', () => {
    expect(configs).toEqual(sources);
    expect(sources).toEqual([...EXPORTER_CONFIGS].sort());
  });

  it.each(configs)('%s.yaml validates against the ebpf_exporter config schema', (name) => {
    const ajv = new Ajv2020({ strict: false, allErrors: true });
    const validate = ajv.compile(parse(readFileSync(schemaPath, 'utf8')) as object);
    const ok = validate(loadConfig(name));
    expect(validate.errors ?? [], JSON.stringify(validate.errors)).toEqual([]);
    expect(ok).toBe(true);
  });

  it.each(configs)('%s.yaml declares the contract metrics with the contract labels', (name) => {
    const declared = metricsOf(loadConfig(name)).map((m) => ({
      name: m.name,
      type: m.type,
      labels: (m.labels ?? [])
        .map((l) => l.name)
        .filter((l, i, all) => !(m.type === 'histogram' && i === all.length - 1)),
      config: name,
    }));
    const expected = LAB_METRICS.filter((m) => m.config === name).map((m) => ({ ...m, labels: [...m.labels] }));
    expect(declared.sort((a, b) => a.name.localeCompare(b.name))).toEqual(
      expected.sort((a, b) => a.name.localeCompare(b.name)),
    );
  });

  it.each(configs)('%s.yaml histograms end with an 8-byte uint `bucket` label', (name) => {
    for (const h of loadConfig(name).metrics.histograms ?? []) {
      const last = h.labels?.at(-1);
      expect(last?.name, h.name).toBe('bucket');
      expect(last?.size).toBe(8);
      expect(last?.decoders.map((d) => d.name)).toEqual(['uint']);
    }
  });

  it.each(configs)('%s: each metric map has a u64 value and a key struct exactly as large as its labels', (name) => {
    const source = readSource(name);
    const found = maps(source);
    for (const metric of metricsOf(loadConfig(name))) {
      const map = found.get(metric.name);
      expect(map, `map ${metric.name} in ${name}.bpf.c`).toBeDefined();
      expect(map!.value).toBe('__u64');
      const { size, padded } = structSize(source, map!.key);
      expect(padded, `struct ${map!.key} has implicit padding`).toBe(false);
      expect(size, `struct ${map!.key} vs labels of ${metric.name}`).toBe(labelBytes(metric.labels));
    }
  });

  it('has no bpf_trace_printk (or bpf_printk) in any source or header', () => {
    const files = [
      ...sources.map((s) => `${s}.bpf.c`),
      ...readdirSync(includeDir).map((f) => `include/${f}`),
      'tools/lab-attach.c',
    ];
    for (const f of files) expect(readFileSync(join(bpfDir, f), 'utf8'), f).not.toMatch(/bpf_(trace_)?printk/);
  });

  it('takes every probe target from make variables, never a literal path', () => {
    for (const s of sources) {
      const sections = [...readSource(s).matchAll(/SEC\("((?:usdt|uprobe)[^)]*)\)/g)].map((m) => m[1]!);
      for (const sec of sections) expect(sec, s).toMatch(/^(usdt|uprobe)\/"\s+(LIBPHP|PHP_FPM|LIBMEMCACHED)\s+"/);
    }
    const php = headers.join('\n');
    expect(php).toContain('SEC("usdt/" LIBPHP ":php:" #probe)');
    expect(php).toContain('SEC("usdt/" PHP_FPM ":php:" #probe)');
  });
});

describe('bpfMakeVars', () => {
  const base = {
    arch: 'x86_64',
    multiarch: 'x86_64-linux-gnu',
    libmemcached: '/usr/lib/x86_64-linux-gnu/libmemcached.so.11',
    php: {
      version: '8.1',
      libphp: '/usr/lib/apache2/modules/libphp8.1.so',
      fpmBinary: '/usr/sbin/php-fpm8.1',
      confDir: '/etc/php/8.1',
      usdt: true,
    },
  };

  it('maps host facts to the Makefile variables', () => {
    expect(bpfMakeVars(base)).toEqual({
      LIBPHP: '/usr/lib/apache2/modules/libphp8.1.so',
      PHP_FPM: '/usr/sbin/php-fpm8.1',
      LIBMEMCACHED: '/usr/lib/x86_64-linux-gnu/libmemcached.so.11',
      ARCH: 'x86',
      MULTIARCH: 'x86_64-linux-gnu',
    });
    const arm = bpfMakeVars({
      ...base,
      arch: 'aarch64',
      multiarch: 'aarch64-linux-gnu',
      php: { ...base.php, fpmBinary: undefined },
    });
    expect(arm).toMatchObject({ ARCH: 'arm64', MULTIARCH: 'aarch64-linux-gnu', PHP_FPM: '' });
  });

  it('refuses missing targets, unknown architectures and odd paths as user errors', () => {
    expect(() => bpfMakeVars({ ...base, php: undefined })).toThrow(UserError);
    expect(() => bpfMakeVars({ ...base, libmemcached: undefined })).toThrow(/libmemcached/);
    expect(() => bpfMakeVars({ ...base, arch: 'riscv64' })).toThrow(/riscv64/);
    expect(() => bpfMakeVars({ ...base, libmemcached: '/usr/lib/x"y.so' })).toThrow(/unexpected characters/);
  });

  it('builds a quoted make command line', () => {
    expect(bpfMakeCommand('/opt/lab/bpf-src', '/opt/lab/bpf', bpfMakeVars(base), 4)).toBe(
      'make -C /opt/lab/bpf-src -j4 OUT=/opt/lab/bpf LIBPHP=/usr/lib/apache2/modules/libphp8.1.so ' +
        'PHP_FPM=/usr/sbin/php-fpm8.1 LIBMEMCACHED=/usr/lib/x86_64-linux-gnu/libmemcached.so.11 ARCH=x86 MULTIARCH=x86_64-linux-gnu',
    );
  });
});
