import { quote, quoteArgv } from '../transports/quote.js';
import { hostScript } from '../render/script.js';
import { PENDING_DIR } from '../lab/layout.js';
import { probe, type Probe } from './probe.js';
import { ofKind, type Change, type StepContext } from '../runner/types.js';

type UnitAction = Extract<Change, { kind: 'unit' }>['action'];

export interface UnitState {
  enabled: string;
  active: string;
  mainPid: number;
  /** USE_ZEND_DTRACE etc.: the environment of the running main process. */
  env: Record<string, string>;
  /**
   * Where `env` came from: the process itself, or — when the process overwrote its
   * environ area (php-fpm's process title does) — systemd's Environment= for the unit.
   */
  envSource: 'proc' | 'systemd';
  /** Start of the main process, epoch seconds (0 when not running). */
  startedAt: number;
}

/** A sh snippet printing the main PID of a unit (0 when not running): templates/scripts/main-pid.sh. */
export function mainPidScript(unit: string): string {
  return hostScript('main-pid', { UNIT: quote(unit), CGROUP_LEADER: hostScript('cgroup-leader') });
}

/** One probe for several units: enablement, activity, main pid and its environment. */
export function unitsProbe(units: string[]): Probe<Record<string, UnitState>> {
  const body = units.map((u) => hostScript('unit-state', { UNIT: quote(u), MAIN_PID: mainPidScript(u) })).join('\n');
  return probe(
    body,
    (out) => {
      const states: Record<string, UnitState> = {};
      for (const line of out.split('\n')) {
        const [unit, enabled = 'unknown', active = 'unknown', pid = '0', started = '0', envRaw = '', sysEnv = ''] =
          line.split('\t');
        if (!unit) continue;
        const procEnv = parseEnv(envRaw);
        const useProc = Object.keys(procEnv).length > 0;
        states[unit] = {
          enabled,
          active,
          mainPid: Number(pid) || 0,
          env: useProc ? procEnv : parseEnv(sysEnv),
          envSource: useProc ? 'proc' : 'systemd',
          startedAt: Number(started) || 0,
        };
      }
      return states;
    },
    { id: 'units', args: units },
    { kind: 'units', item: units.join(' '), script: unitsScript },
  );
}

/**
 * unitsProbe's batch: one `systemctl show` for the units of every probe (templates/scripts/
 * units-state.sh), each probe's lines printed after its mark. The same facts as unit-state.sh
 * reads with four systemctl calls per unit: UnitFileState is what is-enabled prints,
 * ActiveState what is-active prints.
 */
function unitsScript(items: string[], mark: string): string {
  const lists = items.map((item) => item.split(' ').filter(Boolean));
  const all = [...new Set(lists.flat())];
  const print = lists
    .map((units, i) => [`echo "${mark} ${i}"`, ...units.map((u) => `printf '%s\\n' "$o_${all.indexOf(u)}"`)].join('\n'))
    .join('\n');
  return hostScript('units-state', { UNITS: quoteArgv(all), PRINT: print, CGROUP_LEADER: hostScript('cgroup-leader') });
}

function parseEnv(raw: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const kv of raw.split('\u001e')) {
    const i = kv.indexOf('=');
    if (i > 0) env[kv.slice(0, i)] = kv.slice(i + 1);
  }
  return env;
}

export interface ServiceSpec {
  unit: string;
  enabled?: boolean;
  active?: boolean;
}

export function serviceChanges(spec: ServiceSpec, state: UnitState | undefined): Change[] {
  const out: Change[] = [];
  const unit = { kind: 'unit', unit: spec.unit } as const;
  if (
    spec.enabled !== false &&
    state?.enabled !== 'enabled' &&
    state?.enabled !== 'static' &&
    state?.enabled !== 'alias'
  )
    out.push({ ...unit, action: 'enable', detail: `is-enabled: ${state?.enabled ?? 'unknown'}` });
  if (spec.active !== false && state?.active !== 'active')
    out.push({ ...unit, action: 'start', detail: `is-active: ${state?.active ?? 'unknown'}` });
  return out;
}

/** Performs unit changes in a safe order: daemon-reload, restarts, reloads, enables, starts. */
export async function applyUnitChanges(ctx: StepContext, changes: Change[], daemonReload: boolean): Promise<void> {
  if (daemonReload) await ctx.host.exec(['systemctl', 'daemon-reload'], { sudo: true });
  const units = (action: UnitAction) => [...new Set(ofKind(changes, 'unit', action).map((c) => c.unit))];
  const restarted = new Set<string>();
  for (const u of units('restart')) {
    ctx.progress(`restarting ${u}`);
    await ctx.host.exec(['systemctl', 'restart', u], { sudo: true, timeoutMs: 180_000 });
    // A restart also does whatever a pending reload was for.
    await clearPending(ctx, u, 'restart', 'reload');
    restarted.add(u);
  }
  for (const u of units('reload').filter((u) => !restarted.has(u))) {
    ctx.progress(`reloading ${u}`);
    await ctx.host.exec(['systemctl', 'reload-or-restart', u], { sudo: true, timeoutMs: 180_000 });
    await clearPending(ctx, u, 'reload');
  }
  const enable = units('enable');
  if (enable.length) await ctx.host.exec(['systemctl', 'enable', ...enable], { sudo: true });
  const start = units('start').filter((u) => !restarted.has(u));
  if (start.length) await ctx.host.exec(['systemctl', 'start', ...start], { sudo: true, timeoutMs: 180_000 });
}

/*
 * Pending restarts/reloads live on the host (PENDING_DIR), written before the config
 * that needs them, so a run cut between the write and the restart restarts next time.
 */

export const pendingProbe: Probe<string[]> = probe(
  // A glob, not ls: no process (the names are `<action>@<unit>`, never dotfiles).
  `for f in ${PENDING_DIR}/*; do [ -e "$f" ] && echo "\${f##*/}"; done; true`,
  (out) => out.split('\n').filter(Boolean),
  { id: 'pending' },
);

export function pendingChanges(
  markers: string[],
  units: string[],
): { kind: 'unit'; unit: string; action: 'restart' | 'reload'; detail: string }[] {
  const out: ReturnType<typeof pendingChanges> = [];
  for (const m of markers) {
    const [action, unit] = m.split('@');
    if ((action === 'restart' || action === 'reload') && unit && units.includes(unit))
      out.push({ kind: 'unit', unit, action, detail: 'pending from an earlier run that was interrupted' });
  }
  return out;
}

export async function markPending(ctx: StepContext, action: string, units: string[]): Promise<void> {
  if (units.length === 0) return;
  const files = units.map((u) => `${PENDING_DIR}/${action}@${u}`);
  await ctx.host.exec(
    { script: `mkdir -p ${PENDING_DIR} && touch ${quoteArgv(files)} && sync ${PENDING_DIR}` },
    { sudo: true },
  );
}

async function clearPending(ctx: StepContext, unit: string, ...actions: UnitAction[]): Promise<void> {
  await ctx.host.exec(['rm', '-f', ...actions.map((a) => `${PENDING_DIR}/${a}@${unit}`)], { sudo: true });
}
