import { afterAll, describe, expect, it } from 'vitest';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { changeList, cli, cliChild } from '../support/cli.js';
import {
  expectExit,
  labChild,
  labRun,
  leftoverTemps,
  onHost,
  onHostRc,
  TARGET,
  useLab,
  waitFor,
  type Lab,
} from '../support/fault.js';

/**
 * Faults beyond the named cut points (issue 14): odd files where managed files belong, an
 * interrupted BPF rebuild, a full disk under the run lock, Ctrl-C and SIGTERM. Each test
 * leaves the lab converged for the next.
 */
const lab: Lab = useLab();
const BPF = '/opt/ebpf-lab/bpf';
const BPF_SRC = '/opt/ebpf-lab/bpf-src';

/** The failed step's error in a JSON run. */
const failure = (json: any): string =>
  json?.runs?.[0]?.steps?.find((s: { status: string }) => s.status === 'failed')?.error ?? '(no failed step)';

async function converged(what: string): Promise<void> {
  const up = await labRun(lab, 'up');
  expectExit(up, 0, `${what}: up`);
  const plan = await labRun(lab, 'plan');
  expectExit(plan, 0, `${what}: plan`);
  expect(changeList(plan.json), `${what}: zero changes`).toEqual([]);
}

afterAll(() => converged('after faults.test.ts'));

/** Drifts a BPF source, starts an `up` and returns it once its rebuild (make -B) runs on the lab. */
async function upRebuilding(source: string): Promise<ReturnType<typeof labChild>> {
  onHost(lab, `echo '// drift' >> ${BPF_SRC}/${source}`);
  const run = labChild(lab, 'up');
  const building = () => onHostRc(lab, `pgrep -f '[m]ake -B -C ${BPF_SRC}'`).code === 0;
  expect(await waitFor(building, 300_000), 'the rebuild started').toBe(true);
  return run;
}

describe('a directory where a managed file belongs', () => {
  it.each(['/var/www/html/phpinfo.php', '/etc/prometheus/prometheus.yml'])(
    '%s: plan and up name the path and the fix; no temp file anywhere, the directory untouched',
    async (path) => {
      onHost(lab, `rm -f ${path} && mkdir ${path} && echo mine > ${path}/keep`);
      try {
        for (const mode of ['plan', 'up', 'up'] as const) {
          const r = await labRun(lab, mode);
          expect(r.code, `${mode}: ${r.stdout.slice(-2000)}`).toBe(1);
          expect(failure(r.json)).toContain(
            `${path} on the host is a directory, where ebpf-lab manages a regular file`,
          );
          expect(failure(r.json)).toMatch(/move it out of the way \(e\.g\. mv \S+ \/root\/\)/);
        }
        // Temp files used to be renamed INTO the directory, one per run (and apache served them).
        expect(leftoverTemps(lab)).toEqual([]);
        expect(onHost(lab, `ls -A ${path}; ls -A ${path.replace(/[^/]*$/, '')} | grep -c ebpf-lab-tmp || true`)).toBe(
          'keep\n0\n',
        );
      } finally {
        onHost(lab, `rm -rf ${path}`);
      }
      await converged(`after ${path} was a directory`);
    },
  );
});

describe('BPF objects: the check compares what is on the host with what the current inputs build', () => {
  const objSha = (n: string) => onHost(lab, `sha256sum < ${BPF}/${n}.bpf.o | cut -c1-64`).trim();
  const buildPlanned = (json: any) => changeList(json).filter((c) => c.startsWith('bpf-programs: build '));

  it('an object replaced by one built from other source (and newer than its sources) is rebuilt', async () => {
    const clean = objSha('php_request');
    onHost(lab, `cp ${BPF}/php_compile.bpf.o ${BPF}/php_request.bpf.o && touch ${BPF}/php_request.bpf.o`);
    const plan = await labRun(lab, 'plan');
    expect(buildPlanned(plan.json), 'plan sees the foreign object').toHaveLength(1);
    expect(JSON.stringify(plan.json)).toMatch(/objects differ from what the last finished build made: php_request/);
    const up = await labRun(lab, 'up');
    expectExit(up, 0, 'up');
    // make -B: rebuilt although its mtime was newer than every source; the build is reproducible.
    expect(objSha('php_request')).toBe(clean);
    expect(changeList((await labRun(lab, 'plan')).json)).toEqual([]);
  });

  it('a rebuild that did not finish (run killed, build killed) is visible to the next plan', async () => {
    const run = await upRebuilding('php_request.bpf.c');
    run.child.kill('SIGKILL');
    // The host's build dies too (a reboot, an OOM kill): only the lab's own processes, by pid.
    onHost(lab, `kill -9 $(pgrep -f '[m]ake -B -C ${BPF_SRC}') $(pgrep -x clang) 2>/dev/null; true`);
    await run.result;
    const plan = await labRun(lab, 'plan');
    expect(buildPlanned(plan.json), 'plan shows the unfinished build').toHaveLength(1);
    expect(JSON.stringify(plan.json)).toMatch(/no record of a finished build|objects missing/);
    const up = await labRun(lab, 'up');
    expectExit(up, 0, 'recovery');
    expect(changeList((await labRun(lab, 'plan')).json)).toEqual([]);
    const v = await labRun(lab, 'verify', ['--only', 'bpf-programs']);
    expectExit(v, 0, 'verify --only bpf-programs');
  });
});

describe('Ctrl-C and SIGTERM: say what was interrupted and the host state, release the lock, exit 130/143', () => {
  const owner = () => onHost(lab, 'cat /var/lib/ebpf-lab/run.owner 2>/dev/null; true').trim();

  it('SIGINT while apt-get installs: dpkg is let finish, the lock is released, exit 130', async () => {
    // A slow apt (3 s before dpkg starts) so the signal surely lands while apt-get runs.
    const slow = '/etc/apt/apt.conf.d/00ebpf-lab-test-slow';
    onHost(
      lab,
      `DEBIAN_FRONTEND=noninteractive apt-get remove -y -q jq >/dev/null 2>&1; echo 'DPkg::Pre-Invoke {"sleep 3";};' > ${slow}`,
    );
    const run = labChild(lab, 'up');
    const installing = () => onHostRc(lab, "pgrep -f '^apt-get .*install .*jq'").code === 0;
    expect(await waitFor(installing, 300_000), 'apt-get install started').toBe(true);
    run.child.kill('SIGINT');
    const r = await run.result;
    onHost(lab, `rm -f ${slow}`);
    expect(r.code, r.stderr).toBe(130);
    expect(owner(), 'the lock was released').toBe('');
    expect(r.stderr).toMatch(/interrupted by SIGINT in step packages \(applying its changes\)/);
    expect(r.stderr).toMatch(/apt-get\/dpkg is installing packages on .*: waiting for it to finish/);
    expect(r.stderr).toMatch(/apt-get finished on /);
    expect(r.stderr).toMatch(
      /state of .*: finished: preflight \(unchanged\); interrupted: packages .*; not started: php, /,
    );
    expect(r.stderr).toMatch(/run `ebpf-lab up` again to finish/);
    expect(r.stderr).toMatch(/the host run lock was released/);
    // dpkg was not cut: nothing half-configured, nothing still running, jq installed.
    expect(
      onHost(lab, "dpkg --audit; pgrep -x dpkg; pgrep -x apt-get; dpkg-query -W -f='${db:Status-Abbrev}' jq").trim(),
    ).toBe('ii');
    await converged('after SIGINT during apt-get');
  });

  it('SIGTERM during the BPF rebuild: exit 143, the step and the steps not started are named, the lock is released', async () => {
    const run = await upRebuilding('php_compile.bpf.c');
    run.child.kill('SIGTERM');
    const r = await run.result;
    expect(r.code, r.stderr).toBe(143);
    expect(owner(), 'the lock was released').toBe('');
    expect(r.stderr).toMatch(/interrupted by SIGTERM in step bpf-programs \(applying its changes\)/);
    expect(r.stderr).toMatch(/interrupted: bpf-programs \(its changes may be partly made\); not started: prometheus/);
    expect(r.stderr).not.toMatch(/internal error|\n\s+at /);
    await converged('after SIGTERM during the BPF rebuild');
  });
});

describe('full disk: "no space left on <host>:<mount>, N bytes free" at once, exit 1, nothing left behind', () => {
  it('on the lab host, under the run lock (/var/lib/ebpf-lab)', async () => {
    const d = '/var/lib/ebpf-lab';
    onHost(
      lab,
      `set -e; rm -rf /root/keep; cp -a ${d} /root/keep; mount -t tmpfs -o size=256k none ${d}; cp -a /root/keep/. ${d}/; rm -rf /root/keep; ` +
        `dd if=/dev/zero of=${d}/.fill bs=4k count=1000 2>/dev/null || true`,
    );
    try {
      const before = onHost(lab, `ls -A ${d}`);
      const r = await labRun(lab, 'up');
      expect(r.code, r.stderr).toBe(1);
      expect(r.stderr).toMatch(
        new RegExp(`^error: no space left on root@127\\.0\\.0\\.1:${lab.port}:${d}, 0 bytes free`, 'm'),
      );
      expect(r.stderr).toMatch(/^hint: free space on \/var\/lib\/ebpf-lab of /m);
      expect(r.stderr).not.toMatch(/internal error|another ebpf-lab run|\n\s+at /);
      expect(r.ms, 'at once, not after waiting for a lock').toBeLessThan(60_000);
      expect(onHost(lab, `ls -A ${d}`), 'nothing left behind').toBe(before);
    } finally {
      onHost(lab, `umount ${d}`);
    }
  });

  it('on this machine, where EBPF_LAB_HOME is', async () => {
    const home = mkdtempSync(join(tmpdir(), 'ebpf-lab-full-'));
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=64k', 'none', home]);
    try {
      // The lab's pinned host key is there already: the run reaches the host, then cannot record the lab.
      writeFileSync(join(home, 'known_hosts'), readFileSync(join(lab.home, 'test_known_hosts')));
      spawnSync('dd', ['if=/dev/zero', `of=${join(home, 'fill')}`, 'bs=4k', 'count=100']);
      const before = readdirSync(home).sort();
      const r = await cli(
        ['up', '--target', `ssh://root@127.0.0.1:${lab.port}`, '--key', lab.key, '--only', 'preflight'],
        { EBPF_LAB_HOME: home },
      );
      expect(r.code, r.stderr).toBe(1);
      expect(r.stderr).toMatch(new RegExp(`^error: no space left on local:${home}, 0 bytes free`, 'm'));
      expect(r.stderr).toMatch(/^hint: free space on /m);
      expect(r.stderr).not.toMatch(/internal error|\n\s+at /);
      expect(readdirSync(home).sort(), 'no temp or empty file left').toEqual(before);
    } finally {
      execFileSync('umount', [home]);
      rmSync(home, { recursive: true, force: true });
    }
  });
});

describe('`up` and `load` on one lab', () => {
  it('up waits for a running load instead of restarting apache2 and php-fpm under it; the load sees no error', async () => {
    const dropin = '/etc/systemd/system/apache2.service.d/ebpf-lab-dtrace.conf';
    onHost(lab, `rm ${dropin}`); // up will rewrite it and restart apache2
    const load = cliChild(
      ['load', '--target', TARGET, '--rate', '20', '--duration', '40s', '--output', 'json'],
      lab.env,
    );
    const owner = () => onHost(lab, 'cat /var/lib/ebpf-lab/run.owner 2>/dev/null; true');
    expect(await waitFor(() => owner().includes('(load until '), 120_000), 'the load holds the lab').toBe(true);
    const u = await labRun(lab, 'up');
    const l = await load.result;
    expect(l.code, l.stdout + l.stderr).toBe(0);
    expect(l.json).toMatchObject({ errors: 0, failed: 0 });
    expectExit(u, 0, 'up');
    expect(u.json.notes.join('\n')).toMatch(/waiting for another ebpf-lab run on .*\(load until /);
    expect(changeList(u.json)).toEqual(expect.arrayContaining([`dtrace: create file:${dropin}`]));
  });
});
