import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { changeList } from '../support/cli.js';
import {
  expectExit,
  fingerprint,
  inventory,
  labFacts,
  labRun,
  onHost,
  useLab,
  type Inventory,
  type Lab,
} from '../support/fault.js';

/**
 * Drift: every file, package and service the steps manage (the list comes from the steps'
 * own desired state, see inventory()) is changed by hand on the host, several independent
 * drifts per cycle: content edited, file deleted, mode changed, owner changed, service
 * stopped and disabled, package removed. `plan` must report exactly those drifts (plus the
 * restarts, reloads and rebuilds they imply, nothing else), `up` must make exactly the changes
 * plan showed, and a following `plan` shows nothing. The operator's own files, next to the
 * lab's and in the lab's own directories, survive every run byte for byte.
 */
const lab: Lab = useLab();
let inv: Inventory;
let files: string[] = [];
const OPERATOR: Record<string, string> = {
  '/var/www/html/mine.php': '<?php echo "operator";\n',
  '/etc/apache2/conf-available/mine.conf': '# operator conf\n',
  '/etc/prometheus/mine.yml': 'mine: true\n',
  '/opt/ebpf-lab/bt/mine.bt': '// operator tool\n',
  '/etc/systemd/system/apache2.service.d/mine.conf': '[Unit]\n# operator drop-in\n',
  '/opt/ebpf-lab/bpf-src/mine.h': '/* operator header */\n',
};
let operatorBefore = '';
/** A mode/owner drift restarts, reloads and rebuilds nothing. */
const metadataOnlyExtras: string[] = [];
/** Consequences a drift may imply besides itself. */
const CONSEQUENCE = /^\S+: (restart|reload|build) (unit|bpf):/;

async function cycle(drift: string, expected: string[]) {
  onHost(lab, `export DEBIAN_FRONTEND=noninteractive; set -e; ${drift}`);
  const plan = await labRun(lab, 'plan');
  expectExit(plan, 0, 'plan');
  const planned = changeList(plan.json);
  const direct = planned.filter((c) => !CONSEQUENCE.test(c));
  expect(direct.map((c) => c.replace(/^\S+: /, '')).sort()).toEqual([...expected].sort());
  const up = await labRun(lab, 'up');
  expectExit(up, 0, 'up');
  expect(changeList(up.json), 'up makes exactly the changes plan showed').toEqual(planned);
  expect(changeList((await labRun(lab, 'plan')).json), 'converged').toEqual([]);
  expect(fingerprint(lab, Object.keys(OPERATOR)), 'operator files untouched').toBe(operatorBefore);
  return planned;
}

describe('drift of everything the steps manage is planned and repaired exactly', () => {
  beforeAll(async () => {
    inv = await inventory(labFacts(lab));
    files = [...inv.files.keys()].sort();
    expect(files.length).toBeGreaterThan(20);
    expect(inv.packages.size).toBeGreaterThan(10);
    expect([...inv.services.keys()].sort()).toEqual([
      'apache2.service',
      'memcached.service',
      expect.stringMatching(/^php\d\.\d-fpm\.service$/),
      'prometheus.service',
    ]);
    onHost(
      lab,
      Object.entries(OPERATOR)
        .map(([p, c]) => `mkdir -p $(dirname ${p}) && printf '%s' '${c.replace(/'/g, `'\\''`)}' > ${p}`)
        .join('; '),
    );
    operatorBefore = fingerprint(lab, Object.keys(OPERATOR));
  });

  afterAll(() => {
    onHost(lab, `rm -f ${Object.keys(OPERATOR).join(' ')}; systemctl daemon-reload`);
  });

  it('every managed file edited (content) -> update each, and the restarts/reloads/rebuilds they imply', async () => {
    const planned = await cycle(
      files.map((f) => `echo >> ${f}`).join('; '),
      files.map((f) => `update file:${f}`),
    );
    expect(planned.filter((c) => CONSEQUENCE.test(c)).length).toBeGreaterThan(0);
  });

  it('every managed file deleted -> create each', async () => {
    await cycle(
      `rm ${files.join(' ')}`,
      files.map((f) => `create file:${f}`),
    );
  });

  it('every managed file chmod 600 -> chmod each, nothing else', async () => {
    const planned = await cycle(
      `chmod 600 ${files.join(' ')}`,
      files.map((f) => `chmod file:${f}`),
    );
    expect(planned.filter((c) => !/ (chmod|chown) file:/.test(c))).toEqual(metadataOnlyExtras);
  });

  it('every managed file chown nobody:nogroup -> chown each, nothing else', async () => {
    const planned = await cycle(
      `chown nobody:nogroup ${files.join(' ')}`,
      files.map((f) => `chown file:${f}`),
    );
    expect(planned.filter((c) => !/ (chmod|chown) file:/.test(c))).toEqual(metadataOnlyExtras);
  });

  it('every managed service stopped and disabled -> enable and start each', async () => {
    const units = [...inv.services.keys()];
    await cycle(
      units.map((u) => `systemctl disable --now ${u} 2>/dev/null`).join('; '),
      units.flatMap((u) => [`enable unit:${u}`, `start unit:${u}`]),
    );
    expect(onHost(lab, `systemctl is-active ${units.join(' ')} | sort -u`).trim()).toBe('active');
  });

  it('every managed package removed (dpkg --remove --force-depends) -> install each; the rest follows', async () => {
    // Only what this host's apt can install again: the sandbox's offline repository holds the
    // lab's packages but not those its base image came with (iproute2, say).
    const all = [...inv.packages.keys()];
    const fromRepo = new Set(
      onHost(lab, `apt-cache madison ${all.join(' ')} | cut -d'|' -f1`)
        .split('\n')
        .map((l) => l.trim()),
    );
    const pkgs = all.filter((p) => fromRepo.has(p));
    expect(pkgs.length).toBeGreaterThan(10);
    onHost(lab, `DEBIAN_FRONTEND=noninteractive dpkg --remove --force-depends ${pkgs.join(' ')} >/dev/null 2>&1`);
    const plan = await labRun(lab, 'plan');
    expectExit(plan, 0, 'plan');
    const apt = changeList(plan.json).filter((c) => / apt:/.test(c));
    expect(apt.map((c) => c.replace(/^\S+: /, '')).sort()).toEqual(pkgs.map((p) => `install apt:${p}`).sort());
    // Other steps wait for PHP (their plan says so); up does it all in one run.
    const up = await labRun(lab, 'up');
    expectExit(up, 0, 'up');
    expect(changeList(up.json).filter((c) => / apt:/.test(c))).toEqual(apt);
    expect(changeList((await labRun(lab, 'plan')).json)).toEqual([]);
    expect(fingerprint(lab, Object.keys(OPERATOR))).toBe(operatorBefore);
    const v = await labRun(lab, 'verify');
    expectExit(v, 0, 'verify after reinstalling everything');
  });
});
