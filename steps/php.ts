import { UserError } from '../src/errors.js';
import { applyDesired, desiredChanges, desiredProbes, dedupe, type Desired } from '../src/resources/desired.js';
import { apacheChanges, apacheProbe, applyApache, apacheConfigTest } from '../src/resources/apache.js';
import { render } from '../src/render/template.js';
import { phpFacts, type HostFacts } from '../src/facts/host.js';
import { DOCROOT, fpmSocket, HTTP_PORT, MEMCACHED_PORT } from '../src/lab/layout.js';
import { ofKind, type Change, type Step, type StepContext, type Evidence } from '../src/runner/types.js';
import type { LabOptions } from '../src/options.js';
import { waitLoop } from '../src/resources/wait.js';
import { hostScript } from '../src/render/script.js';

/**
 * php — apache2 serves the sample pages with mod_php at `/` and php-fpm serves the
 * same pages at `/fpm/` (proxy_fcgi to phpX.Y-fpm's socket), so both SAPIs can be
 * traced; memcached runs; opcache follows `--opcache on|off` (default off).
 * All three services are enabled and running.
 */
function desired(f: HostFacts, o: LabOptions): Desired {
  const p = phpFacts(f);
  const ini = (sapi: string, unit: string) => ({
    path: `${p.confDir}/${sapi}/conf.d/99-ebpf-lab.ini`,
    content: render('etc/php/VERSION/SAPI/conf.d/99-ebpf-lab.ini', { opcache: o.opcache }),
    notify: { unit, action: 'restart' as const },
  });
  return {
    files: [
      {
        path: '/etc/apache2/conf-available/ebpf-lab.conf',
        content: render('etc/apache2/conf-available/ebpf-lab.conf', {
          docroot: DOCROOT,
          fpmSocket: fpmSocket(p.version),
        }),
        notify: { unit: 'apache2.service', action: 'reload' },
      },
      ini('apache2', 'apache2.service'),
      ini('fpm', p.fpmUnit),
    ],
    services: [{ unit: 'apache2.service' }, { unit: p.fpmUnit }, { unit: 'memcached.service' }],
  };
}

const MODS = (v: string) => [`php${v}`, 'mpm_prefork', 'proxy', 'proxy_fcgi'];
/** A page no step writes: apache answering it (404) does not depend on a later step's files. */
export const ABSENT_PAGE = '/ebpf-lab-no-such-page';

async function fullCheck(ctx: StepContext) {
  const f = await ctx.facts();
  if (!f.php?.libphp || !f.php.fpmUnit)
    return {
      d: undefined,
      changes: [
        { kind: 'step', step: 'php', action: 'configure', detail: 'after the packages step installs PHP' },
      ] as Change[],
    };
  const d = desired(f, ctx.options);
  const r = await ctx.probe({ ...desiredProbes(d), apache: apacheProbe });
  const mods = apacheChanges(r.apache, MODS(f.php.version), ['ebpf-lab'], ['mpm_event', 'mpm_worker']);
  const changes = desiredChanges(d, r);
  if (mods.length)
    changes.push(...mods, {
      kind: 'unit',
      unit: 'apache2.service',
      action: 'restart',
      detail: 'apache modules changed',
    });
  return {
    d,
    changes: dedupe(
      changes.filter(
        (c) => !(c.kind === 'unit' && c.action === 'reload' && mods.length && c.unit === 'apache2.service'),
      ),
    ),
  };
}

const step: Step = {
  id: 'php',
  title: 'apache2 (mod_php at /) and php-fpm (at /fpm/) serve PHP; memcached runs',
  needs: ['packages'],
  async check(ctx) {
    const { changes } = await fullCheck(ctx);
    const f = await ctx.facts();
    return {
      changes,
      notes: changes.length
        ? []
        : [
            `PHP ${f.php?.version}: mod_php and ${f.php?.fpmUnit} serving, opcache ${ctx.options.opcache ? 'on' : 'off'}`,
          ],
    };
  },
  async apply(ctx, changes) {
    const { d } = await fullCheck(ctx);
    if (!d) throw new UserError('PHP is not installed', 'run the packages step first');
    // Files first (a2enconf needs conf-available/ebpf-lab.conf), then modules and
    // confs, then apache's own config test before any restart: a bad config never goes live.
    await applyDesired(
      ctx,
      d,
      changes.filter((c) => c.kind !== 'unit'),
    );
    await applyApache(ctx, changes);
    await apacheConfigTest(ctx);
    await applyDesired(ctx, { ...d, files: [] }, ofKind(changes, 'unit'));
  },
  async verify(ctx) {
    const p = phpFacts(await ctx.facts());
    const sock = fpmSocket(p.version);
    const r = await ctx.host.exec(
      {
        script: hostScript('php-verify', {
          WAIT_MEMCACHED: waitLoop(`ss -Hltn 'sport = :${MEMCACHED_PORT}' | grep -q .`, { tries: 40, every: 0.25 }),
          FPM_UNIT: p.fpmUnit,
          SOCKET: sock,
          ABSENT: ABSENT_PAGE,
        }),
      },
      { sudo: true, nothrow: true, timeoutMs: 60_000 },
    );
    const [active = '', sockLine = '', http = ''] = r.stdout.trim().split('\n');
    const ev: Evidence[] = [
      {
        ok: active.trim() === 'active active active',
        what: `apache2, ${p.fpmUnit} and memcached are active`,
        detail: active.trim(),
      },
      { ok: sockLine === 'socket', what: `php-fpm listens on ${sock}` },
      {
        ok: http === '404',
        what: `apache answers on port ${HTTP_PORT}`,
        detail: `http ${http} for ${ABSENT_PAGE}, a page no step writes (404 expected)`,
      },
    ];
    return ev;
  },
};
export default step;
