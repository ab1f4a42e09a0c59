import { applyDesired, desiredChanges, desiredProbes, unitStates, type Desired } from '../src/resources/desired.js';
import { render } from '../src/render/template.js';
import { proveUsdt } from '../src/lab/dtrace-prove.js';
import { probe } from '../src/resources/probe.js';
import type { UnitState } from '../src/resources/systemd.js';
import { phpFacts, type HostFacts } from '../src/facts/host.js';
import { ofKind, type Change, type Step, type StepContext } from '../src/runner/types.js';

/**
 * dtrace — apache2 and phpX.Y-fpm run with USE_ZEND_DTRACE=1 in their environment,
 * set by systemd drop-ins (ebpf-lab-dtrace.conf), so PHP's compile/execute/function
 * USDT probes fire. A service restarts only when its drop-in changed, when its running
 * main process lacks the variable (restarted outside systemd, say), or when an earlier
 * run was cut between writing the drop-in and restarting (a marker on the host says so).
 * With `--dtrace off` the drop-ins are removed instead.
 */
const DROPIN = 'ebpf-lab-dtrace.conf';

function units(f: HostFacts): string[] {
  return ['apache2.service', phpFacts(f).fpmUnit];
}

function desired(f: HostFacts, on: boolean): Desired {
  const paths = units(f).map((u) => `/etc/systemd/system/${u}.d/${DROPIN}`);
  if (!on) return { absent: paths, units: units(f) };
  return {
    files: units(f).map((unit, i) => ({
      path: paths[i]!,
      content: render('etc/systemd/system/UNIT.d/ebpf-lab-dtrace.conf', {}),
      notify: { unit, action: 'restart' as const },
    })),
    units: units(f),
  };
}

/**
 * Modification time (epoch s, to the nanosecond) of each unit's drop-in, 0 when absent: one
 * `stat` for all of them (GNU's and uutils' stat both print `%.9Y`), each line naming its file.
 */
export function dropinMtimes(f: HostFacts) {
  const us = units(f);
  const path = (u: string) => `/etc/systemd/system/${u}.d/${DROPIN}`;
  return probe(
    `stat -c '%.9Y %n' -- ${us.map(path).join(' ')} 2>/dev/null; true`,
    (out) => {
      const at = new Map(out.split('\n').map((l) => [l.slice(l.indexOf(' ') + 1), Number(l.split(' ')[0]) || 0]));
      return Object.fromEntries(us.map((u) => [u, at.get(path(u)) ?? 0]));
    },
    { id: 'dropin-mtimes', args: us },
  );
}

/**
 * Does the running main process carry USE_ZEND_DTRACE=1? Read from its environ when
 * it is intact; php-fpm overwrites that area with its process title, so there the
 * unit's systemd Environment= counts, but only if the process started after the
 * drop-in was last written.
 */
export function carriesDtrace(s: UnitState | undefined, dropinMtime: number): boolean {
  if (!s || s.env['USE_ZEND_DTRACE'] !== '1') return false;
  return s.envSource === 'proc' || s.startedAt >= dropinMtime;
}

async function check(ctx: StepContext) {
  const f = await ctx.facts();
  if (!f.php?.fpmUnit)
    return {
      d: undefined,
      changes: [{ kind: 'step', step: 'dtrace', action: 'configure', detail: 'after PHP is installed' }] as Change[],
    };
  const on = ctx.options.dtrace;
  const d = desired(f, on);
  const r = await ctx.probe({ ...desiredProbes(d), mtimes: dropinMtimes(f) });
  const changes = desiredChanges(d, r);
  const states = unitStates(r);
  for (const u of units(f)) {
    const s = states[u];
    const has = carriesDtrace(s, r.mtimes[u] ?? 0);
    const queued = ofKind(changes, 'unit', 'restart').some((c) => c.unit === u);
    if (s?.active === 'active' && s.mainPid > 0 && has !== on && !queued)
      changes.push({
        kind: 'unit',
        unit: u,
        action: 'restart',
        detail: `running main process (pid ${s.mainPid}) ${on ? 'lacks' : 'still has'} USE_ZEND_DTRACE=1`,
      });
  }
  if (d.absent && changes.some((c) => c.action === 'delete'))
    for (const u of units(f))
      if (!ofKind(changes, 'unit').some((c) => c.unit === u))
        changes.push({ kind: 'unit', unit: u, action: 'restart', detail: 'drop-in removed' });
  return { d, changes };
}

const step: Step = {
  id: 'dtrace',
  title: 'apache2 and php-fpm run with USE_ZEND_DTRACE=1',
  needs: ['php'],
  async check(ctx) {
    const { changes } = await check(ctx);
    return {
      changes,
      notes: changes.length
        ? []
        : [`drop-ins in place; running masters ${ctx.options.dtrace ? 'carry' : 'lack'} USE_ZEND_DTRACE=1`],
    };
  },
  async apply(ctx, changes) {
    const { d } = await check(ctx);
    if (d) await applyDesired(ctx, d, changes);
  },
  async verify(ctx) {
    const f = await ctx.facts();
    const r = await ctx.probe({ ...desiredProbes({ units: units(f) }), mtimes: dropinMtimes(f) });
    return units(f).map((u) => {
      const s = unitStates(r)[u];
      const has = carriesDtrace(s, r.mtimes[u] ?? 0);
      const from =
        s?.envSource === 'proc'
          ? `/proc/${s.mainPid}/environ`
          : `systemd Environment= (process started after the drop-in; its environ holds the process title)`;
      return {
        ok: has === ctx.options.dtrace,
        what: `${u} main process ${ctx.options.dtrace ? 'has' : 'lacks'} USE_ZEND_DTRACE=1`,
        detail: `pid ${s?.mainPid ?? '?'}: USE_ZEND_DTRACE=${has ? '1' : '(unset)'} from ${from}`,
      };
    });
  },
  prove: proveUsdt,
};
export default step;
