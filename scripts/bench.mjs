#!/usr/bin/env node
// npm run bench — fresh and no-op `ebpf-lab up` on the sandbox, each next to a plain bash
// script doing the same work over one SSH session, measured in the same run on fresh
// sandbox copies, printed as ratios. Scope: the issue-2 steps (preflight, packages, php,
// dtrace, sample-app), which the bash baseline reproduces from the same templates.
// Needs root and `npm run build` first.
// Usage: node scripts/bench.mjs [--rounds N] [--os ubuntu-22.04|ubuntu-24.04|…] [--startup-only]
// The sandboxes run --os (default Ubuntu 22.04, the workshop's OS); the bash baseline finds the
// PHP version on the host after installing, as a hand-written script for several OSes would.
// The first phase, start-up, times `ebpf-lab --help` and `--version` against `node -e 0`
// (the issue-10 budget: at most 0.1 s more); it needs neither root nor a sandbox.
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const ROOT = new URL('..', import.meta.url).pathname;
const dist = (p) => import(join(ROOT, 'dist', p));
const { sandboxUp, sandboxDown } = await dist('src/targets/sandbox.js');
const { sandboxPackages } = await dist('steps/index.js');
const { labPackages } = await dist('steps/packages.js');
const { render } = await dist('src/render/template.js');
const { sandboxOs, DEFAULT_SANDBOX_OS } = await dist('src/targets/sandbox-os.js');
const { repoPath } = await dist('src/targets/sandbox-image.js');
const { MEMCACHED_PORT } = await dist('src/lab/layout.js');

const arg = (name) => (process.argv.includes(name) ? process.argv[process.argv.indexOf(name) + 1] : undefined);
const rounds = Number(arg('--rounds') || 3) || 3;
const os = sandboxOs(arg('--os') ?? DEFAULT_SANDBOX_OS);
const home = mkdtempSync(join(tmpdir(), 'ebpf-lab-bench-'));
const cacheDir = process.env.EBPF_LAB_CACHE ?? '/var/tmp/ebpf-lab-cache';
const env = { ...process.env, EBPF_LAB_HOME: home, EBPF_LAB_CACHE: cacheDir };
const ONLY = 'preflight,packages,php,dtrace,sample-app';
const log = () => {};

const secs = (f) => {
  const t = process.hrtime.bigint();
  f();
  return Number(process.hrtime.bigint() - t) / 1e9;
};
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

function ssh(info, script) {
  const r = spawnSync(
    'ssh',
    [
      '-i',
      info.keyPath,
      '-p',
      String(info.port),
      '-o',
      `UserKnownHostsFile=${home}/known_hosts.bash`,
      '-o',
      'StrictHostKeyChecking=accept-new',
      '-o',
      'BatchMode=yes',
      'root@127.0.0.1',
      'bash -s',
    ],
    { input: script, encoding: 'utf8' },
  );
  if (r.status !== 0) throw new Error(`baseline script failed (${r.status}): ${r.stderr.slice(-2000)}`);
  return r.stdout;
}

// The desired state, rendered from the same templates the steps use. The PHP version is the
// host's: `__V__` in paths and contents becomes $v, found by the script once PHP is installed.
const v = '__V__';
const files = {
  '/etc/apt/apt.conf.d/90ebpf-lab': render('etc/apt/apt.conf.d/90ebpf-lab', {}),
  '/etc/apache2/conf-available/ebpf-lab.conf': render('etc/apache2/conf-available/ebpf-lab.conf', {
    docroot: '/var/www/html',
    fpmSocket: `/run/php/php${v}-fpm.sock`,
  }),
  [`/etc/php/${v}/apache2/conf.d/99-ebpf-lab.ini`]: render('etc/php/VERSION/SAPI/conf.d/99-ebpf-lab.ini', {
    opcache: false,
  }),
  [`/etc/php/${v}/fpm/conf.d/99-ebpf-lab.ini`]: render('etc/php/VERSION/SAPI/conf.d/99-ebpf-lab.ini', {
    opcache: false,
  }),
  '/etc/systemd/system/apache2.service.d/ebpf-lab-dtrace.conf': render(
    'etc/systemd/system/UNIT.d/ebpf-lab-dtrace.conf',
    {},
  ),
  [`/etc/systemd/system/php${v}-fpm.service.d/ebpf-lab-dtrace.conf`]: render(
    'etc/systemd/system/UNIT.d/ebpf-lab-dtrace.conf',
    {},
  ),
  ...Object.fromEntries(
    ['index.php', 'mem.php', 'exception.php', 'error.php', 'path1/a.php', 'path2/a.php', 'phpinfo.php'].map((p) => [
      `/var/www/html/${p}`,
      render(`var/www/html/${p}`, { memcachedPort: MEMCACHED_PORT }),
    ]),
  ),
};
const sh = (p) => p.replaceAll('__V__', '$v');
const heredocs = Object.entries(files)
  .map(
    ([p, c]) =>
      `mkdir -p "$(dirname ${sh(p)})"; cat > ${sh(p)} <<'EBPF_LAB_EOF'\n${c}EBPF_LAB_EOF\nsed -i "s/__V__/$v/g" ${sh(p)}`,
  )
  .join('\n');
const findV = `v=$(ls /usr/sbin/php-fpm* | sed 's#.*php-fpm##' | sort -V | tail -1)`;
// The packages of the issue-2 steps as the sandbox's repository resolved them for this OS
// (bpftool's alternatives included), read once the repository exists.
let pkgs = '';
function resolvedPackages() {
  const wanted = JSON.parse(readFileSync(join(repoPath(cacheDir, os, sandboxPackages(os)), 'wanted.json'), 'utf8'));
  const lab = new Set(
    labPackages({ os: { id: os.distro, versionId: os.versionId }, kernel: 'x' }).flatMap((p) => p.split('|')),
  );
  return wanted.filter((p) => lab.has(p)).join(' ');
}

// Fresh: what a careful hand-written script does (no checks: it knows the host is new).
const freshScript = () => `set -e
export DEBIAN_FRONTEND=noninteractive NEEDRESTART_MODE=a
apt-get -o DPkg::Lock::Timeout=300 update -q >/dev/null
apt-get -o DPkg::Lock::Timeout=300 install -y -q --no-install-recommends ${pkgs} >/dev/null
${findV}
${heredocs}
a2enmod -q proxy proxy_fcgi; a2enconf -q ebpf-lab; apache2ctl configtest 2>/dev/null
systemctl daemon-reload; systemctl restart apache2 php${v}-fpm; systemctl enable -q apache2 php${v}-fpm memcached
for u in / /fpm/; do curl -sf -o /dev/null http://127.0.0.1\${u}index.php; done
echo done`;

// No-op: the same state checked, nothing changed (the minimum a re-run must do).
const noopScript = () => `set -e
${findV}
dpkg-query -W -f='\${db:Status-Abbrev}\\n' ${pkgs} | grep -vq '^ii' && echo drift-packages
${Object.entries(files)
  .map(
    ([p, c]) =>
      `[ "$(sha256sum < ${sh(p)} | cut -c1-64)" = "$(printf '%s' ${JSON.stringify(c).replace(/\$/g, '\\$')} | sed "s/__V__/$v/g" | sha256sum | cut -c1-64)" ] || echo drift ${sh(p)}`,
  )
  .join('\n')}
systemctl is-active -q apache2 php${v}-fpm memcached || echo drift-services
systemctl is-enabled -q apache2 php${v}-fpm memcached || echo drift-enabled
ls /etc/apache2/mods-enabled/proxy_fcgi.load /etc/apache2/conf-enabled/ebpf-lab.conf >/dev/null
p=$(pgrep -o -x apache2); tr '\\0' '\\n' < /proc/$p/environ | grep -q USE_ZEND_DTRACE=1 || echo drift-env
echo unchanged`;

function tool(name, extra = []) {
  return secs(() =>
    execFileSync(
      process.execPath,
      [
        join(ROOT, 'bin', 'ebpf-lab.js'),
        'up',
        '--target',
        `sandbox:${name}`,
        '--only',
        ONLY,
        '--output',
        'plain',
        ...extra,
      ],
      { env, stdio: 'ignore' },
    ),
  );
}

/** CPU seconds (user + system) of this process's waited-for children so far, from /proc (10 ms ticks). */
const childCpu = () => {
  const f = readFileSync('/proc/self/stat', 'utf8').split(') ')[1].split(' ');
  return (Number(f[13]) + Number(f[14])) / 100; // cutime, cstime (fields 16 and 17)
};
const mean = (xs) => xs.reduce((a, b) => a + b, 0) / xs.length;

/**
 * Start-up: `node -e 0`, `ebpf-lab --help` and `ebpf-lab --version`, interleaved (one of each
 * per round, so a busy machine slows all three alike): median wall time and mean CPU time of
 * 30 rounds after 3 warm-up rounds. CPU time is the fairer figure on a loaded machine.
 */
function startup(n = 30) {
  const bin = join(ROOT, 'bin', 'ebpf-lab.js');
  const cases = {
    'node -e 0': ['-e', '0'],
    'ebpf-lab --help': [bin, '--help'],
    'ebpf-lab --version': [bin, '--version'],
  };
  const wall = Object.fromEntries(Object.keys(cases).map((k) => [k, []]));
  const cpu = Object.fromEntries(Object.keys(cases).map((k) => [k, []]));
  for (let i = 0; i < n + 3; i++)
    for (const [k, args] of Object.entries(cases)) {
      const c0 = childCpu();
      const t = secs(() => spawnSync(process.execPath, args, { stdio: 'ignore' }));
      if (i < 3) continue; // warm-up
      wall[k].push(t);
      cpu[k].push(childCpu() - c0);
    }
  const ms = (x) => `${(x * 1000).toFixed(0).padStart(5)} ms`;
  const w0 = median(wall['node -e 0']);
  const c0 = mean(cpu['node -e 0']);
  console.log(
    `start-up, ${n} interleaved rounds (budget: +100 ms over node -e 0); load ${readFileSync('/proc/loadavg', 'utf8').split(' ')[0]}`,
  );
  console.log(`  ${''.padEnd(20)} ${'wall (median)'.padStart(24)}  ${'cpu (mean)'.padStart(22)}`);
  for (const k of Object.keys(cases)) {
    const dw = k === 'node -e 0' ? '' : `+${((median(wall[k]) - w0) * 1000).toFixed(0)}`;
    const dc = k === 'node -e 0' ? '' : `+${((mean(cpu[k]) - c0) * 1000).toFixed(0)}`;
    console.log(
      `  ${k.padEnd(20)} ${ms(median(wall[k]))} ${dw.padStart(6)} ms    ${ms(mean(cpu[k]))} ${dc.padStart(6)} ms`,
    );
  }
}

startup();
if (process.argv.includes('--startup-only')) {
  rmSync(home, { recursive: true, force: true });
  process.exit(0);
}

try {
  const packages = sandboxPackages;
  await sandboxUp({ name: 'bench-tool', home, cacheDir, os: os.id, packages, log });
  const b = await sandboxUp({ name: 'bench-bash', home, cacheDir, os: os.id, packages, log });
  pkgs = resolvedPackages();
  console.log(`fresh ${os.name} sandboxes booted (boot time not measured); measuring…`);
  const freshBash = secs(() => ssh(b, freshScript()));
  const freshTool = tool('bench-tool');
  const noopBash = median(
    Array.from({ length: rounds }, () =>
      secs(() => {
        const out = ssh(b, noopScript());
        if (!out.includes('unchanged') || out.includes('drift')) throw new Error(`baseline no-op saw drift: ${out}`);
      }),
    ),
  );
  const noopTool = median(Array.from({ length: rounds }, () => tool('bench-tool')));
  const noopFull = median(
    Array.from({ length: rounds }, () =>
      secs(() =>
        execFileSync(
          process.execPath,
          [
            join(ROOT, 'bin', 'ebpf-lab.js'),
            'up',
            '--target',
            'sandbox:bench-tool',
            '--skip',
            'ebpf-exporter',
            '--output',
            'plain',
          ],
          { env, stdio: 'ignore' },
        ),
      ),
    ),
  );
  const row = (what, a, base) =>
    `${what.padEnd(34)} ${a.toFixed(2).padStart(7)} s  ${base.toFixed(2).padStart(7)} s  ${(a / base).toFixed(2).padStart(6)}x`;
  console.log(`\n${'measurement'.padEnd(34)} ${'ebpf-lab'.padStart(9)}  ${'bash'.padStart(9)}  ${'ratio'.padStart(7)}`);
  console.log(`${os.name}, ${rounds} rounds`);
  console.log(row('fresh up (issue-2 steps)', freshTool, freshBash));
  console.log(row(`no-op up (median of ${rounds})`, noopTool, noopBash));
  console.log(`${'no-op up, all steps (median)'.padEnd(34)} ${noopFull.toFixed(2).padStart(7)} s`);
  console.log(`\nload average during the run: ${execFileSync('cat', ['/proc/loadavg'], { encoding: 'utf8' }).trim()}`);
} finally {
  await sandboxDown({ name: 'bench-tool', home }).catch(() => {});
  await sandboxDown({ name: 'bench-bash', home }).catch(() => {});
  rmSync(home, { recursive: true, force: true });
}
