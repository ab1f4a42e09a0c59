#!/usr/bin/env node
// npm run bench — `ebpf-lab` against a plain bash script doing the same work over one SSH
// session, measured side by side in the same run, printed per phase as the median, n, the
// spread (min–max) and the ratio to the bash baseline.
// Needs root and `npm run build` first.
// Usage: node scripts/bench.mjs [--rounds N] [--os ubuntu-22.04|ubuntu-24.04|…] [--startup-only]
//
// Phases:
// - start-up: `ebpf-lab --help` and `--version` against `node -e 0` (the issue-10 budget: at
//   most 0.1 s more); needs neither root nor a sandbox.
// - fresh up of the issue-2 steps (preflight, packages, php, dtrace, sample-app), each on a
//   fresh sandbox of --os (default Ubuntu 22.04, the workshop's OS); the bash script installs
//   the same packages and writes the same files from the same templates, finding the PHP
//   version on the host as a hand-written script for several OSes would.
// - no-op up of the issue-2 steps, against the bash script's checks of the same state on its
//   own sandbox; no-op up and plan of all steps, against a bash script checking on the same
//   converged sandbox what ebpf-lab's JSON said it manages: every file's sha256 (one
//   `sha256sum -c` against a manifest hashed once there, BPF objects included), mode and
//   owner, the packages (dpkg-query), the units (is-active, is-enabled), apache's modules and
//   confs, USE_ZEND_DTRACE=1 in apache2 and php-fpm, no pending restarts. Each phase's runs
//   and its baseline's alternate, round by round (a busy machine slows all alike), after one
//   untimed up of all steps. Every timed run is checked to have changed nothing (the bash
//   script too); ebpf-lab's JSON gives the round trips and each step's check time (medians).
// On this offline machine the ebpf-exporter step is skipped and Grafana's key cannot be
// fetched (the step skips itself; its failed lookup is in the figure).
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
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
const { MEMCACHED_PORT, BPF_OUT, PENDING_DIR } = await dist('src/lab/layout.js');

const arg = (name) => (process.argv.includes(name) ? process.argv[process.argv.indexOf(name) + 1] : undefined);
const rounds = Number(arg('--rounds') || 3) || 3;
const os = sandboxOs(arg('--os') ?? DEFAULT_SANDBOX_OS);
const home = mkdtempSync(join(tmpdir(), 'ebpf-lab-bench-'));
const cacheDir = process.env.EBPF_LAB_CACHE ?? '/var/tmp/ebpf-lab-cache';
const env = { ...process.env, EBPF_LAB_HOME: home, EBPF_LAB_CACHE: cacheDir };
const ONLY = 'preflight,packages,php,dtrace,sample-app';
const ALL = ['up', '--skip', 'ebpf-exporter'];
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
systemctl daemon-reload; systemctl restart apache2 php$v-fpm; systemctl enable -q apache2 php$v-fpm memcached
for u in / /fpm/; do curl -sf -o /dev/null http://127.0.0.1\${u}index.php; done
echo done`;

// No-op: the same state checked, nothing changed (the minimum a re-run must do).
// No-op: the same state checked, nothing changed (the minimum a re-run must do). `phpV` is the
// host's PHP version, found once after the fresh run (a hand-written script would hard-code
// it, or find it as findV does); the files' sha256 are of the wanted content, in one manifest.
const noopScript = (phpV) => {
  const at = (x) => x.replaceAll('__V__', phpV);
  const manifest = Object.entries(files)
    .map(([p, c]) => `${createHash('sha256').update(at(c)).digest('hex')}  ${at(p)}`)
    .join('\n');
  return `set -e
dpkg-query -W -f='\${db:Status-Abbrev}\\n' ${pkgs} | grep -vq '^ii' && echo drift-packages
sha256sum -c --quiet <<'EBPF_LAB_EOF' || echo drift-content
${manifest}
EBPF_LAB_EOF
systemctl is-active -q apache2 php${phpV}-fpm memcached || echo drift-services
systemctl is-enabled -q apache2 php${phpV}-fpm memcached || echo drift-enabled
ls /etc/apache2/mods-enabled/proxy_fcgi.load /etc/apache2/conf-enabled/ebpf-lab.conf >/dev/null
p=$(pgrep -o -x apache2); tr '\\0' '\\n' < /proc/$p/environ | grep -q USE_ZEND_DTRACE=1 || echo drift-env
echo unchanged`;
};

/**
 * What ebpf-lab's own JSON said it manages (the fresh up and the up of the other steps): the
 * files it wrote, the packages it installed, the units it enabled or started, apache's
 * modules and confs.
 */
function managed(runs) {
  const m = { files: new Set(), pkgs: new Set(), units: new Set(), mods: new Set(), confs: new Set() };
  for (const run of runs)
    for (const st of run.steps)
      for (const c of st.changes) {
        if (c.kind === 'file' && c.action !== 'delete') m.files.add(c.path);
        if (c.kind === 'package') m.pkgs.add(c.name);
        if (c.kind === 'unit' && (c.action === 'enable' || c.action === 'start')) m.units.add(c.unit);
        if (c.kind === 'apache-mod' && c.action === 'enable') m.mods.add(c.name);
        if (c.kind === 'apache-conf') m.confs.add(c.name);
      }
  return Object.fromEntries(Object.entries(m).map(([k, v]) => [k, [...v].sort()]));
}
const MANIFEST = '/root/.ebpf-lab-bench.sha256';
const META = '/root/.ebpf-lab-bench.meta';
/** Untimed, once on the converged host: the sha256 of every managed file and BPF object, and their mode and owner. */
const manifestScript = (m) => `set -e
sha256sum ${m.files.join(' ')} ${BPF_OUT}/*.bpf.o > ${MANIFEST}
stat -c '%n %a %U %G' ${m.files.join(' ')} > ${META}
echo ${m.files.length} files`;
/** No-op of all steps: the same state checked as ebpf-lab's checks do, in one SSH session. */
const noopAllScript = (m) => `set -e
sha256sum -c --quiet ${MANIFEST} || echo drift-content
[ "$(stat -c '%n %a %U %G' ${m.files.join(' ')})" = "$(cat ${META})" ] || echo drift-meta
dpkg-query -W -f='\${db:Status-Abbrev}\\n' ${m.pkgs.join(' ')} | grep -vq '^ii' && echo drift-packages
systemctl is-active -q ${m.units.join(' ')} || echo drift-services
systemctl is-enabled -q ${m.units.join(' ')} || echo drift-enabled
for x in ${m.mods.map((x) => `mods-enabled/${x}.load`).join(' ')} ${m.confs.map((x) => `conf-enabled/${x}.conf`).join(' ')}; do [ -e /etc/apache2/$x ] || echo drift-apache; done
p=$(pgrep -o -x apache2); tr '\\0' '\\n' < /proc/$p/environ | grep -q USE_ZEND_DTRACE=1 || echo drift-env
for u in ${m.units.filter((u) => /fpm/.test(u)).join(' ')}; do systemctl show -p Environment --value $u | grep -q USE_ZEND_DTRACE=1 || echo drift-env; done
[ -z "$(ls -A ${PENDING_DIR} 2>/dev/null)" ] || echo drift-pending
echo unchanged`;

/** One `ebpf-lab` run on sandbox `name`: its wall time and its JSON report (stdout). */
function tool(name, args) {
  let out = '';
  const t = secs(() => {
    out = execFileSync(
      process.execPath,
      [join(ROOT, 'bin', 'ebpf-lab.js'), ...args, '--target', `sandbox:${name}`, '--output', 'json'],
      { env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], maxBuffer: 64 << 20 },
    );
  });
  return { t, run: JSON.parse(out).runs[0] };
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
  const a = await sandboxUp({ name: 'bench-tool', home, cacheDir, os: os.id, packages, log });
  const b = await sandboxUp({ name: 'bench-bash', home, cacheDir, os: os.id, packages, log });
  pkgs = resolvedPackages();
  console.log(`fresh ${os.name} sandboxes booted (boot time not measured); measuring…`);
  const freshBash = secs(() => ssh(b, freshScript()));
  const fresh = tool('bench-tool', ['up', '--only', ONLY]);
  const freshTool = fresh.t;
  // The rest of the steps, once and untimed: the no-op rounds then start from a converged lab.
  const m = managed([fresh.run, tool('bench-tool', ALL).run]);
  const hashed = ssh(a, manifestScript(m)).trim();
  const phpV = ssh(b, `${findV}; echo $v`).trim();
  // The services the steps manage (the packages enable them, so the JSON need not name them).
  m.units = [
    ...new Set([...m.units, 'apache2.service', `php${phpV}-fpm.service`, 'memcached.service', 'prometheus.service']),
  ];
  console.log(`bash baseline of all steps: ${hashed}, ${m.pkgs.length} packages, ${m.units.join(' ')}`);
  const noop = (info, script) => () => {
    const out = ssh(info, script);
    if (!out.includes('unchanged') || out.includes('drift')) throw new Error(`baseline no-op saw drift: ${out}`);
  };
  const phases = {
    'no-op up, issue-2 steps': {
      args: ['up', '--only', ONLY],
      t: [],
      runs: [],
      bash: [],
      base: noop(b, noopScript(phpV)),
    },
    'no-op up, all steps': { args: ALL, t: [], runs: [], bash: [], base: noop(a, noopAllScript(m)) },
    'plan, all steps': { args: ['plan', ...ALL.slice(1)], t: [], runs: [], bash: [], base: noop(a, noopAllScript(m)) },
  };
  for (let i = 0; i < rounds; i++) {
    for (const [what, ph] of Object.entries(phases)) {
      ph.bash.push(secs(ph.base));
      const { t, run } = tool('bench-tool', ph.args);
      const moved = run.steps.filter((st) => !['unchanged', 'skipped'].includes(st.status));
      if (!run.ok || moved.length)
        throw new Error(`${what} was not a no-op: ${moved.map((st) => `${st.id} ${st.status}`).join(', ')}`);
      ph.t.push(t);
      ph.runs.push(run);
    }
  }
  const f2 = (x) => x.toFixed(2);
  const stat = (xs) =>
    `${f2(median(xs)).padStart(6)} s  ${String(xs.length).padStart(2)}  ${f2(Math.min(...xs))}–${f2(Math.max(...xs))} s`;
  console.log(`\n${os.name}, ${rounds} rounds`);
  console.log(
    `${'phase'.padEnd(26)} ${'ebpf-lab: median  n  spread'.padEnd(32)} ${'bash: median  n  spread'.padEnd(30)} ratio`,
  );
  const line = (what, t, base) =>
    console.log(
      `${what.padEnd(26)} ${stat(t).padEnd(32)} ${(base ? stat(base) : '—').padEnd(30)} ${base ? `${(median(t) / median(base)).toFixed(2)}x` : '—'}`,
    );
  line('fresh up, issue-2 steps', [freshTool], [freshBash]);
  for (const [what, ph] of Object.entries(phases)) line(what, ph.t, ph.bash);
  // Round trips and per-step check times, where the run's JSON reports them.
  if (Object.values(phases).some((ph) => ph.runs.some((r) => r.roundTrips !== undefined))) {
    console.log('\nfrom the JSON of the timed runs (medians):');
    for (const [what, ph] of Object.entries(phases)) {
      const snap = ph.runs.map((r) => r.snapshot);
      console.log(
        `  ${what}: ${median(ph.runs.map((r) => r.roundTrips ?? 0))} round trips in all, the snapshot ${median(snap.map((x) => x?.roundTrips ?? 0))} ` +
          `(${median(snap.map((x) => x?.steps ?? 0))} steps' checks, ${median(snap.map((x) => x?.ms ?? 0))} ms)`,
      );
      const ids = ph.runs[0].steps.map((st) => st.id);
      console.log(
        `    check ms: ${ids.map((id) => `${id} ${median(ph.runs.map((r) => r.steps.find((st) => st.id === id)?.checkMs ?? 0))}`).join(', ')}`,
      );
    }
  }
  console.log(`\nload average during the run: ${execFileSync('cat', ['/proc/loadavg'], { encoding: 'utf8' }).trim()}`);
} finally {
  await sandboxDown({ name: 'bench-tool', home }).catch(() => {});
  await sandboxDown({ name: 'bench-bash', home }).catch(() => {});
  rmSync(home, { recursive: true, force: true });
}
