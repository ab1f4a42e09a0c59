import { type ChildProcess, execFileSync, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Metric } from '../support/exporter-config.js';
import { parse } from 'yaml';
import { type BpfMakeVars, bpfMakeCommand, bpfMakeVars } from '../../src/facts/bpf-targets.js';
import { packageRoot } from '../../src/paths.js';
import { EXPORTER_CONFIGS } from '../../src/render/metrics.js';

// Builds bpf/ with its Makefile on this host, loads every object through the kernel verifier
// (bpftool prog loadall), checks map key/value sizes against the YAML labels, then attaches
// the programs for real with bpf/tools/lab-attach (our stand-in for ebpf_exporter, using the
// system libbpf's USDT attach and our own USDT header) and drives PHP + libmemcached.
// The PHP targets point at the CLI (LIBPHP, sapi="apache") and CGI (PHP_FPM, sapi="fpm")
// binaries: same USDT probes as mod_php / php-fpm, no web server needed.
// Labels are made unique per run (random suffix) so other PHP processes cannot skew counts.

const bpfDir = join(packageRoot(), 'bpf');
const work = mkdtempSync(join(tmpdir(), 'ebpf-lab-bpf-'));
const out = join(work, 'out');
const fs = join(work, 'bpffs');
const app = join(work, 'app');
const tag = Math.random().toString(36).slice(2, 8);
const children: ChildProcess[] = [];
let bpffsMounted = false;

const run = (cmd: string) => spawnSync('bash', ['-c', cmd], { encoding: 'utf8' });
const multiarch = execFileSync('gcc', ['-dumpmachine'], { encoding: 'utf8' }).trim();
const vars: BpfMakeVars = bpfMakeVars({
  arch: process.arch === 'arm64' ? 'aarch64' : 'x86_64',
  multiarch,
  php: {
    version: '8.2',
    libphp: '/usr/bin/php8.2',
    fpmBinary: '/usr/bin/php-cgi8.2',
    confDir: '/etc/php/8.2',
    usdt: true,
  },
  libmemcached: `/usr/lib/${multiarch}/libmemcached.so.11`,
});
const make = (extra = '') => run(`${bpfMakeCommand(bpfDir, out, vars, 2)} ${extra} 2>&1`);

const metricsOf = (config: string): Metric[] => {
  const c = parse(readFileSync(join(bpfDir, `${config}.yaml`), 'utf8')) as {
    metrics: { counters?: Metric[]; histograms?: Metric[] };
  };
  return [...(c.metrics.counters ?? []), ...(c.metrics.histograms ?? [])];
};
const allMetrics = new Map(EXPORTER_CONFIGS.flatMap((c) => metricsOf(c).map((m) => [m.name, m] as const)));
const labelBytes = (m: Metric) => (m.labels ?? []).reduce((n, l) => n + l.size + (l.padding ?? 0), 0);

/** Decodes a raw map key the way ebpf_exporter does for our decoders (string, uint). */
function decodeKey(metric: Metric, hex: string): Record<string, string> {
  const key = Buffer.from(hex, 'hex');
  const labels: Record<string, string> = {};
  let at = 0;
  for (const l of metric.labels ?? []) {
    const raw = key.subarray(at, at + l.size);
    const dec = l.decoders.map((d) => d.name).join(',');
    if (dec === 'string')
      labels[l.name] = raw.subarray(0, raw.indexOf(0) < 0 ? raw.length : raw.indexOf(0)).toString('utf8');
    else if (dec === 'uint') labels[l.name] = raw.readBigUInt64LE(0).toString();
    else throw new Error(`decoder ${dec} not handled by the test`);
    at += l.size + (l.padding ?? 0);
  }
  return labels;
}

interface Dump {
  maps: {
    object: string;
    name: string;
    key_size: number;
    max_entries: number;
    entries: { key: string; value: number }[];
  }[];
}
/** Rows of one map as decoded labels + value. */
function rows(dump: Dump, name: string): (Record<string, string> & { value: number })[] {
  const map = dump.maps.find((m) => m.name === name);
  if (!map) throw new Error(`map ${name} not in dump`);
  const metric = allMetrics.get(name);
  return map.entries.map((e) => Object.assign(metric ? decodeKey(metric, e.key) : { key: e.key }, { value: e.value }));
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      srv.close(() => (typeof addr === 'object' && addr ? resolve(addr.port) : reject(new Error('no port'))));
    });
  });
}

/** CGI request environment for php-cgi running our test script. */
const cgiEnv = {
  REDIRECT_STATUS: '1',
  REQUEST_METHOD: 'POST',
  SCRIPT_FILENAME: join(app, 'main.php'),
  CONTENT_LENGTH: '0',
};

interface Attached {
  programs: { object: string; program: string; attached: boolean; error?: string }[];
  dump: Dump;
}
/** Attaches `objects` with lab-attach --strict, runs `workload`, returns the attach report and a map dump. */
async function attached(objects: string[], workload: () => void): Promise<Attached> {
  const loader = spawn(join(out, 'lab-attach'), ['--strict', ...objects], { stdio: ['pipe', 'pipe', 'pipe'] });
  children.push(loader);
  let stderr = '';
  loader.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  loader.stdin!.on('error', () => undefined); // an early exit (--strict) is reported via next()
  const lines = createInterface({ input: loader.stdout! })[Symbol.asyncIterator]();
  const next = async () => {
    const line = await lines.next();
    if (line.done) throw new Error(`lab-attach ended: ${stderr}`);
    return line.value;
  };
  const programs = (JSON.parse(await next()) as Attached).programs;
  workload();
  loader.stdin!.write('dump\n');
  const dump = JSON.parse(await next()) as Dump;
  loader.stdin!.end();
  await new Promise((resolve) => loader.once('exit', resolve));
  expect(loader.exitCode, stderr).toBe(0);
  return { programs, dump };
}

async function waitForPort(port: number): Promise<void> {
  for (let i = 0; i < 100; i++) {
    const up = await new Promise<boolean>((resolve) => {
      const sock = connect(port, '127.0.0.1', () => sock.end(() => resolve(true)));
      sock.on('error', () => resolve(false));
    });
    if (up) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`nothing listens on 127.0.0.1:${port}`);
}

beforeAll(() => {
  mkdirSync(out, { recursive: true });
  const built = make();
  expect(built.status, built.stdout).toBe(0);
  const loader = make('loader');
  expect(loader.status, loader.stdout).toBe(0);
});

afterAll(() => {
  for (const c of children) if (c.exitCode === null && c.pid) process.kill(c.pid, 'SIGTERM');
  if (bpffsMounted) run(`umount ${fs}`);
  rmSync(work, { recursive: true, force: true });
});

describe('bpf/ Makefile', () => {
  it('builds <name>.bpf.o beside a copy of <name>.yaml for every config, and is up to date afterwards', () => {
    for (const c of EXPORTER_CONFIGS) {
      expect(existsSync(join(out, `${c}.bpf.o`)), c).toBe(true);
      expect(readFileSync(join(out, `${c}.yaml`), 'utf8')).toBe(readFileSync(join(bpfDir, `${c}.yaml`), 'utf8'));
    }
    expect(existsSync(join(out, 'vmlinux.h'))).toBe(true);
    expect(make('-q').status).toBe(0);
  });

  it('rebuilds only the objects whose probe targets changed', () => {
    const rebuilt = (stdout: string) => [...stdout.matchAll(/-o \S+\/(\w+)\.bpf\.o/g)].map((m) => m[1]).sort();
    try {
      // Compiling does not need the target to exist; only attaching does.
      const php = make('PHP_FPM=/nonexistent/php-fpm');
      expect(php.status, php.stdout).toBe(0);
      expect(rebuilt(php.stdout)).toEqual(EXPORTER_CONFIGS.filter((c) => c.startsWith('php_')).sort());
      const memc = make('LIBMEMCACHED=/nonexistent/libmemcached.so.11');
      expect(rebuilt(memc.stdout)).toEqual(
        ['memcached', ...EXPORTER_CONFIGS.filter((c) => c.startsWith('php_'))].sort(),
      );
      expect(php.stdout + memc.stdout).not.toContain('btf dump'); // vmlinux.h is generated once
    } finally {
      expect(make().status).toBe(0); // back to the CLI/CGI targets for the attach test
    }
    expect(make('-q').status).toBe(0);
  });
});

describe('bpf/ objects in the kernel', () => {
  beforeAll(() => {
    // A private bpffs instance: nothing is pinned in the host's /sys/fs/bpf.
    mkdirSync(fs, { recursive: true });
    const mounted = run(`mount -t bpf bpf ${fs}`);
    expect(mounted.status, mounted.stderr).toBe(0);
    bpffsMounted = true;
  });

  it.each([...EXPORTER_CONFIGS])('%s.bpf.o passes the verifier; metric maps match the YAML labels', (config) => {
    const dir = join(fs, config);
    mkdirSync(dir);
    const loaded = run(`bpftool prog loadall ${join(out, `${config}.bpf.o`)} ${dir}/progs pinmaps ${dir}/maps 2>&1`);
    expect(loaded.status, loaded.stdout.slice(-3000)).toBe(0);
    try {
      for (const metric of metricsOf(config)) {
        const info = JSON.parse(
          execFileSync('bpftool', ['-j', 'map', 'show', 'pinned', `${dir}/maps/${metric.name}`], { encoding: 'utf8' }),
        ) as {
          bytes_key: number;
          bytes_value: number;
          max_entries: number;
        };
        expect(info.bytes_key, metric.name).toBe(labelBytes(metric));
        expect(info.bytes_value, metric.name).toBe(8);
        // Every bucket plus the sum key must fit (the workshop's map was one short).
        if (metric.bucket_max !== undefined && config === 'memcached')
          expect(info.max_entries).toBeGreaterThanOrEqual(metric.bucket_max + 2);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('bpf/ programs attached to PHP and libmemcached', () => {
  let dump: Dump;
  let programs: Attached['programs'];

  beforeAll(async () => {
    const port = await freePort();
    const memcached = spawn('memcached', ['-u', 'nobody', '-l', '127.0.0.1', '-p', String(port), '-U', '0'], {
      stdio: 'ignore',
    });
    children.push(memcached);
    await waitForPort(port);

    mkdirSync(join(app, 'lib'), { recursive: true });
    writeFileSync(
      join(app, 'lib', 'inc.php'),
      `<?php\nclass Greeter_${tag} { public function hello($n) { return "hi $n"; } }\n` +
        `function helper_${tag}($x) { return $x * 2; }\n` +
        `class Boom_${tag} extends RuntimeException {}\nclass Oops_${tag} extends LogicException {}\n`,
    );
    writeFileSync(
      join(app, 'main.php'),
      `<?php\nrequire __DIR__ . '/lib/inc.php';\n$g = new Greeter_${tag}();\n` +
        `for ($i = 0; $i < 3; $i++) { $g->hello($i); helper_${tag}($i); }\n` +
        `try { throw new Boom_${tag}('x'); } catch (RuntimeException $e) {}\n` +
        `try { throw new Oops_${tag}('y'); } catch (Exception $e) {}\n` +
        `$port = getenv('MEMC_PORT');\nif ($port) {\n  $m = new Memcached();\n  $m->setOption(Memcached::OPT_COMPRESSION, false);\n` +
        `  $m->addServer('127.0.0.1', (int)$port);\n` +
        `  foreach ([1, 100, 1000, 5000, 70000] as $n) { if (!$m->set("k$n", str_repeat('x', $n), 60)) { exit(3); } }\n}\necho "done\\n";\n`,
    );

    const php = (cmd: string, env: Record<string, string>) => {
      const r = spawnSync('bash', ['-c', cmd], {
        encoding: 'utf8',
        env: { ...process.env, USE_ZEND_DTRACE: '1', ...env },
      });
      expect(r.status, r.stdout + r.stderr).toBe(0);
      expect(r.stdout).toContain('done');
    };
    ({ programs, dump } = await attached(
      EXPORTER_CONFIGS.map((c) => join(out, `${c}.bpf.o`)),
      () => {
        php(`php8.2 ${join(app, 'main.php')}`, { MEMC_PORT: String(port) });
        php('php-cgi8.2', { ...cgiEnv, SCRIPT_NAME: `/app-${tag}/main.php?q=1&r=2` });
      },
    ));
  });

  it('attaches every program (usdt via our header, uprobe via the library path)', () => {
    expect(programs.length).toBe(13);
    expect(programs.filter((p) => !p.attached)).toEqual([]);
  });

  it('counts compiled files per directory and SAPI', () => {
    const r = rows(dump, 'php_compile_file_total');
    for (const sapi of ['apache', 'fpm']) {
      expect(r.find((x) => x.sapi === sapi && x.dir === app)?.value, sapi).toBe(1);
      expect(r.find((x) => x.sapi === sapi && x.dir === join(app, 'lib'))?.value, sapi).toBe(1);
    }
  });

  it('counts thrown and caught exceptions by class name', () => {
    for (const map of ['php_exception_thrown_total', 'php_exception_caught_total']) {
      const r = rows(dump, map);
      for (const sapi of ['apache', 'fpm']) {
        expect(r.find((x) => x.sapi === sapi && x.class === `Boom_${tag}`)?.value, `${map} ${sapi}`).toBe(1);
        expect(r.find((x) => x.sapi === sapi && x.class === `Oops_${tag}`)?.value, `${map} ${sapi}`).toBe(1);
      }
    }
  });

  it('counts userland function calls by class and function', () => {
    const r = rows(dump, 'php_function_calls_total');
    for (const sapi of ['apache', 'fpm']) {
      expect(r.find((x) => x.sapi === sapi && x.class === `Greeter_${tag}` && x.function === 'hello')?.value).toBe(3);
      expect(r.find((x) => x.sapi === sapi && x.class === '' && x.function === `helper_${tag}`)?.value).toBe(3);
    }
  });

  it('records request durations by path (query cut off) and method, and forgets start times', () => {
    const r = rows(dump, 'php_request_duration_seconds').filter(
      (x) => x.sapi === 'fpm' && x.uri === `/app-${tag}/main.php`,
    );
    const sum = r.find((x) => x.bucket === '27');
    const buckets = r.filter((x) => x.bucket !== '27');
    expect(r.every((x) => x.method === 'POST')).toBe(true);
    expect(buckets.reduce((n, x) => n + x.value, 0)).toBe(1);
    expect(Number(buckets[0]!.bucket)).toBeLessThanOrEqual(26);
    expect(sum?.value ?? 0).toBeGreaterThan(0); // microseconds
    expect(rows(dump, 'php_request_duration_seconds').some((x) => x.sapi === 'apache')).toBe(true);
    expect(rows(dump, 'php_request_dropped_total')).toEqual([]);
    expect(rows(dump, 'php_request_start')).toEqual([]);
  });

  it('histograms memcached_set value sizes in exp2 buckets with a sum key', () => {
    const r = new Map(rows(dump, 'memcached_set_value_bytes').map((x) => [x.bucket, x.value]));
    // 1 -> 0, 100 -> 7 (<=128), 1000 -> 10, 5000 -> 13, 70000 -> 17; key 25 is the sum.
    for (const b of ['0', '7', '10', '13', '17']) expect(r.get(b) ?? 0, `bucket ${b}`).toBeGreaterThanOrEqual(1);
    expect(r.get('25') ?? 0).toBeGreaterThanOrEqual(1 + 100 + 1000 + 5000 + 70000);
  });
});

describe('php_request overflow', () => {
  it('counts observations that no longer fit in php_request_dropped_total', async () => {
    // An 8-entry histogram map: 4 distinct URIs (bucket + sum key each) fill it.
    const small = join(work, 'small');
    const built = run(
      `${bpfMakeCommand(bpfDir, small, { ...vars, LIBPHP: '' }, 2)} EXTRA_BPF_CFLAGS=-DHIST_ENTRIES=8 ${small}/php_request.bpf.o 2>&1`,
    );
    expect(built.status, built.stdout).toBe(0);
    const { programs: progs, dump: d } = await attached([join(small, 'php_request.bpf.o')], () => {
      for (let i = 0; i < 6; i++) {
        const env = { ...process.env, ...cgiEnv, SCRIPT_NAME: `/over-${tag}-${i}.php` };
        expect(spawnSync('php-cgi8.2', [], { encoding: 'utf8', env }).status).toBe(0);
      }
    });
    expect(progs.map((p) => `${p.program}:${p.attached}`).sort()).toEqual([
      'on_request_shutdown_fpm:true',
      'on_request_startup_fpm:true',
    ]);
    expect(rows(d, 'php_request_duration_seconds')).toHaveLength(8);
    expect(rows(d, 'php_request_dropped_total')).toEqual([{ sapi: 'fpm', value: 2 }]);
  });
});
