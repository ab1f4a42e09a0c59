import type { RunEvent, RunSnapshot } from '../runner/events.js';
import { changeLabel, type StepResult } from '../runner/types.js';
import { colours, type Colours } from './colour.js';

export type OutputMode = 'tty' | 'plain' | 'json';
export type Verbosity = 'quiet' | 'normal' | 'verbose';

export interface Renderer {
  (e: RunEvent): void;
  /** Called once at the end (json prints its single object here). */
  finish(extra?: Record<string, unknown>): void;
}

export interface RenderOptions {
  /** Full diffs of changed files. */
  diff?: boolean;
  /** quiet: failures, what is missing and the summary; verbose: progress lines and full diffs too. */
  verbosity?: Verbosity;
  /** ANSI colours (tty only; see colourEnabled). */
  colour?: boolean;
  /** Plain output: after this many seconds without a line, say what the run is waiting for (0: never). */
  heartbeatSecs?: number;
}

/** The output mode: the flag, else live progress on a terminal that can redraw, else plain lines. */
export function pickOutput(flag: string | undefined, canRedraw: boolean): OutputMode {
  if (flag === 'tty' || flag === 'plain' || flag === 'json') return flag;
  return canRedraw ? 'tty' : 'plain';
}

const SYMBOL: Record<StepResult['status'], string> = {
  unchanged: '✓',
  changed: '✎',
  failed: '✗',
  skipped: '-',
  planned: '~',
};

/** A part of the lab that is missing: a step that could not run here, or a check NOT VERIFIED. */
export interface Missing {
  step: string;
  what: string;
  /** Why, and what to do about it (a skipped step's reason names the fix). */
  reason: string;
}

/**
 * What the lab lacks after a run without failures: steps skipped because they cannot run
 * here (a download failed offline, say) and checks that could not be made. Steps skipped
 * only because an earlier step failed are not listed: the run failed, and says so.
 */
export function missingParts(results: StepResult[]): Missing[] {
  const out: Missing[] = [];
  for (const r of results) {
    if (r.status === 'failed') break;
    if (r.status === 'skipped') out.push({ step: r.id, what: `${r.id} was skipped`, reason: r.notes[0] ?? '' });
    for (const e of r.evidence)
      if (e.skipped) out.push({ step: r.id, what: `NOT VERIFIED: ${e.what}`, reason: e.detail ?? '' });
  }
  return out;
}

/** The lines that say a lab is incomplete: what is missing, why, and what to do. */
export function incompleteLines(missing: Missing[]): string[] {
  if (missing.length === 0) return [];
  return [
    `the lab lacks ${missing.length} part(s); everything else is in place:`,
    ...missing.map((m) => `  ${m.step.padEnd(14)} ${m.what}${m.reason ? ` — ${m.reason}` : ''}`),
    'to complete it: do what the reasons above say (e.g. --mirror DIR|URL for downloads), then run `ebpf-lab up` again',
  ];
}

function changeLines(r: { changes: StepResult['changes'] }, diff: boolean): string[] {
  const out: string[] = [];
  for (const c of r.changes) {
    out.push(`    ${c.action} ${changeLabel(c)}${c.detail && !c.detail.includes('\n') ? `  (${c.detail})` : ''}`);
    if (diff && c.detail?.includes('\n')) out.push(...c.detail.split('\n').map((l) => '      ' + l));
  }
  return out;
}

type Line = { text: string; kind: 'head' | 'ok' | 'fail' | 'unverified' | 'detail' };

function evidenceLines(r: StepResult): Line[] {
  return r.evidence.map((e) => {
    const tail = `${e.what}${e.detail ? ` — ${e.detail}` : ''}`;
    if (e.skipped) return { text: `    ---- NOT VERIFIED: ${tail}`, kind: 'unverified' };
    return e.ok ? { text: `    ok   ${tail}`, kind: 'ok' } : { text: `    FAIL ${tail}`, kind: 'fail' };
  });
}

function stepLines(r: StepResult, diff: boolean, verbosity: Verbosity): Line[] {
  const secs = (r.durationMs / 1000).toFixed(1);
  const what =
    r.status === 'unchanged' || r.status === 'skipped'
      ? (r.notes[0] ?? r.status)
      : r.status === 'failed'
        ? 'FAILED'
        : `${r.changes.length} change(s)`;
  const head = `${SYMBOL[r.status]} ${r.id.padEnd(14)} ${r.status.padEnd(9)} ${secs.padStart(6)}s  ${what}`;
  const evidence = evidenceLines(r);
  if (verbosity === 'quiet') {
    // Only what needs attention: a failed or skipped step, a failed or unverified check.
    const bad = evidence.filter((l) => l.kind !== 'ok');
    if (r.status !== 'failed' && r.status !== 'skipped' && bad.length === 0) return [];
    return [
      { text: head, kind: 'head' },
      ...bad,
      ...(r.error ? r.error.split('\n').map((l) => ({ text: '    ' + l, kind: 'detail' as const })) : []),
    ];
  }
  const lines: Line[] = [{ text: head, kind: 'head' }];
  if (r.status !== 'unchanged' || diff)
    lines.push(...changeLines(r, diff).map((text) => ({ text, kind: 'detail' as const })));
  lines.push(...evidence);
  if (r.error) lines.push(...r.error.split('\n').map((l) => ({ text: '    ' + l, kind: 'detail' as const })));
  return lines;
}

export function totals(results: StepResult[]): string {
  const n = (s: StepResult['status']) => results.filter((r) => r.status === s).length;
  const changes = results.reduce(
    (a, r) => a + (r.status === 'changed' || r.status === 'planned' ? r.changes.length : 0),
    0,
  );
  const ev = results.flatMap((r) => r.evidence);
  const checks = ev.length
    ? `; checks: ${ev.filter((e) => e.ok).length} passed, ${ev.filter((e) => !e.ok && !e.skipped).length} failed, ${ev.filter((e) => e.skipped).length} NOT VERIFIED`
    : '';
  return `${n('changed')} changed, ${n('unchanged')} unchanged, ${n('planned')} planned, ${n('failed')} failed, ${n('skipped')} skipped; ${changes} change(s)${checks}`;
}

const DOING = {
  check: 'checking',
  apply: 'applying',
  recheck: 'checking again',
  verify: 'verifying',
  prove: 'proving',
};

/** ok, INCOMPLETE (no failure, but parts missing) or FAILED. */
function verdict(e: Extract<RunEvent, { kind: 'run:end' }>): 'ok' | 'INCOMPLETE' | 'FAILED' {
  if (!e.ok) return 'FAILED';
  return missingParts(e.results).length ? 'INCOMPLETE' : 'ok';
}

/**
 * Plain lines, one per event that matters: for CI logs and pipes. During a long phase with
 * nothing to print (a base image build, a package installation) a line says what the run is
 * waiting for at least every `heartbeatSecs` seconds.
 */
export function plainRenderer(write: (s: string) => void, diffOrOptions: boolean | RenderOptions = true): Renderer {
  const o: RenderOptions = typeof diffOrOptions === 'boolean' ? { diff: diffOrOptions } : diffOrOptions;
  const verbosity = o.verbosity ?? 'normal';
  const diff = o.diff ?? true;
  const beat = (o.heartbeatSecs ?? 15) * 1000;
  let since = Date.now();
  let activity = '';
  let timer: NodeJS.Timeout | undefined;
  let finished = false;
  // Re-armed by every line: the heartbeat comes exactly `beat` after the last line.
  const arm = () => {
    clearTimeout(timer);
    if (finished || beat <= 0) return;
    timer = setTimeout(() => {
      if (activity) out(`  … still working, ${Math.round((Date.now() - since) / 1000)}s so far: ${activity}`);
      else arm();
    }, beat);
    timer.unref();
  };
  const out = (s: string) => {
    write(s);
    arm();
  };
  const doing = (what: string) => {
    activity = what;
    since = Date.now();
  };
  const r = ((e: RunEvent) => {
    if (e.kind === 'run:start') {
      if (verbosity !== 'quiet') out(`${e.mode} on ${e.host}: ${e.steps.join(', ')}`);
      doing(`${e.mode} on ${e.host}`);
    } else if (e.kind === 'note') {
      if (verbosity !== 'quiet') out(e.line);
      doing(e.line);
    } else if (e.kind === 'step:start') doing(`${e.id}: checking`);
    else if (e.kind === 'step:phase') {
      if (e.phase === 'apply' && verbosity !== 'quiet') out(`  ${e.id}: applying`);
      doing(`${e.id}: ${DOING[e.phase]}`);
    } else if (e.kind === 'step:progress') {
      if (verbosity === 'verbose') out(`    | ${e.line}`);
      activity = `${activity.replace(/ \u2014 .*$/, '')} — ${e.line.replace(/\s+/g, ' ').slice(0, 160)}`;
    } else if (e.kind === 'step:end') {
      stepLines(e.result, diff || verbosity === 'verbose', verbosity).forEach((l) => out(l.text));
      doing('');
    } else if (e.kind === 'run:end') {
      out(`${verdict(e)}: ${totals(e.results)} in ${(e.durationMs / 1000).toFixed(1)}s`);
      if (e.ok) incompleteLines(missingParts(e.results)).forEach(out);
      doing('');
    }
  }) as Renderer;
  arm();
  r.finish = () => {
    finished = true;
    clearTimeout(timer);
  };
  return r;
}

/**
 * What only the log gets while the screen shows less: progress lines and full diffs
 * (the screen renderer prints everything else, and the log copies the screen).
 */
export function detailRenderer(write: (s: string) => void, screenShowsDiffs: boolean): Renderer {
  const r = ((e: RunEvent) => {
    if (e.kind === 'step:progress') write(`    | ${e.id}: ${e.line}`);
    else if (e.kind === 'step:end' && !screenShowsDiffs) {
      const diffs = changeLines(e.result, true);
      if (diffs.some((l) => l.startsWith('      '))) [`  ${e.result.id}: full diff`, ...diffs].forEach(write);
    }
  }) as Renderer;
  r.finish = () => {};
  return r;
}

/**
 * One JSON object at the end: ok (no failure), complete (nothing missing) and what is
 * missing, per step status, changes, notes, evidence, duration. A run that failed before it
 * started (extra.error) is never ok.
 */
export function jsonRenderer(write: (s: string) => void): Renderer {
  const runs: {
    host: string;
    mode: string;
    ok: boolean;
    durationMs: number;
    roundTrips?: number;
    snapshot?: RunSnapshot;
    steps: StepResult[];
  }[] = [];
  const notes: string[] = [];
  const r = ((e: RunEvent) => {
    if (e.kind === 'note') notes.push(e.line);
    if (e.kind === 'run:end')
      runs.push({
        host: e.host,
        mode: e.mode,
        ok: e.ok,
        durationMs: Math.round(e.durationMs),
        roundTrips: e.roundTrips,
        snapshot: e.snapshot,
        // Each change with its label first (`resource`: "file:/etc/x"), then its typed fields.
        steps: e.results.map((s) => ({ ...s, changes: s.changes.map((c) => ({ resource: changeLabel(c), ...c })) })),
      });
  }) as Renderer;
  r.finish = (extra = {}) => {
    const ok = runs.length > 0 && runs.every((x) => x.ok) && extra['error'] === undefined;
    const missing = runs.flatMap((x) => missingParts(x.steps));
    write(JSON.stringify({ ok, complete: ok && missing.length === 0, missing, runs, notes, ...extra }, null, 2));
  };
  return r;
}

/** Live progress on a terminal: a spinner line for the running step, summaries above it. */
export function ttyRenderer(stream: NodeJS.WriteStream, diffOrOptions: boolean | RenderOptions = false): Renderer {
  const o: RenderOptions = typeof diffOrOptions === 'boolean' ? { diff: diffOrOptions } : diffOrOptions;
  const verbosity = o.verbosity ?? 'normal';
  const diff = (o.diff ?? false) || verbosity === 'verbose';
  const c: Colours = colours(o.colour ?? true);
  const frames = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];
  let current: { id: string; phase: string; line: string; t0: number } | undefined;
  let i = 0;
  const cols = () => stream.columns || 100;
  const clear = () => stream.write('\r\x1b[2K');
  const draw = () => {
    if (!current) return;
    const secs = ((Date.now() - current.t0) / 1000).toFixed(0);
    const text = `${frames[i++ % frames.length]} ${current.id} ${current.phase} ${secs}s ${current.line}`;
    clear();
    stream.write(text.slice(0, cols() - 1));
  };
  const timer = setInterval(draw, 100);
  timer.unref();
  const out = (s: string) => {
    clear();
    stream.write(s + '\n');
  };
  const paint = (status: StepResult['status'], l: Line): string => {
    if (l.kind === 'head') return colour(c, status, l.text);
    if (l.kind === 'fail') return c.red(l.text);
    if (l.kind === 'unverified') return c.bold(c.yellow(l.text));
    return c.dim(l.text);
  };
  const r = ((e: RunEvent) => {
    if (e.kind === 'run:start') {
      if (verbosity !== 'quiet') out(`${c.bold(e.mode)} on ${e.host}`);
    } else if (e.kind === 'note') {
      if (verbosity !== 'quiet') out(e.line);
    } else if (e.kind === 'step:start') current = { id: e.id, phase: 'check', line: '', t0: Date.now() };
    else if (e.kind === 'step:phase' && current) current.phase = e.phase;
    else if (e.kind === 'step:progress' && current) {
      current.line = e.line.replace(/\s+/g, ' ');
      if (verbosity === 'verbose') out(c.dim(`    | ${e.line}`));
    } else if (e.kind === 'step:end') {
      current = undefined;
      stepLines(e.result, diff, verbosity).forEach((l) => out(paint(e.result.status, l)));
    } else if (e.kind === 'run:end') {
      const v = verdict(e);
      const word = v === 'ok' ? c.green('ok') : v === 'FAILED' ? c.red('FAILED') : c.bold(c.yellow('INCOMPLETE'));
      out(`${word}: ${totals(e.results)} in ${(e.durationMs / 1000).toFixed(1)}s`);
      if (e.ok) incompleteLines(missingParts(e.results)).forEach((l, n) => out(n === 0 ? c.yellow(l) : l));
    }
    draw();
  }) as Renderer;
  r.finish = () => {
    clearInterval(timer);
    clear();
  };
  return r;
}

function colour(c: Colours, s: StepResult['status'], line: string): string {
  if (s === 'failed') return c.red(line);
  if (s === 'changed' || s === 'planned') return c.yellow(line);
  // A skipped step leaves the lab incomplete: it stands out, it is not "done".
  if (s === 'skipped') return c.magenta(line);
  return c.green(line);
}

export function makeRenderer(mode: OutputMode, o: RenderOptions = {}): Renderer {
  if (mode === 'json') return jsonRenderer((s) => process.stdout.write(s + '\n'));
  if (mode === 'tty') return ttyRenderer(process.stdout, o);
  return plainRenderer((s) => process.stdout.write(s + '\n'), o);
}
