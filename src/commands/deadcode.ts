import { UserError } from '../errors.js';
import { hostFactsProbe, phpFacts, type HostFacts } from '../facts/host.js';
import { DOCROOT, PENDING_DIR, STATE_DIR } from '../lab/layout.js';
import { runProbes } from '../resources/probe.js';
import { waitLoop } from '../resources/wait.js';
import { hostScript } from '../render/script.js';
import { switchEnvScript } from './bench.js';
import { parseDuration } from './load.js';
import { withLab, type TargetInput } from './lab-target.js';
import type { Transport } from '../transports/transport.js';

/**
 * deadcode — which PHP files under the document root were compiled since tracing
 * started, and which never were (dead-code candidates). `--start` runs bpftrace on
 * compile__file__return of mod_php, php-fpm and the CLI as a transient unit on the host
 * (a line per file at most once a second, in a log); `deadcode` reports from that log
 * (`--since 10m` narrows the window); `--stop` ends it.
 *
 * Opcache: a file served from the cache is not compiled, so it fires no probe. Files
 * cached before tracing started would look dead: `--start` therefore restarts apache2
 * and php-fpm when opcache is on (emptying the cache), and with `--opcache-off` runs
 * them with opcache disabled until `--stop` (an extra ini dir via PHP_INI_SCAN_DIR, from
 * a runtime drop-in; restart markers let the next `up` restore the configuration).
 */
const DIR = `${STATE_DIR}/deadcode`;
const LOG = `${DIR}/compiled.log`;
const UNIT = 'ebpf-lab-deadcode';
const INI_DIR = '/run/ebpf-lab/deadcode-ini';

export function compiledProgram(f: HostFacts): string {
  const p = phpFacts(f);
  const targets = [p.libphp, p.fpmBinary, ...(f.php?.cli ? [f.php.cli] : [])];
  // str(arg0) directly in the condition: bpftrace 0.17 garbles a $var string used as a map key in an if.
  return `${targets.map((t) => `usdt:${t}:php:compile__file__return`).join(',\n')}
{
  if (@last[str(arg0)] == 0 || elapsed - @last[str(arg0)] > 1000000000) {
    printf("C %d %s\\n", elapsed / 1000000, str(arg0));
    @last[str(arg0)] = elapsed;
  }
}
`;
}

export interface DeadcodeReport {
  tracingSince: string;
  windowStart: string;
  opcache: string;
  compiled: { file: string; lastSeen: string; seen: number }[];
  notCompiled: string[];
}

/** The report from the log (`C <ms after start> <path>` lines), the start epoch and the files on disk. */
export function deadcodeReport(
  log: string,
  startedEpoch: number,
  files: string[],
  sinceEpoch: number,
  opcache: string,
): DeadcodeReport {
  const seen = new Map<string, { last: number; n: number }>();
  for (const m of log.matchAll(/^C (\d+) (.+)$/gm)) {
    const at = startedEpoch + Number(m[1]) / 1000;
    if (at < sinceEpoch) continue;
    const s = seen.get(m[2]!) ?? { last: 0, n: 0 };
    seen.set(m[2]!, { last: Math.max(s.last, at), n: s.n + 1 });
  }
  const iso = (t: number) => new Date(t * 1000).toISOString().replace(/\.\d+Z$/, 'Z');
  const sorted = [...new Set(files)].sort();
  return {
    tracingSince: iso(startedEpoch),
    windowStart: iso(Math.max(startedEpoch, sinceEpoch)),
    opcache,
    compiled: sorted
      .filter((f) => seen.has(f))
      .map((f) => ({ file: f, lastSeen: iso(seen.get(f)!.last), seen: seen.get(f)!.n })),
    notCompiled: sorted.filter((f) => !seen.has(f)),
  };
}

export interface DeadcodeInput extends TargetInput {
  since?: string;
  start?: boolean;
  stop?: boolean;
  opcacheOff?: boolean;
  output?: string;
}

const stateScript = (f: HostFacts) => hostScript('deadcode-state', { UNIT, DIR, PHP_CONF: phpFacts(f).confDir });
const markers = (units: string[]) => units.map((u) => `${PENDING_DIR}/restart@${u}`).join(' ');

async function state(host: Transport) {
  const { facts } = await runProbes(host, { facts: hostFactsProbe });
  const r = await host.exec({ script: stateScript(facts) }, { sudo: true, nothrow: true });
  const started = Number(/^started (\d+)/m.exec(r.stdout)?.[1] ?? 0);
  const opcacheOn = /^opcache (1|on|On|true)$/m.test(r.stdout) || /^opcache $/m.test(r.stdout);
  return { facts, active: /^active$/m.test(r.stdout), started, opcacheOff: /^opcache-off$/m.test(r.stdout), opcacheOn };
}

async function start(host: Transport, label: string, opcacheOff: boolean, write: (s: string) => void): Promise<number> {
  const s = await state(host);
  if (s.active)
    throw new UserError(
      `dead-code tracing already runs on ${label} (since ${new Date(s.started * 1000).toISOString()})`,
      'report with `ebpf-lab deadcode`, stop with `ebpf-lab deadcode --stop`',
    );
  const units = ['apache2.service', phpFacts(s.facts).fpmUnit];
  await host.exec({ script: `mkdir -p ${DIR} && rm -f ${LOG} ${DIR}/opcache-off` }, { sudo: true });
  let opcacheNote = 'opcache is off: every request compiles its files, so counts are real';
  if (opcacheOff && s.opcacheOn) {
    await host.exec(
      {
        script: hostScript('deadcode-opcache-off', { INI_DIR, PENDING_DIR, MARKERS: markers(units), DIR }),
      },
      { sudo: true },
    );
    await host.exec(
      { script: switchEnvScript(units, `Environment=PHP_INI_SCAN_DIR=:${INI_DIR}`) },
      { sudo: true, timeoutMs: 180_000 },
    );
    opcacheNote = `opcache turned off for the measurement (${units.join(', ')} restarted; --stop restores it)`;
  } else if (s.opcacheOn) {
    await host.exec(['systemctl', 'restart', ...units], { sudo: true, timeoutMs: 180_000 });
    opcacheNote = `opcache is on: ${units.join(', ')} were restarted to empty its cache, so each file used from now on is compiled once and seen; recompiles are hidden (use --opcache-off for real counts)`;
  }
  await host.put(`${DIR}/compiled.bt`, compiledProgram(s.facts), { mode: 0o644 });
  const r = await host.exec(
    {
      script: hostScript('deadcode-attach', {
        UNIT,
        LOG,
        DIR,
        WAIT_ATTACHED: waitLoop(`grep -q '^Attaching' ${LOG} 2>/dev/null`, {
          tries: 300,
          every: 0.1,
          giveUpIf: `! systemctl -q is-active ${UNIT}`,
          then: `date +%s > ${DIR}/started && exit 0`,
        }),
      }),
    },
    { sudo: true, nothrow: true, timeoutMs: 60_000 },
  );
  if (r.exitCode !== 0) {
    write(`bpftrace did not attach on ${label}: ${r.stderr.trim().split('\n').slice(-3).join(' | ')}`);
    await stop(host, label, () => {});
    return 1;
  }
  write(
    `dead-code tracing started on ${label}: compile__file__return of mod_php, php-fpm and the CLI, logged to ${LOG}`,
  );
  write(opcacheNote);
  write(
    'exercise the application (ebpf-lab load, cron jobs…), then: ebpf-lab deadcode   (report), ebpf-lab deadcode --stop',
  );
  return 0;
}

async function stop(host: Transport, label: string, write: (s: string) => void): Promise<number> {
  const s = await state(host);
  const units = ['apache2.service', phpFacts(s.facts).fpmUnit];
  await host.exec({ script: `systemctl stop ${UNIT} 2>/dev/null; true` }, { sudo: true });
  if (s.opcacheOff) {
    await host.exec(
      {
        script: hostScript('deadcode-restore', { INI_DIR, UNITS: units.join(' '), MARKERS: markers(units), DIR }),
      },
      { sudo: true, timeoutMs: 180_000 },
    );
    write(`opcache restored: ${units.join(', ')} restarted with their configuration`);
  }
  write(
    s.active
      ? `dead-code tracing stopped on ${label} (the log stays in ${LOG})`
      : `no dead-code tracing was running on ${label}`,
  );
  return 0;
}

/** `--since`: a duration back from now (10m, 2h) or an ISO time. */
export function parseSince(raw: string | undefined, now: number): number {
  if (raw === undefined) return 0;
  if (/^\d+[smh]?$/.test(raw)) return now - parseDuration('since', raw, 0, 1, 366 * 86400);
  const t = Date.parse(raw);
  if (Number.isNaN(t))
    throw new UserError(
      `--since must be a duration (10m, 2h) or an ISO time, not "${raw}"`,
      'a duration counts back from now and has no sign: --since 5m, or a time: --since 2024-05-01T10:00:00Z',
    );
  return t / 1000;
}

export async function deadcodeCommand(input: DeadcodeInput, write: (s: string) => void): Promise<number> {
  if (input.start && input.stop) throw new UserError('--start and --stop exclude each other');
  if (input.opcacheOff && !input.start)
    throw new UserError('--opcache-off goes with --start (opcache is turned off while tracing runs)');
  if (input.since !== undefined && (input.start || input.stop))
    throw new UserError('--since selects the window of a report: use it without --start/--stop');
  const since = parseSince(input.since, Date.now() / 1000);
  return withLab(input, async (host, label) => {
    if (input.start) return start(host, label, Boolean(input.opcacheOff), write);
    if (input.stop) return stop(host, label, write);
    const s = await state(host);
    if (!s.started)
      throw new UserError(`no dead-code tracing has run on ${label}`, 'start it with: ebpf-lab deadcode --start');
    const r = await host.exec(
      {
        script: `cat ${LOG} 2>/dev/null; echo '@@FILES'; find ${DOCROOT} -type f -name '*.php' ! -name '.ebpf-lab-probe-*' 2>/dev/null`,
      },
      { sudo: true },
    );
    const [log = '', files = ''] = r.stdout.split('@@FILES\n');
    const opcache = s.opcacheOff
      ? 'off for the measurement (--opcache-off)'
      : s.opcacheOn
        ? 'on (recompiles hidden)'
        : 'off';
    const rep = deadcodeReport(log, s.started, files.split('\n').filter(Boolean), since, opcache);
    if (input.output === 'json') {
      write(JSON.stringify({ target: label, running: s.active, docroot: DOCROOT, ...rep }, null, 2));
      return 0;
    }
    write(
      `dead code on ${label}: PHP files under ${DOCROOT}, compiles since ${rep.windowStart} (tracing ${s.active ? 'running' : 'stopped'}, started ${rep.tracingSince}); opcache ${opcache}`,
    );
    write(`compiled (${rep.compiled.length}):`);
    for (const c of rep.compiled)
      write(`  ${c.file}  (last ${c.lastSeen}, seen in ${c.seen} second${c.seen === 1 ? '' : 's'})`);
    write(
      `never compiled (${rep.notCompiled.length}) — dead-code candidates, if the workload was complete (monthly jobs need long windows):`,
    );
    for (const f of rep.notCompiled) write(`  ${f}`);
    if (s.opcacheOn && !s.opcacheOff)
      write(
        'note: with opcache on, a cached file is not compiled again: it counts as used once, but recompile counts are hidden',
      );
    return 0;
  });
}
