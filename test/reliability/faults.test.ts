import { afterAll, describe, expect, it } from 'vitest';
import { changeList } from '../support/cli.js';
import { expectExit, labRun, leftoverTemps, onHost, useLab, type Lab } from '../support/fault.js';

/**
 * Faults beyond the named cut points (issue 14): odd files where managed files belong, an
 * interrupted BPF rebuild, a full disk under the run lock, Ctrl-C and SIGTERM. Each test
 * leaves the lab converged for the next.
 */
const lab: Lab = useLab();

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
