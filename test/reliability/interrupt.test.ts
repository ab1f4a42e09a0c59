import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeFileSync } from 'node:fs';
import { changeList } from '../support/cli.js';
import {
  emptyOrMissing,
  expectExit,
  inventory,
  labFacts,
  labRun,
  leftoverTemps,
  onHost,
  useLab,
  type Lab,
} from '../support/fault.js';

/**
 * Interruption: `up` is killed (SIGKILL, EBPF_LAB_FAULT_MODE=kill) or its ssh connection is
 * cut (socket destroyed, mode=cut), alternately, at every step boundary and in the middle of each step's
 * apply (during apt-get install, between writing a config and restarting or reloading its
 * service, half way through an upload). Before each cut a small drift makes that step do
 * work. After each cut: the crashed run's lock owner record is still there (the lock itself
 * died with the run's connection); the next `up` converges and says whose lock it took over;
 * `plan` then shows zero changes (every managed file has the sha256, mode and owner the
 * steps want: none empty, truncated or half-written; a third `up` would be a no-op); no
 * pending restart is left; no put temp file is left anywhere (put removes its temp file on
 * every failure, signals included); the step's own `verify` passes.
 */
const lab: Lab = useLab();
const DROPIN = (u: string) => `/etc/systemd/system/${u}.d/ebpf-lab-dtrace.conf`;
const BPF_SRC = '/opt/ebpf-lab/bpf-src/php_request.bpf.c';
const PROM = '/etc/prometheus/prometheus.yml';

interface Cut {
  point: string;
  /** Step whose work is interrupted (its verify runs after recovery). */
  step: string;
  /** Drift made by hand before the faulted run, so the step has work to do. */
  drift?: string;
  /** Options that flip: the faulted run and the recovery use the flipped value. */
  flip?: 'opcache' | 'dtrace';
  /** Options set for this cut and the ones after it. */
  set?: Partial<typeof state>;
  /** Both modes here, not the alternating one: dpkg under a kill and under a cut differ most. */
  both?: true;
}

let fpm = 'php8.2-fpm.service';
const state = { opcache: false, dtrace: true };
const CUTS = (): Cut[] => [
  { point: 'step:preflight:before-apply', step: 'preflight', drift: 'rm /etc/apt/apt.conf.d/90ebpf-lab' },
  { point: 'step:preflight:after-apply', step: 'preflight', drift: 'rm /etc/apt/apt.conf.d/90ebpf-lab' },
  { point: 'step:packages:before-apply', step: 'packages', drift: 'apt-get remove -y -q jq' },
  { point: 'apt:mid-install', step: 'packages', drift: 'apt-get remove -y -q jq make', both: true },
  { point: 'step:packages:after-apply', step: 'packages', drift: 'apt-get remove -y -q jq' },
  { point: 'step:php:before-apply', step: 'php', flip: 'opcache' },
  { point: 'unit:apache2.service:before-restart', step: 'php', flip: 'opcache' },
  { point: `unit:${fpm}:before-restart`, step: 'php', flip: 'opcache' },
  {
    point: 'unit:apache2.service:before-reload',
    step: 'php',
    drift: 'echo >> /etc/apache2/conf-available/ebpf-lab.conf',
  },
  { point: 'step:php:after-apply', step: 'php', flip: 'opcache' },
  { point: 'step:dtrace:before-apply', step: 'dtrace', flip: 'dtrace' },
  {
    point: `put:${DROPIN('apache2.service')}:mid-upload`,
    step: 'dtrace',
    set: { dtrace: true },
    drift: `rm -f ${DROPIN('apache2.service')} ${DROPIN(fpm)}`,
  },
  { point: `unit:${fpm}:before-restart`, step: 'dtrace', set: { dtrace: true }, drift: `echo >> ${DROPIN(fpm)}` },
  { point: 'step:dtrace:after-apply', step: 'dtrace', flip: 'dtrace' },
  { point: 'step:sample-app:before-apply', step: 'sample-app', drift: 'rm /var/www/html/path1/a.php' },
  {
    point: 'put:/var/www/html/index.php:mid-upload',
    step: 'sample-app',
    drift: 'echo "<?php // drift" >> /var/www/html/index.php',
  },
  { point: 'step:sample-app:after-apply', step: 'sample-app', drift: 'chmod 600 /var/www/html/mem.php' },
  { point: 'step:bpf-programs:before-apply', step: 'bpf-programs', drift: `echo '// drift' >> ${BPF_SRC}` },
  { point: `put:${BPF_SRC}:mid-upload`, step: 'bpf-programs', drift: `echo '// drift' >> ${BPF_SRC}` },
  { point: 'step:bpf-programs:after-apply', step: 'bpf-programs', drift: 'rm /opt/ebpf-lab/bpf/php_compile.bpf.o' },
  { point: 'step:prometheus:before-apply', step: 'prometheus', drift: `echo '# drift' >> ${PROM}` },
  { point: `put:${PROM}:mid-upload`, step: 'prometheus', drift: `echo '# drift' >> ${PROM}` },
  { point: 'unit:prometheus.service:before-reload', step: 'prometheus', drift: `echo '# drift' >> ${PROM}` },
  { point: 'step:prometheus:after-apply', step: 'prometheus', drift: 'systemctl stop prometheus' },
  { point: 'step:bt-tools:before-apply', step: 'bt-tools', drift: 'rm /opt/ebpf-lab/bt/README' },
  { point: 'step:bt-tools:after-apply', step: 'bt-tools', drift: 'chmod 644 /opt/ebpf-lab/bt/php-exceptions.bt' },
];

const tally = { tried: 0, recovered: 0, failures: [] as string[] };
let managed: string[] = [];

describe('interruption: kill or cut at every step boundary and mid-apply, then up converges', () => {
  beforeAll(async () => {
    const facts = labFacts(lab);
    fpm = facts.php?.fpmUnit ?? fpm;
    managed = [...(await inventory(facts)).files.keys()];
    expect(managed.length).toBeGreaterThan(20);
  });

  afterAll(async () => {
    // Leave the lab converged with the default options for the next file.
    const r = await labRun(lab, 'up');
    expectExit(r, 0, 'final up');
    if (process.env['EBPF_LAB_REPORT'])
      writeFileSync(process.env['EBPF_LAB_REPORT'] + '.interrupt.json', JSON.stringify(tally, null, 2));
    console.log(`interrupt: cut points tried ${tally.tried}, recovered ${tally.recovered}`);
  });

  // Each point once, the two modes alternating down the list, so that both a SIGKILL and a
  // cut connection meet a step boundary, an apt install, a restart or reload, and an upload
  // (every point twice took 10 minutes of CI for little more).
  for (const [i, c] of CUTS().entries())
    for (const mode of c.both ? (['kill', 'cut'] as const) : [i % 2 === 0 ? ('kill' as const) : ('cut' as const)])
      it(`${mode} at ${c.point}`, async () => {
        const cut = CUTS()[i]!; // fpm unit name resolved from facts
        tally.tried++;
        if (cut.drift) onHost(lab, `export DEBIAN_FRONTEND=noninteractive; ( ${cut.drift} ) >/dev/null 2>&1`);
        if (cut.flip) state[cut.flip] = !state[cut.flip];
        Object.assign(state, cut.set);
        const opts = ['--opcache', state.opcache ? 'on' : 'off', '--dtrace', state.dtrace ? 'on' : 'off'];

        const faulted = await labRun(lab, 'up', opts, { EBPF_LAB_FAULT: cut.point, EBPF_LAB_FAULT_MODE: mode });
        // The fault really fired at that point (else this cycle proves nothing).
        expect(faulted.stderr, faulted.stdout.slice(-3000)).toContain(`fault injected at ${cut.point} (${mode})`);
        expect(faulted.code).not.toBe(0);
        if (mode === 'cut') expect(faulted.json?.ok, 'a cut run reports failure in its JSON').toBe(false);
        // The crashed run could not release its host lock: its owner record is still there
        // (the lock itself went with the run's connection: the next run need not wait).
        expect(onHost(lab, 'test -s /var/lib/ebpf-lab/run.owner && echo left').trim()).toBe('left');

        const again = await labRun(lab, 'up', opts);
        expectExit(again, 0, `recovery after ${mode} at ${cut.point}:`);
        expect(again.json.notes.join('\n')).toMatch(/took over the run lock of a run that ended without releasing it/);
        const plan = await labRun(lab, 'plan', opts);
        expectExit(plan, 0, 'plan');
        expect(changeList(plan.json), 'zero changes after recovery').toEqual([]);
        expect(
          emptyOrMissing(
            lab,
            managed.filter((p) => state.dtrace || !p.includes('ebpf-lab-dtrace')),
          ),
        ).toEqual([]);
        expect(leftoverTemps(lab)).toEqual([]);
        expect(
          onHost(lab, 'ls -A /var/lib/ebpf-lab/pending; test ! -e /var/lib/ebpf-lab/run.owner && echo unlocked').trim(),
        ).toBe('unlocked');
        const v = await labRun(lab, 'verify', [...opts, '--only', cut.step]);
        const bad = v.json.runs[0].steps
          .flatMap((s: { evidence: { ok: boolean; skipped?: boolean; what: string }[] }) => s.evidence)
          .filter((e: { ok: boolean; skipped?: boolean }) => !e.ok && !e.skipped);
        expect(bad, `verify --only ${cut.step}`).toEqual([]);
        tally.recovered++;
      });
});
