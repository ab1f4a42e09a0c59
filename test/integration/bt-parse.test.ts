import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HOST_FACTS_SCRIPT, parseHostFacts } from '../../src/facts/host.js';
import { btPathsFromFacts, listBtTools, renderBt, type BtPaths } from '../../src/render/bt.js';

// The bt/ tools against the host's real bpftrace (Debian 12: 0.17) and real PHP 8.2:
// 1. every tool, rendered with the paths the host-facts probe finds, is compiled to BPF
//    with `--emit-elf` (0.17's dry run: parse, semantic checks, codegen, no attach), and each
//    probe it names is listed by `bpftrace -l` (emit-elf does not check that a uprobe exists);
// 2. every tool reachable from the PHP CLI is run for real against a CLI workload and must
//    print the expected events. (The apache/fpm request tool only attaches here; real
//    requests are exercised by the sandbox tests.)
// Host packages: see scripts/host-packages.txt (php8.2-cli, -fpm, libapache2-mod-php8.2,
// php8.2-apcu, php8.2-memcached, libmemcached11).

const tmp = mkdtempSync(join(tmpdir(), 'ebpf-lab-bt-'));
const tools = listBtTools();
let paths: BtPaths = {};
let mountedTracefs = false;
const children: ChildProcess[] = [];

function sh(cmd: string, args: string[], env: NodeJS.ProcessEnv = {}): { status: number | null; out: string } {
  const r = spawnSync(cmd, args, { encoding: 'utf8', env: { ...process.env, ...env }, timeout: 60_000 });
  if (r.error) throw r.error;
  return { status: r.status, out: `${r.stdout}${r.stderr}` };
}

function rendered(file: string): string {
  const tool = tools.find((t) => t.file === file);
  if (!tool) throw new Error(`no tool ${file}`);
  const p = join(tmp, file);
  writeFileSync(p, renderBt(tool.source, paths));
  return p;
}

beforeAll(() => {
  const facts = parseHostFacts(sh('bash', ['-c', HOST_FACTS_SCRIPT]).out);
  paths = btPathsFromFacts(facts);
  const missing = Object.entries(paths).filter(([, v]) => v === undefined || !existsSync(v));
  if (missing.length > 0) {
    throw new Error(`host lacks ${missing.map(([k]) => k).join(', ')}: install scripts/host-packages.txt`);
  }
  // Tracepoints need tracefs; a CI VM may not have it mounted (no systemd as PID 1).
  if (!existsSync('/sys/kernel/tracing/available_events')) {
    const r = sh('mount', ['-t', 'tracefs', 'nodev', '/sys/kernel/tracing']);
    if (r.status !== 0) throw new Error(`cannot mount tracefs: ${r.out}`);
    mountedTracefs = true;
  }
});

afterAll(() => {
  for (const c of children) if (c.exitCode === null && c.pid !== undefined) c.kill('SIGKILL');
  if (mountedTracefs) sh('umount', ['/sys/kernel/tracing']);
  rmSync(tmp, { recursive: true, force: true });
});

/** Probe specs (`type:target`) a rendered bpftrace source attaches to. */
function probeSpecs(source: string): string[] {
  return [...source.matchAll(/^(usdt|uprobe|uretprobe|tracepoint):[^\s,{]+/gm)].map((m) => m[0]);
}

describe('bt/ tools parse and codegen with the host bpftrace', () => {
  it('the host has bpftrace', () => {
    expect(sh('bpftrace', ['--version']).out).toMatch(/^bpftrace v0\.\d+/);
  });

  it.each(tools.map((t) => t.file))('%s compiles (--emit-elf, no attach)', (file) => {
    const src = rendered(file);
    const elf = `${src}.elf`;
    const r = sh('bpftrace', ['--emit-elf', elf, src]);
    expect(r.status, r.out).toBe(0);
    expect(statSync(elf).size).toBeGreaterThan(500);
  });

  it('--emit-elf does fail on a semantic error (the check can fail)', () => {
    const src = join(tmp, 'broken.bt');
    writeFileSync(src, `usdt:${paths.phpCli}:php:compile__file__return { @[str(arg0)] = countx(); }\n`);
    expect(sh('bpftrace', ['--emit-elf', `${src}.elf`, src]).status).not.toBe(0);
  });

  it.each(tools.map((t) => t.file))('%s: every probe exists on this host (bpftrace -l)', (file) => {
    const specs = probeSpecs(renderBt(tools.find((t) => t.file === file)!.source, paths));
    expect(specs.length).toBeGreaterThan(0);
    for (const spec of specs) {
      const listed = spec.replace(/^uretprobe:/, 'uprobe:');
      const r = sh('bpftrace', ['-l', listed]);
      expect(r.out.split('\n'), `${spec}: ${r.out}`).toContain(listed);
    }
  });
});

/**
 * Runs a tool, repeats `trigger` until `until` matches its output (or, for tools that print
 * only on exit, `until.times` times), then stops it with SIGINT and returns all output.
 */
async function runTool(file: string, trigger: () => void, until: RegExp | { times: number }): Promise<string> {
  const child = spawn('bpftrace', [rendered(file)], { stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((res) => child.on('exit', (code) => res(code)));
  const t0 = Date.now();
  const mark = (what: string): void => void (out += `\n[test +${((Date.now() - t0) / 1000).toFixed(1)} s: ${what}]\n`);
  const deadline = t0 + 30_000;
  while (!/Attaching \d+ probes?/.test(out)) {
    if (child.exitCode !== null || Date.now() > deadline) throw new Error(`${file} did not attach:\n${out}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  mark('attaching seen');
  // "Attaching" is printed before the uprobes are in place: trigger until the event shows.
  let n = 0;
  const done = (): boolean => (until instanceof RegExp ? until.test(out) : n >= until.times);
  while (!done() && Date.now() < deadline && child.exitCode === null) {
    trigger();
    n++;
    await new Promise((r) => setTimeout(r, 500));
  }
  expect(done(), `${file}: expected output not seen:\n${out}`).toBe(true);
  // bpftrace 0.17 sometimes sits on a SIGINT until the next probe event (seen here: minutes
  // when nothing fires). Ask again, with an event to wake it up, and never wait forever.
  let code: number | null | undefined;
  for (const sig of ['SIGINT', 'SIGINT', 'SIGINT', 'SIGKILL'] as const) {
    mark(`sending ${sig}`);
    child.kill(sig);
    code = await Promise.race([exited, new Promise<undefined>((r) => setTimeout(() => r(undefined), 3_000))]);
    if (code !== undefined) break;
    trigger();
  }
  expect(code, out).toBe(0);
  return out;
}

describe('bt/ tools run for real against the PHP CLI', { timeout: 120_000 }, () => {
  const php =
    (args: string[], env: NodeJS.ProcessEnv = {}) =>
    () => {
      sh(paths.phpCli as string, args, env);
    };
  const dtrace = { USE_ZEND_DTRACE: '1' };
  const script = (name: string, body: string): string => {
    const p = join(tmp, name);
    writeFileSync(p, body);
    return p;
  };

  it('php-compiled-files.bt lists the script and the file it requires', async () => {
    const lib = script('lib-used.php', '<?php function used() { return 42; }\n');
    const main = script('main.php', `<?php require ${JSON.stringify(lib)}; echo used();\n`);
    const out = await runTool('php-compiled-files.bt', php([main], dtrace), /NEW .*lib-used\.php/);
    expect(out).toMatch(new RegExp(`NEW php[\\w.]*\\s+\\d+\\s+${main}\\n`));
    expect(out).toMatch(new RegExp(`NEW php[\\w.]*\\s+\\d+\\s+${lib}\\n`));
    expect(out).toMatch(new RegExp(`@compiles\\[${lib}\\]: \\d+`));
  });

  it('php-compile-latency.bt prints a histogram per compiled file', async () => {
    const main = script('compile-me.php', '<?php echo 1;\n');
    // The histogram is only printed on exit: trigger for a few seconds, then stop.
    const out = await runTool('php-compile-latency.bt', php([main], dtrace), { times: 8 });
    expect(out).toMatch(new RegExp(`@compile_ns\\[${main}\\]:\\s*\\n\\[\\d+[KM]?, \\d+[KM]?\\)\\s+\\d+ \\|@+`));
  });

  it('php-exceptions.bt shows thrown and caught classes (caught reads the zend_string)', async () => {
    const main = script(
      'exc.php',
      '<?php try { throw new RuntimeException("a"); } catch (RuntimeException $e) {}\n' +
        'try { throw new LogicException("b"); } catch (Exception $e) {}\n',
    );
    const out = await runTool('php-exceptions.bt', php([main]), /CAUGHT LogicException/);
    expect(out).toMatch(/THROWN RuntimeException\n/);
    expect(out).toMatch(/CAUGHT RuntimeException\n/);
    expect(out).toMatch(/THROWN LogicException\n/);
    expect(out).toMatch(/@caught\[LogicException\]: \d+/);
  });

  it('php-batch-jobs.bt times a CLI job from exec to exit with its command line and exit code 3', async () => {
    const job = script('job.php', '<?php usleep(200000); exit(3);\n');
    // One job's START and its own EXIT: the tool may see a first job only in part while its
    // probes attach (its START but not yet its EXIT when a later job's EXIT is already there).
    const both = new RegExp(
      `^(\\d+)\\s+START /usr/(?:local/)?bin/php[\\w.]*\\s+\\S*php[\\w.]* ${job} first --second=2\\n` +
        `[\\s\\S]*?^\\1\\s+EXIT  php[\\w.]*\\s+code=3 signal=0 elapsed_ms=(\\d+)\\n`,
      'm',
    );
    const out = await runTool('php-batch-jobs.bt', php([job, 'first', '--second=2']), both);
    const m = both.exec(out);
    expect(m, out).not.toBeNull();
    expect(Number(m![2])).toBeGreaterThanOrEqual(200);
  });

  it('php-function-calls.bt counts userland calls by class and function', async () => {
    const main = script(
      'calls.php',
      '<?php class Lab { function hit() {} } $l = new Lab; for ($i = 0; $i < 7; $i++) $l->hit();\n',
    );
    // The tool prints its top list every 5 s.
    const out = await runTool('php-function-calls.bt', php([main], dtrace), /@calls\[Lab, hit\]: \d+/);
    expect(out).toMatch(/@calls\[Lab, hit\]: \d+/);
  });

  it('apcu-store.bt prints the store result, TTL and key', async () => {
    const main = script('apcu.php', '<?php apcu_store("lab-key", str_repeat("v", 100), 60);\n');
    const out = await runTool('apcu-store.bt', php(['-d', 'apc.enable_cli=1', main]), /ret=1 ttl=60 key=lab-key/);
    expect(out).toMatch(/@results\[1\]: \d+/);
  });

  it('memcached-set.bt prints key, lengths and expiration (no server needed for the call)', async () => {
    const main = script(
      'memc.php',
      '<?php $m = new Memcached(); $m->addServer("127.0.0.1", 1); $m->set("lab-memc", str_repeat("x", 1234), 77);\n',
    );
    const out = await runTool('memcached-set.bt', php([main]), /key=lab-memc key_len=8 value_len=1234 expiration=77/);
    expect(out).toMatch(/@value_bytes:\s*\n\[1K, 2K\)\s+\d+/);
  });

  it('php-request-latency.bt attaches to mod_php and php-fpm', async () => {
    const out = await runTool('php-request-latency.bt', () => undefined, { times: 4 });
    expect(out).toMatch(/Attaching \d+ probes/);
  });
});
