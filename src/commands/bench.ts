import { UserError } from '../errors.js';
import { hostFactsProbe, phpFacts, type HostFacts } from '../facts/host.js';
import { BPF_OUT, EXPORTER_LISTEN, PENDING_DIR, STATE_DIR } from '../lab/layout.js';
import { runProbes } from '../resources/probe.js';
import { mainPidScript } from '../resources/systemd.js';
import { waitLoop } from '../resources/wait.js';
import { hostScript } from '../render/script.js';
import { quote } from '../transports/quote.js';
import { parseDuration } from './load.js';
import { withLab, type TargetInput } from './lab-target.js';
import type { Transport } from '../transports/transport.js';

/**
 * bench — the probes' own overhead, measured on the lab host with ab (apache2-utils):
 * requests/s and latency percentiles of one sample page in three states, USE_ZEND_DTRACE
 * off, on with no probe attached, on with the lab's BPF programs attached (ebpf_exporter
 * when installed, else a bpftrace stand-in on the same probes). The environment is
 * switched by a runtime drop-in that lives only for the restart (the configured drop-ins
 * are never touched), and restart markers in the pending dir are written first, so an
 * interrupted bench is repaired by the next `up`; the normal end (and SIGINT/SIGTERM)
 * restarts both services with their configured environment.
 */
export const BENCH_URL = 'http://127.0.0.1/mem.php?n=20';
const CONCURRENCY = 2;
const RUNTIME_DROPIN = 'zz-ebpf-lab-bench.conf';
const ATTACH_UNIT = 'ebpf-lab-bench-attach';
const EXPORTER = 'ebpf_exporter.service';

/** One ab run. */
export interface Sample {
  requests: number;
  failed: number;
  rps: number;
  p50: number;
  p95: number;
  p99: number;
}

/** One state, measured in `n` runs: totals, means, and the standard deviation of req/s and p50. */
export interface Measurement extends Sample {
  state: 'off' | 'on' | 'attached';
  label: string;
  /** Number of runs. */
  n: number;
  rpsSd: number;
  p50Sd: number;
  samples: Sample[];
  /** USE_ZEND_DTRACE in the running apache2 master's environment while measuring. */
  apacheEnv: string;
}

/** ab's summary and its `-e` CSV (percentile,ms), as one sample. */
export function parseAb(summary: string, csv: string): Sample {
  const num = (re: RegExp) => Number(re.exec(summary)?.[1] ?? NaN);
  const pct = new Map(
    csv
      .split('\n')
      .map((l) => l.split(','))
      .filter((p) => /^\d+$/.test(p[0] ?? ''))
      .map((p) => [Number(p[0]), Number(p[1])]),
  );
  const failed = num(/^Failed requests:\s+(\d+)/m) + (num(/^Non-2xx responses:\s+(\d+)/m) || 0);
  return {
    requests: num(/^Complete requests:\s+(\d+)/m),
    failed,
    rps: num(/^Requests per second:\s+([\d.]+)/m),
    p50: pct.get(50) ?? NaN,
    p95: pct.get(95) ?? NaN,
    p99: pct.get(99) ?? NaN,
  };
}

/** The stand-in for ebpf_exporter: the lab programs' probes, with similar map work. */
export function standInProgram(f: HostFacts): string {
  const p = phpFacts(f);
  const both = (probe: string) => [p.libphp, p.fpmBinary].map((t) => `usdt:${t}:php:${probe}`).join(', ');
  return (
    [
      `${both('request__startup')} { @start[tid] = nsecs; }`,
      `${both('request__shutdown')} { if (@start[tid] != 0) { @req[str(arg1)] = hist((nsecs - @start[tid]) / 1000); delete(@start[tid]); } }`,
      `${both('compile__file__entry')} { @compile[str(arg1)] = count(); }`,
      `${both('exception__thrown')} { @thrown[str(arg0)] = count(); }`,
      `${both('exception__caught')} { @caught[str(arg0)] = count(); }`,
      `${both('function__entry')} { @calls[str(arg3), str(arg0)] = count(); }`,
      ...(f.libmemcached ? [`uprobe:${f.libmemcached}:memcached_set { @set_bytes = hist(arg4); }`] : []),
    ].join('\n') + '\n'
  );
}

export const DTRACE_ON = 'Environment=USE_ZEND_DTRACE=1';
export const DTRACE_OFF = 'UnsetEnvironment=USE_ZEND_DTRACE';

/**
 * Restarts the units with one extra [Service] line (an environment change) from a
 * drop-in in /run that is removed right after the restart: the running processes keep
 * the change, the configuration on disk never has it (the next restart undoes it).
 */
export function switchEnvScript(units: string[], line: string): string {
  return hostScript('switch-env', {
    UNITS: units.join(' '),
    LINE: line,
    DROPIN: RUNTIME_DROPIN,
    DROPINS: units.map((u) => `/run/systemd/system/${u}.d/${RUNTIME_DROPIN}`).join(' '),
    DIRS: units.map((u) => `/run/systemd/system/${u}.d`).join(' '),
  });
}

const apacheEnvScript = hostScript('apache-dtrace-env', { APACHE_PID: mainPidScript('apache2.service') });
const answers200 = `[ "$(curl -s -o /dev/null -w '%{http_code}' -m 5 ${quote(BENCH_URL)})" = 200 ]`;
const waitHttp = `${waitLoop(answers200, { tries: 100, every: 0.2, then: 'exit 0' })}; exit 1`;

interface Plan {
  units: string[];
  exporter: { installed: boolean; active: boolean };
  facts: HostFacts;
}

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
/** Sample standard deviation (0 for a single value). */
const sd = (xs: number[]) =>
  xs.length < 2 ? 0 : Math.sqrt(xs.reduce((a, x) => a + (x - mean(xs)) ** 2, 0) / (xs.length - 1));

/** Runs folded into one measurement: totals of requests and failures, means, spreads. */
export function combine(samples: Sample[]): Omit<Measurement, 'state' | 'label' | 'apacheEnv'> {
  const col = (k: keyof Sample) => samples.map((x) => x[k]);
  return {
    n: samples.length,
    requests: col('requests').reduce((a, b) => a + b, 0),
    failed: col('failed').reduce((a, b) => a + b, 0),
    rps: mean(col('rps')),
    rpsSd: sd(col('rps')),
    p50: mean(col('p50')),
    p50Sd: sd(col('p50')),
    p95: mean(col('p95')),
    p99: mean(col('p99')),
    samples,
  };
}

/** `runs` ab runs of `each` seconds after a warm-up, all in one round trip. */
async function measure(host: Transport, each: number, runs: number): Promise<Omit<Measurement, 'state' | 'label'>> {
  await host.exec({ script: waitHttp }, { timeoutMs: 60_000 });
  const script = hostScript('bench-measure', {
    CONCURRENCY,
    SECONDS: each,
    RUNS: runs,
    URL: quote(BENCH_URL),
    APACHE_ENV: apacheEnvScript,
  });
  const r = await host.exec({ script }, { sudo: true, timeoutMs: (each * runs + 60) * 1000 });
  const [body = '', env = ''] = r.stdout.split('@@ENV\n');
  const samples = body
    .split('@@RUN\n')
    .filter((chunk) => chunk.includes('@@CSV'))
    .map((chunk) => {
      const [summary = '', csv = ''] = chunk.split('@@CSV\n');
      return parseAb(summary, csv);
    });
  return { ...combine(samples), apacheEnv: env.trim() || '(unset)' };
}

async function attach(host: Transport, plan: Plan): Promise<string> {
  if (plan.exporter.installed) {
    await host.exec(
      {
        script: `systemctl start ${EXPORTER} && ${waitLoop(`curl -sf -m 2 -o /dev/null http://${EXPORTER_LISTEN}/metrics`, { tries: 150, every: 0.2, then: 'exit 0' })}; exit 1`,
      },
      { sudo: true, timeoutMs: 60_000 },
    );
    return `ebpf_exporter with the lab's programs (${BPF_OUT})`;
  }
  const prog = `${STATE_DIR}/bench-attach.bt`;
  await host.put(prog, standInProgram(plan.facts), { mode: 0o644 });
  const log = `${STATE_DIR}/bench-attach.log`;
  // A transient unit: easy to stop by name from a later run, and it stops by itself after 15 min.
  await host.exec(
    {
      script: hostScript('bench-attach', {
        PROG: prog,
        UNIT: ATTACH_UNIT,
        LOG: log,
        WAIT_ATTACHED: waitLoop(`grep -q '^Attaching' ${log}`, {
          tries: 300,
          every: 0.1,
          giveUpIf: `! systemctl -q is-active ${ATTACH_UNIT}`,
          then: 'exit 0',
        }),
      }),
    },
    { sudo: true, timeoutMs: 60_000 },
  );
  const n = (
    await host.exec(['sed', '-n', 's/^Attaching \\([0-9]*\\) probes.*/\\1/p', log], { sudo: true, nothrow: true })
  ).stdout.trim();
  return `bpftrace stand-in on the lab programs' probes (${n} probes: request, compile, exception, function, memcached_set; ebpf_exporter is not installed)`;
}

/** Back to the configured state: no attach unit, services restarted from their own config, exporter as it was. */
async function restore(host: Transport, plan: Plan): Promise<string> {
  const exporter = plan.exporter.installed ? `systemctl ${plan.exporter.active ? 'start' : 'stop'} ${EXPORTER}; ` : '';
  const script = hostScript('bench-restore', {
    ATTACH_UNIT,
    DROPIN: RUNTIME_DROPIN,
    UNITS: plan.units.join(' '),
    EXPORTER: exporter,
    MARKERS: plan.units.map((u) => `${PENDING_DIR}/restart@${u}`).join(' '),
    APACHE_ENV: apacheEnvScript,
  });
  const r = await host.exec({ script }, { sudo: true, timeoutMs: 180_000 });
  const conf = /^CONF (.*)$/m.exec(r.stdout)?.[1]?.trim() || '(unset)';
  const run = /^RUN (.*)$/m.exec(r.stdout)?.[1]?.trim() || '(unset)';
  if (conf !== run) throw new Error(`restore: apache2 runs with USE_ZEND_DTRACE=${run} but is configured with ${conf}`);
  return `restored: ${plan.units.join(' and ')} restarted with their configured environment (apache2 USE_ZEND_DTRACE=${run})${plan.exporter.installed ? `, ${EXPORTER} ${plan.exporter.active ? 'running' : 'stopped'} as before` : ''}`;
}

const LABELS: Record<Measurement['state'], string> = {
  off: 'USE_ZEND_DTRACE off',
  on: 'on, no probe attached',
  attached: 'on, lab programs attached',
};

/**
 * a / b with its spread (one standard deviation, from the two relative spreads) and whether
 * the difference from 1 is smaller than that spread: then the two states cannot be told apart.
 */
export function ratio(
  a: { mean: number; sd: number },
  b: { mean: number; sd: number },
): { ratio: number; spread: number; withinNoise: boolean } {
  const r = a.mean / b.mean;
  const spread = r * Math.sqrt((a.sd / a.mean) ** 2 + (b.sd / b.mean) ** 2);
  return { ratio: r, spread, withinNoise: spread >= Math.abs(r - 1) };
}

const fmtRatio = (q: ReturnType<typeof ratio>) =>
  `${q.ratio.toFixed(2)}x ±${q.spread.toFixed(2)}${q.withinNoise ? ' within noise' : ''}`;

export function benchTable(ms: Measurement[]): string[] {
  const base = ms.find((m) => m.state === 'off');
  const rows = [['state', 'n', 'req/s', 'p50 ms', 'p95 ms', 'p99 ms', 'req/s vs off', 'p50 vs off']];
  for (const m of ms)
    rows.push([
      m.label,
      String(m.n),
      `${m.rps.toFixed(1)} ±${m.rpsSd.toFixed(1)}`,
      `${m.p50.toFixed(2)} ±${m.p50Sd.toFixed(2)}`,
      m.p95.toFixed(2),
      m.p99.toFixed(2),
      !base
        ? '-'
        : m === base
          ? 'baseline'
          : fmtRatio(ratio({ mean: m.rps, sd: m.rpsSd }, { mean: base.rps, sd: base.rpsSd })),
      !base
        ? '-'
        : m === base
          ? 'baseline'
          : fmtRatio(ratio({ mean: m.p50, sd: m.p50Sd }, { mean: base.p50, sd: base.p50Sd })),
    ]);
  const w = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows.map((r) => r.map((c, i) => (i === 0 ? c.padEnd(w[i]!) : c.padStart(w[i]!))).join('  '));
}

export interface BenchInput extends TargetInput {
  duration?: string;
  /** Runs per state (2-20, default 5): the spread of a ratio needs several. */
  runs?: string;
  output?: string;
}

export function parseRuns(raw: string | undefined): number {
  if (raw === undefined) return 5;
  const n = /^\d+$/.test(raw.trim()) ? Number(raw) : NaN;
  if (!(n >= 2 && n <= 20))
    throw new UserError(
      `--runs must be a whole number from 2 to 20, not "${raw}"`,
      'for example --runs 5: the spread of a ratio needs at least two runs per state',
    );
  return n;
}

export async function benchCommand(input: BenchInput, write: (s: string) => void): Promise<number> {
  const seconds = parseDuration('duration', input.duration, 10, 2, 300);
  const runs = parseRuns(input.runs);
  const each = Math.max(1, Math.floor(seconds / runs));
  const json = input.output === 'json';
  const say = (s: string) => (json ? process.stderr.write(s + '\n') : write(s));
  return withLab(input, async (host, label) => {
    const { facts, tools } = await runProbes(host, {
      facts: hostFactsProbe,
      tools: {
        script: `command -v ab >/dev/null && echo ab; systemctl cat ${EXPORTER} >/dev/null 2>&1 && echo exporter; systemctl -q is-active ${EXPORTER} && echo active; true`,
        parse: (o: string) => o.split('\n'),
      },
    });
    if (!tools.includes('ab'))
      throw new UserError(
        `ab (apache2-utils) is not installed on ${label}`,
        `install it with: ebpf-lab up --target ${label}`,
      );
    const plan: Plan = {
      units: ['apache2.service', phpFacts(facts).fpmUnit],
      exporter: { installed: tools.includes('exporter'), active: tools.includes('active') },
      facts,
    };
    // The "bench in progress" record, written before anything changes: restart markers that
    // make the next `up` restart both services with their configured environment if this run is cut.
    await host.exec(
      {
        script: `mkdir -p ${PENDING_DIR} && touch ${plan.units.map((u) => `${PENDING_DIR}/restart@${u}`).join(' ')} && sync ${PENDING_DIR}`,
      },
      { sudo: true },
    );
    // A signal lets the current step finish (a restart half done must not race the
    // restore), then the finally block restores; a second signal just says so.
    let interrupted: NodeJS.Signals | undefined;
    const onSignal = (sig: NodeJS.Signals) => {
      process.stderr.write(
        interrupted
          ? `\n${sig}: still restoring ${label}, please wait\n`
          : `\n${sig}: finishing the current step, then restoring the configured state of ${label}\n`,
      );
      interrupted ??= sig;
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
    const results: Measurement[] = [];
    let attachedWith = '';
    try {
      say(
        `bench on ${label}: ${runs} runs of ab -c ${CONCURRENCY} -t ${each} ${BENCH_URL} (mod_php) in each of 3 states`,
      );
      for (const state of ['off', 'on', 'attached'] as const) {
        if (interrupted) break;
        if (state !== 'attached') {
          if (plan.exporter.installed && state === 'off')
            await host.exec(['systemctl', 'stop', EXPORTER], { sudo: true });
          say(`  ${LABELS[state]}: restarting ${plan.units.join(', ')}`);
          await host.exec(
            { script: switchEnvScript(plan.units, state === 'on' ? DTRACE_ON : DTRACE_OFF) },
            { sudo: true, timeoutMs: 180_000 },
          );
        } else {
          attachedWith = await attach(host, plan);
          say(`  attached: ${attachedWith}`);
        }
        if (interrupted) break;
        say(`  ${LABELS[state]}: measuring, ${runs} runs of ${each}s`);
        results.push({ state, label: LABELS[state], ...(await measure(host, each, runs)) });
      }
    } finally {
      try {
        say(await restore(host, plan));
      } finally {
        process.removeListener('SIGINT', onSignal);
        process.removeListener('SIGTERM', onSignal);
      }
    }
    if (interrupted) return interrupted === 'SIGINT' ? 130 : 143;
    const ok = results.length === 3 && results.every((m) => m.requests > 0 && m.failed === 0);
    if (json)
      write(
        JSON.stringify(
          {
            target: label,
            url: BENCH_URL,
            tool: `ab -c ${CONCURRENCY} -t ${each}, ${runs} runs per state`,
            attachedWith,
            measurements: results,
            ratios: ratios(results),
          },
          null,
          2,
        ),
      );
    else {
      benchTable(results).forEach(write);
      write(
        `n runs per state; ± one standard deviation; "within noise": the spread is larger than the difference, so the states cannot be told apart`,
      );
      write(`attached with: ${attachedWith}`);
    }
    return ok ? 0 : 1;
  });
}

function ratios(ms: Measurement[]) {
  const off = ms.find((m) => m.state === 'off')!;
  const round = (q: ReturnType<typeof ratio>) => ({
    ratio: Number(q.ratio.toFixed(3)),
    spread: Number(q.spread.toFixed(3)),
    withinNoise: q.withinNoise,
  });
  return Object.fromEntries(
    ms
      .filter((m) => m.state !== 'off')
      .map((m) => [
        m.state,
        {
          n: m.n,
          rps: round(ratio({ mean: m.rps, sd: m.rpsSd }, { mean: off.rps, sd: off.rpsSd })),
          p50: round(ratio({ mean: m.p50, sd: m.p50Sd }, { mean: off.p50, sd: off.p50Sd })),
          p99: Number((m.p99 / off.p99).toFixed(3)),
        },
      ]),
  );
}
