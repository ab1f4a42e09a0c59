import { afterAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { changeList, cli, cliChild, type CliResult } from '../support/cli.js';
import { expectExit, inventory, labFacts, onHost, SKIP, useLab, waitFor, type Lab } from '../support/fault.js';
import { STEPS } from '../../steps/index.js';

/**
 * SIGKILL at random moments, not only at named points (issue 14): ONE fresh sandbox lab takes
 * ten kills in sequence while its first `up` runs (each recovery run is itself killed): while its
 * root filesystem is copied, while it boots, then at a random delay into each stretch of the
 * up: the first checks, early and late in the apt-get install, in php, in dtrace, twice in the
 * BPF build, in prometheus. A stretch is recognised from the run's own plain output (the step it
 * applies), so the kills land across the whole up on a fast or a slow machine alike, and the
 * last run still has work to do. After each kill no process of the killed run is left writing on
 * this machine. Then an `up` runs to its end, and the lab is checked: plan shows 0 changes,
 * verify passes, and every managed file has the sha256, mode and owner it has on the shared,
 * cleanly built lab. Last, down removes the sandbox and the lab's secret.
 */
const clean: Lab = useLab();
const NAME = 'rk';
const TARGET = `sandbox:${NAME}`;
const home = mkdtempSync(join(tmpdir(), 'ebpf-lab-rk-'));
const env = { EBPF_LAB_HOME: home };
const dir = join(home, 'sandboxes', NAME);
const report: { moment: string; lastLine: string }[] = [];

afterAll(async () => {
  if (process.env['EBPF_LAB_REPORT'])
    writeFileSync(process.env['EBPF_LAB_REPORT'] + '.random-kill.json', JSON.stringify(report, null, 2));
  const down = await cli(['down', '--target', TARGET], env);
  // Never remove files under a container that might still run: a failed down leaves the home.
  if (down.code === 0) rmSync(home, { recursive: true, force: true });
  else console.error(`random-kill: down failed, ${home} kept:\n${down.stderr}`);
}, 300_000);

/** Live (not zombie) processes on this machine whose argv mentions this lab's sandbox dir, except its daemons. */
function leftovers(): string[] {
  const sb = existsSync(join(dir, 'sandbox.json')) ? JSON.parse(readFileSync(join(dir, 'sandbox.json'), 'utf8')) : {};
  const daemons = new Set([sb.nspawnPid, sb.forwarderPid].filter(Boolean).map(String));
  const out: string[] = [];
  for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p) && !daemons.has(p))) {
    try {
      const argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ');
      const state = readFileSync(`/proc/${pid}/stat`, 'utf8').replace(/^.*\) /, '')[0];
      if (argv.includes(dir) && state !== 'Z' && !argv.includes('systemd-nspawn') && !argv.includes('socat'))
        out.push(`${pid} ${argv}`);
    } catch {
      // gone
    }
  }
  return out;
}

const up = () => cliChild(['up', '--target', TARGET, '--skip', SKIP, '--output', 'plain'], env);
const lastLine = (r: CliResult) =>
  (r.stdout + r.stderr)
    .split('\n')
    .filter((l) => l.trim())
    .at(-1) ?? '(no output yet)';
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** The steps this up runs, in order. */
const ORDER = STEPS.map((st) => st.id).filter((id) => !SKIP.split(',').includes(id));
const applying = (out: string) => [...out.matchAll(/^ {2}(\S+): applying$/gm)].map((m) => ORDER.indexOf(m[1]!));

interface Kill {
  moment: string;
  /** The run has reached the stretch (from its output so far, or the sandbox dir). */
  ready: (out: string) => boolean;
  /** Then a random delay within [min, max] seconds. */
  delay: [number, number];
  /** The step it aims at (work is made there first: see giveWork). */
  step?: string;
}
const atStep = (id: string, delay: [number, number]): Kill => ({
  moment: `${delay[0]}-${delay[1]} s into ${id}'s apply (or the first step after it with work)`,
  ready: (out) => applying(out).some((i) => i >= ORDER.indexOf(id)),
  delay,
  step: id,
});
// Delays are kept within what each stretch takes even on a fast machine, so every kill leaves
// work for the next run: apt-get install is long, a step's apply after it is short.
const KILLS: Kill[] = [
  { moment: 'while the root filesystem is copied', ready: () => existsSync(join(dir, 'rootfs.tmp')), delay: [0, 0] },
  { moment: 'while the sandbox boots', ready: (out) => /booting sandbox rk/.test(out), delay: [0, 3] },
  { moment: 'in the first checks', ready: (out) => /^up on /m.test(out), delay: [0, 2] },
  atStep('packages', [0, 5]),
  atStep('packages', [5, 20]),
  atStep('php', [0, 1]),
  atStep('dtrace', [0, 0.5]),
  atStep('bpf-programs', [0, 2]),
  atStep('bpf-programs', [0, 1]),
  atStep('prometheus', [0, 0.3]),
];

/**
 * Work for a kill's stretch: a run is fast once most of the lab is in place, and an earlier
 * run may already have done the steps a kill aims at (the run would end before the kill). So
 * before a kill at a step, one managed file of that step and of each step after it is removed
 * (a BPF source, so the programs are rebuilt; a Prometheus config, so it is rewritten and
 * reloaded…): the killed run has work from that step to its end, as on a fresh lab.
 */
let owned: [string, string][] | undefined;
async function giveWork(from: string): Promise<void> {
  owned ??= [...(await inventory(labFacts(clean))).files].filter(([p]) => !/php\d|\/\d+\.\d+\//.test(p));
  const steps = ORDER.slice(ORDER.indexOf(from));
  const paths = steps.map((id) => owned!.find(([, s]) => s === id)?.[0]).filter((p): p is string => !!p);
  if (!paths.length) return;
  expectExit(await cli(['ssh', '--target', TARGET, '--', 'rm', '-f', ...paths], env), 0, 'removing files');
}

async function kill(k: Kill): Promise<void> {
  if (k.step) await giveWork(k.step);
  const run = up();
  let out = '';
  // The last step's apply is the run's last stretch: a kill whose delay would outlast the run
  // (a fast machine, a warm cache) lands there instead, the moment it starts.
  let lastStretch = () => {};
  const atLast = new Promise<void>((r) => (lastStretch = r));
  const last = new RegExp(`^ {2}${ORDER.at(-1)}: applying$`, 'm');
  const take = (d: Buffer) => {
    out += d;
    if (last.test(out)) lastStretch();
  };
  run.child.stdout!.on('data', take);
  run.child.stderr!.on('data', take);
  let ended = false;
  void run.result.then(() => (ended = true));
  expect(await waitFor(() => ended || k.ready(out), 600_000), `${k.moment}: reached`).toBe(true);
  const wait = k.delay[0] + Math.random() * (k.delay[1] - k.delay[0]);
  await Promise.race([sleep(wait * 1000), atLast]);
  run.child.kill('SIGKILL');
  const r = await run.result;
  expect(
    r.code,
    `${k.moment}: the run was still going when killed\n${r.stdout.slice(-1500)}\n${r.stderr.slice(-1500)}`,
  ).toBe(137);
  report.push({ moment: `${k.moment} (+${wait.toFixed(1)} s)`, lastLine: lastLine(r) });
  // Nothing the killed run started on this machine outlives it (a `cp` into the sandbox dir, say).
  expect(
    await waitFor(() => leftovers().length === 0, 3000),
    `${k.moment}: left running: ${leftovers().join('; ')}`,
  ).toBe(true);
}

describe('random kills: one fresh lab, 10 SIGKILLs across its first up, then it converges', () => {
  it('recovers from every kill; then plan is empty, verify passes, files equal a clean lab', async () => {
    for (const k of KILLS) await kill(k);
    console.log('random kills:\n' + report.map((r) => `  ${r.moment}: ${r.lastLine}`).join('\n'));
    expect(report).toHaveLength(10);

    // 3. The run that is not killed converges the lab.
    const last = await up().result;
    expectExit(last, 0, 'the final up');
    const plan = await cli(['plan', '--target', TARGET, '--skip', SKIP, '--output', 'json'], env);
    expectExit(plan, 0, 'plan');
    expect(changeList(plan.json), 'zero changes').toEqual([]);
    const verify = await cli(['verify', '--target', TARGET, '--skip', SKIP, '--output', 'json'], env);
    const bad = verify.json.runs[0].steps
      .flatMap((s: { id: string; evidence: { ok: boolean; skipped?: boolean; what: string }[] }) =>
        s.evidence.map((e) => ({ ...e, step: s.id })),
      )
      .filter((e: { ok: boolean; skipped?: boolean }) => !e.ok && !e.skipped);
    expect(bad, 'verify').toEqual([]);
    expectExit(verify, 0, 'verify');
    // Every managed file as on the clean lab: sha256, mode, owner (mtimes differ, naturally).
    const files = [...(await inventory(labFacts(clean))).files.keys()];
    const sb = JSON.parse(readFileSync(join(dir, 'sandbox.json'), 'utf8'));
    const kh = join(home, 'test_known_hosts');
    writeFileSync(kh, (sb.hostKeys as string[]).map((k) => `[127.0.0.1]:${sb.port} ${k}\n`).join(''));
    const script = files
      .map(
        (p) =>
          `if [ -f '${p}' ]; then echo "$(sha256sum < '${p}' | cut -c1-64) $(stat -c '%a %U %G' '${p}') ${p}"; else echo "absent ${p}"; fi`,
      )
      .join('\n');
    const mine = execFileSync(
      'ssh',
      [
        '-i',
        sb.keyPath,
        '-p',
        String(sb.port),
        '-o',
        `UserKnownHostsFile=${kh}`,
        '-o',
        'BatchMode=yes',
        'root@127.0.0.1',
        script,
      ],
      { encoding: 'utf8' },
    );
    expect(mine.split('\n')).toEqual(onHost(clean, script).split('\n'));
    expect(files.length).toBeGreaterThan(20);

    // 4. down removes the sandbox and the lab's secret (its Grafana password) with it.
    process.env['EBPF_LAB_HOME'] = home;
    const { labSecret, secretPath } = await import('../../src/secrets.js');
    await labSecret(TARGET, 'grafana');
    expectExit(await cli(['down', '--target', TARGET], env), 0, 'down');
    expect(existsSync(secretPath(TARGET, 'grafana')), 'the secret went with the lab').toBe(false);
    expect(existsSync(dir)).toBe(false);
  });
});
