import { randomBytes } from 'node:crypto';
import { quote } from '../transports/quote.js';
import { mainPidScript } from '../resources/systemd.js';
import { phpFacts } from '../facts/host.js';
import { DOCROOT } from './layout.js';
import type { Evidence, StepContext } from '../runner/types.js';
import { waitBpftraceAttached, waitLoop } from '../resources/wait.js';
import { hostScript } from '../render/script.js';

/** Why USDT evidence cannot exist on this host (never counted as passing). */
export const noUsdtReason = (version: string) =>
  `PHP ${version} on this host is built without DTrace (no USDT notes in its module or fpm binary; Ubuntu 24.04's PHP 8.3 is, LP #2088977), so its USDT probes cannot fire`;

function withoutUsdt(version: string): Evidence[] {
  const what = [
    'USDT probes in the loaded mod_php module',
    'USDT probes in the running php-fpm binary',
    ...['mod_php', 'php-fpm'].flatMap((s) =>
      ['request__startup', 'compile__file__entry'].map((p) => `bpftrace saw a ${s} request on ${p}`),
    ),
  ];
  return what.map((w) => ({ ok: false, skipped: true, what: w, detail: noUsdtReason(version) }));
}

/**
 * bpftrace 0.2x reads /proc/modules at start and gives up when the kernel has none (built
 * without loadable modules, like the kernel under this project's sandboxes; Ubuntu's and
 * Debian's kernels have it). Then nothing bpftrace would show can be checked: say why, as
 * NOT VERIFIED, never as a failure of the lab or as passing.
 */
export function bpftraceCannotStart(output: string): string | undefined {
  if (!/Error reading modules from \/proc\/modules/.test(output)) return undefined;
  return "bpftrace cannot start on this kernel: it has no /proc/modules (no loadable-module support), which this bpftrace reads at start; Ubuntu's and Debian's own kernels have it";
}

/** PHP's USDT probes (provider `php`), as listed by `bpftrace -l`. */
export const PHP_PROBES = [
  'request__startup',
  'request__shutdown',
  'compile__file__entry',
  'compile__file__return',
  'execute__entry',
  'execute__return',
  'function__entry',
  'function__return',
  'exception__thrown',
  'exception__caught',
  'error',
];

/**
 * Evidence that tracing works end to end, gathered in one remote script: the PHP
 * module and fpm binary actually loaded by the running masters, the USDT probes in
 * them, and bpftrace seeing a real request (request__startup) and the compile of a
 * fresh file (compile__file__entry, even with opcache on) for both SAPIs.
 */
export async function proveUsdt(ctx: StepContext): Promise<Evidence[]> {
  const f = await ctx.facts();
  const p = phpFacts(f);
  if (!f.php?.usdt) return withoutUsdt(p.version);
  const tok = randomBytes(5).toString('hex');
  const page = `.ebpf-lab-probe-${tok}.php`;
  const script = hostScript('prove-usdt', {
    APACHE_PID: mainPidScript('apache2.service'),
    FPM_PID: mainPidScript(p.fpmUnit),
    PAGE: quote(`${DOCROOT}/${page}`),
    PAGE_NAME: page,
    TOKEN: tok,
    WAIT_ATTACHED: waitBpftraceAttached('"$out"', 15),
    WAIT_EXIT: waitLoop('! kill -0 $bp 2>/dev/null', {
      tries: 40,
      every: 0.25,
      each: 'curl -s -m 2 -o /dev/null http://127.0.0.1/index.php',
    }),
  });
  const r = await ctx.host.exec({ script }, { sudo: true, nothrow: true, timeoutMs: 60_000 });
  const line = (k: string) =>
    (r.stdout.split('\n').find((l) => l.startsWith(k + ' ')) ?? '').slice(k.length + 1).trim();
  const blocked = bpftraceCannotStart(r.stdout);
  if (blocked)
    return withoutUsdt(p.version).map((e) => ({
      ...e,
      what: e.what.startsWith('USDT probes in the loaded')
        ? `${e.what} ${line('LIB')}`
        : e.what.startsWith('USDT probes in the running')
          ? `${e.what} ${line('BIN')}`
          : e.what,
      detail: blocked,
    }));
  const ev: Evidence[] = [];
  for (const [k, what, path] of [
    ['LIBPROBES', 'loaded mod_php module', line('LIB')],
    ['BINPROBES', 'running php-fpm binary', line('BIN')],
  ] as const) {
    const have = line(k).split(' ').filter(Boolean);
    const missing = PHP_PROBES.filter((x) => !have.includes(x));
    ev.push({
      ok: have.length > 0 && missing.length === 0,
      what: `USDT probes in the ${what} ${path || '(not found)'}`,
      detail: missing.length ? `missing: ${missing.join(', ')}` : `${have.length} probes: ${have.join(' ')}`,
    });
  }
  for (const sapi of ['apache', 'fpm']) {
    for (const kind of ['request', 'compile']) {
      const seen = r.stdout.split('\n').find((l) => l.startsWith(`SEEN ${sapi} ${kind} `) && l.includes(tok));
      const probeName = kind === 'request' ? 'request__startup' : 'compile__file__entry';
      if (kind === 'compile' && !ctx.options.dtrace) {
        // PHP fires compile__file__* only with USE_ZEND_DTRACE=1, which --dtrace off removes.
        ev.push({
          ok: false,
          skipped: true,
          what: `bpftrace saw a ${sapi === 'apache' ? 'mod_php' : 'php-fpm'} request on ${probeName}`,
          detail: 'not expected with --dtrace off: PHP fires compile probes only with USE_ZEND_DTRACE=1',
        });
        continue;
      }
      ev.push({
        ok: !!seen,
        what: `bpftrace saw a ${sapi === 'apache' ? 'mod_php' : 'php-fpm'} request on ${probeName}`,
        detail:
          seen ??
          `not seen; bpftrace said: ${
            r.stdout
              .split('\n')
              .filter((l) => /Attaching|ERROR/.test(l))
              .join(' | ') || r.stderr.slice(-200)
          }`,
      });
    }
  }
  return ev;
}
