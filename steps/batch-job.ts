import { applyDesired, checkDesired, type Desired } from '../src/resources/desired.js';
import { render } from '../src/render/template.js';
import { DOCROOT, JOB_PATH, MEMCACHED_PORT } from '../src/lab/layout.js';
import type { Step } from '../src/runner/types.js';

/**
 * batch-job — the sample PHP CLI job of the batch-job exercise is installed at
 * /opt/ebpf-lab/jobs/nightly-report.php (mode 0644; run it with `php …`, so the process
 * is named php for bt/php-batch-jobs.bt). `ebpf-lab load --job` runs it under that tool.
 */
function desired(): Desired {
  return {
    files: [
      {
        path: JOB_PATH,
        content: render('opt/ebpf-lab/jobs/nightly-report.php', {
          jobPath: JOB_PATH,
          docroot: DOCROOT,
          memcachedPort: MEMCACHED_PORT,
        }),
        mode: 0o644,
      },
    ],
  };
}

const step: Step = {
  id: 'batch-job',
  title: 'The sample batch job is installed',
  needs: ['php'],
  async check(ctx) {
    const { changes, notes } = await checkDesired(ctx, desired(), `${JOB_PATH} up to date`);
    return { changes, notes };
  },
  async apply(ctx, changes) {
    await applyDesired(ctx, desired(), changes);
  },
  async verify(ctx) {
    const r = await ctx.host.exec(
      { script: `php ${JOB_PATH} --items 20 --sleep-ms 0; echo "rc=$?"` },
      { nothrow: true, timeoutMs: 60_000 },
    );
    return [
      {
        ok: /rc=0/.test(r.stdout) && /summaries cached/.test(r.stdout),
        what: `php ${JOB_PATH} runs`,
        detail: r.stdout.trim().split('\n').join('; '),
      },
    ];
  },
};
export default step;
