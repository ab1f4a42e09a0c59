import { UserError } from '../errors.js';
import { withLab, type TargetInput } from './lab-target.js';
import { waitBpftraceAttached, waitLoop } from '../resources/wait.js';
import { BATCH_BT, JOB_PATH } from '../lab/layout.js';
import { hostScript } from '../render/script.js';
import { acquireHostLock } from '../runner/host-lock.js';
import type { Transport } from '../transports/transport.js';

/**
 * load — traffic generated ON the lab host (curl against 127.0.0.1, over the run's one
 * connection) on the sample pages of both SAPIs, so dashboards and bt tools have
 * something to show. `--job` runs the batch-job exercise instead.
 */

/** `30`, `30s`, `2m`, `1h` -> seconds, within [min, max]; anything else is a user error. */
export function parseDuration(flag: string, raw: string | undefined, dflt: number, min = 1, max = 3600): number {
  if (raw === undefined) return dflt;
  const m = /^(\d+)(s|m|h)?$/.exec(raw.trim());
  const secs = m ? Number(m[1]) * { s: 1, m: 60, h: 3600 }[(m[2] ?? 's') as 's' | 'm' | 'h'] : NaN;
  if (!(secs >= min && secs <= max))
    throw new UserError(
      `--${flag} must be a duration from ${min}s to ${max}s (e.g. 30s, 2m), not "${raw}"`,
      `a whole number with an optional unit s, m or h, e.g. --${flag} ${Math.min(Math.max(dflt, min), max)}s`,
    );
  return secs;
}

export function parseRate(raw: string | undefined): number {
  if (raw === undefined) return 20;
  const n = /^\d+$/.test(raw.trim()) ? Number(raw) : NaN;
  if (!(n >= 1 && n <= 1000))
    throw new UserError(
      `--rate must be a whole number of requests per second from 1 to 1000, not "${raw}"`,
      'for example --rate 50; a 2-core lab host sustains about 300',
    );
  return n;
}

/** The mix, in the order it cycles: both SAPIs, memcached-heavy pages, exceptions, errors, two directories. */
export const LOAD_URLS = [
  '/index.php',
  '/fpm/index.php',
  '/mem.php?n=50',
  '/fpm/mem.php?n=50',
  '/path1/a.php',
  '/fpm/path2/a.php',
  '/exception.php',
  '/fpm/error.php',
  '/mem.php?n=400',
  '/fpm/path1/a.php',
  '/path2/a.php',
  '/fpm/exception.php',
  '/error.php',
  '/fpm/mem.php?n=400',
  '/index.php',
  '/fpm/index.php',
];

/** The generator, run on the lab host (templates/scripts/load-generator.sh). */
export function loadScript(rate: number, seconds: number): string {
  // Waits on the clock, polled every 50 ms (40 tries: more than the second each needs at most).
  const clock = (until: string) => waitLoop(until, { tries: 40, every: 0.05 });
  return hostScript('load-generator', {
    URLS: LOAD_URLS.map((u) => `'${u}'`).join(' '),
    RATE: rate,
    SECONDS: seconds,
    WAIT_NEXT_SECOND: clock('[ "$(date +%s)" -ne "$s0" ]'),
    WAIT_SECOND_T: clock('[ "$(date +%s)" -ge $((start + t)) ]'),
  });
}

export interface LoadInput extends TargetInput {
  rate?: string;
  duration?: string;
  job?: boolean;
  output?: string;
}

function progressLine(t: number, d: number, sent: number, ok: number, errors: number, failed: number): string {
  return `load: ${t}s/${d}s  sent ${sent}  ok ${ok}  errors ${errors}  failed ${failed}  ${(sent / Math.max(t, 1)).toFixed(1)} req/s`;
}

export async function loadCommand(input: LoadInput, write: (s: string) => void): Promise<number> {
  if (input.job) {
    if (input.rate !== undefined || input.duration !== undefined)
      throw new UserError('--job runs the batch-job exercise: it takes no --rate or --duration');
    return jobCommand(input, write);
  }
  const rate = parseRate(input.rate);
  const seconds = parseDuration('duration', input.duration, 30);
  const tty = Boolean(process.stdout.isTTY) && input.output !== 'plain' && input.output !== 'json';
  return withLab(input, async (host, label) => {
    // With --output json, stdout carries only the JSON summary.
    const say = input.output === 'json' ? (l: string) => process.stderr.write(l + '\n') : write;
    // The host's run lock: an `up` waits for the load instead of restarting apache2 and php-fpm under it.
    const until = new Date(Date.now() + (seconds + 60) * 1000).toISOString();
    const lock = await acquireHostLock(host, { note: say, what: `load until ${until}` });
    try {
      return await generate(host, label, say);
    } finally {
      await lock.release();
    }
  });

  async function generate(host: Transport, label: string, say: (l: string) => void): Promise<number> {
    say(
      `load on ${label}: ${rate} req/s for ${seconds}s over ${LOAD_URLS.length} URLs (mod_php at /, php-fpm at /fpm/); exception.php and error.php answer 500 on purpose`,
    );
    let buf = '';
    const r = await host.exec(
      { script: loadScript(rate, seconds) },
      {
        nothrow: true,
        timeoutMs: (seconds + 60) * 1000,
        onOutput: (chunk, stream) => {
          if (stream !== 'stdout') return;
          buf += chunk;
          let nl;
          while ((nl = buf.indexOf('\n')) >= 0) {
            const line = buf.slice(0, nl);
            buf = buf.slice(nl + 1);
            const m = /^P (\d+) (\d+) (\d+) (\d+) (\d+)$/.exec(line);
            if (!m) continue;
            const [t, sent, ok, e, f] = m.slice(1).map(Number) as [number, number, number, number, number];
            if (tty) process.stdout.write(`\r\x1b[K${progressLine(t, seconds, sent, ok, e, f)}`);
            else if (t % 5 === 0 || t === seconds) say(progressLine(t, seconds, sent, ok, e, f));
          }
        },
      },
    );
    if (tty) process.stdout.write('\n');
    const fin = /^F (\d+) (\d+) (\d+) (\d+)$/m.exec(r.stdout);
    const split = /^S (.*)$/m.exec(r.stdout)?.[1] ?? '';
    if (!fin) {
      write(`load failed on ${host.name}: exit ${r.exitCode} ${r.stderr.trim().split('\n').slice(-3).join(' | ')}`);
      return 1;
    }
    const [sent, ok, errors, failed] = fin.slice(1).map(Number) as [number, number, number, number];
    const summary = {
      sent,
      ok,
      errors,
      failed,
      seconds,
      rate: Number((sent / seconds).toFixed(1)),
      sapis: Object.fromEntries(
        split
          .split(' ')
          .filter(Boolean)
          .map((kv) => [kv.split('=')[0], Number(kv.split('=')[1])]),
      ),
    };
    if (input.output === 'json') write(JSON.stringify(summary, null, 2));
    else
      write(
        `done: ${sent} requests in ${seconds}s (${summary.rate} req/s): ${ok} ok, ${errors} unexpected status, ${failed} without answer; ${split.replace(/=/g, ' ')}`,
      );
    return errors + failed > 0 ? 1 : 0;
  }
}

const JOB_RUNS = [
  ['--items', '300'],
  ['--items', '100', '--sleep-ms', '100', '--fail'],
];

/**
 * The batch-job exercise: php-batch-jobs.bt runs while the sample job runs twice
 * (once succeeding, once exiting 3); its START/EXIT lines give each run's command
 * line, exit code and time from exec to exit.
 */
async function jobCommand(input: LoadInput, write: (s: string) => void): Promise<number> {
  return withLab(input, async (host, label) => {
    const script = hostScript('batch-job', {
      BATCH_BT,
      JOB: JOB_PATH,
      WAIT_ATTACHED: waitBpftraceAttached('"$out"', 30),
      WAIT_EXITS: waitLoop(`[ "$(grep -c -E '^ *[0-9]+ +EXIT ' "$out")" -ge ${JOB_RUNS.length} ]`, {
        tries: 50,
        every: 0.1,
        giveUpIf: '! kill -0 $bp 2>/dev/null',
      }),
      RUNS: JOB_RUNS.map((a) => `php ${JOB_PATH} ${a.join(' ')} >/dev/null; echo "RC $?"`).join('\n'),
    });
    const r = await host.exec({ script }, { sudo: true, nothrow: true, timeoutMs: 120_000 });
    if (/^MISSING$/m.test(r.stdout))
      throw new UserError(
        `the batch-job exercise is not installed on ${label}`,
        `install it with: ebpf-lab up --target ${label}`,
      );
    const runs = [...r.stdout.matchAll(/^ *(\d+) +EXIT +\S+ +code=(\d+) signal=(\d+) elapsed_ms=(\d+)/gm)].map((m) => {
      const start = new RegExp(`^ *${m[1]} +START +\\S+ +(.*)$`, 'm').exec(r.stdout);
      return {
        pid: Number(m[1]),
        command: start?.[1]?.trim() ?? '?',
        exitCode: Number(m[2]),
        signal: Number(m[3]),
        elapsedMs: Number(m[4]),
      };
    });
    if (input.output === 'json') write(JSON.stringify({ tool: BATCH_BT, runs }, null, 2));
    else {
      write(`batch jobs on ${label}, timed by ${BATCH_BT} (sched_process_exec -> sched_process_exit):`);
      for (const j of runs)
        write(
          `  ${String(j.elapsedMs).padStart(6)} ms  exit ${j.exitCode}${j.signal ? ` signal ${j.signal}` : ''}  ${j.command}`,
        );
      write(`try it yourself: sudo bpftrace ${BATCH_BT}   and in another shell: php ${JOB_PATH} --items 500`);
    }
    const ok = runs.length === JOB_RUNS.length;
    if (!ok)
      write(
        `expected ${JOB_RUNS.length} runs, bpftrace saw ${runs.length}: ${r.stdout.trim().split('\n').slice(-3).join(' | ')}`,
      );
    return ok ? 0 : 1;
  });
}
