import type { RunEvent } from '../runner/events.js';
import { changeLabel, type StepResult } from '../runner/types.js';

export type OutputMode = 'tty' | 'plain' | 'json';

export interface Renderer {
  (e: RunEvent): void;
  /** Called once at the end (json prints its single object here). */
  finish(extra?: Record<string, unknown>): void;
}

export function pickOutput(flag: string | undefined, isTTY: boolean): OutputMode {
  if (flag === 'tty' || flag === 'plain' || flag === 'json') return flag;
  return isTTY ? 'tty' : 'plain';
}

const SYMBOL: Record<StepResult['status'], string> = {
  unchanged: '✓',
  changed: '✎',
  failed: '✗',
  skipped: '-',
  planned: '~',
};

function changeLines(r: { changes: StepResult['changes'] }, diff: boolean): string[] {
  const out: string[] = [];
  for (const c of r.changes) {
    out.push(`    ${c.action} ${changeLabel(c)}${c.detail && !c.detail.includes('\n') ? `  (${c.detail})` : ''}`);
    if (diff && c.detail?.includes('\n')) out.push(...c.detail.split('\n').map((l) => '      ' + l));
  }
  return out;
}

function evidenceLines(r: StepResult): string[] {
  return r.evidence.map(
    (e) => `    ${e.skipped ? 'SKIP' : e.ok ? 'ok  ' : 'FAIL'} ${e.what}${e.detail ? ` — ${e.detail}` : ''}`,
  );
}

function stepSummary(r: StepResult, diff: boolean): string[] {
  const secs = (r.durationMs / 1000).toFixed(1);
  const what =
    r.status === 'unchanged' || r.status === 'skipped'
      ? (r.notes[0] ?? r.status)
      : r.status === 'failed'
        ? 'FAILED'
        : `${r.changes.length} change(s)`;
  const lines = [`${SYMBOL[r.status]} ${r.id.padEnd(14)} ${r.status.padEnd(9)} ${secs.padStart(6)}s  ${what}`];
  if (r.status !== 'unchanged' || diff) lines.push(...changeLines(r, diff));
  lines.push(...evidenceLines(r));
  if (r.error) lines.push(...r.error.split('\n').map((l) => '    ' + l));
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

/** Plain lines, one per event that matters: for CI logs and pipes. */
export function plainRenderer(write: (s: string) => void, diff = true): Renderer {
  const r = ((e: RunEvent) => {
    if (e.kind === 'run:start') write(`${e.mode} on ${e.host}: ${e.steps.join(', ')}`);
    else if (e.kind === 'note') write(e.line);
    else if (e.kind === 'step:phase' && e.phase === 'apply') write(`  ${e.id}: applying`);
    else if (e.kind === 'step:end') stepSummary(e.result, diff).forEach(write);
    else if (e.kind === 'run:end')
      write(`${e.ok ? 'ok' : 'FAILED'}: ${totals(e.results)} in ${(e.durationMs / 1000).toFixed(1)}s`);
  }) as Renderer;
  r.finish = () => {};
  return r;
}

/** One JSON object at the end: per step status, changes, notes, evidence, duration. */
export function jsonRenderer(write: (s: string) => void): Renderer {
  const runs: unknown[] = [];
  const notes: string[] = [];
  const r = ((e: RunEvent) => {
    if (e.kind === 'note') notes.push(e.line);
    if (e.kind === 'run:end')
      runs.push({
        host: e.host,
        mode: e.mode,
        ok: e.ok,
        durationMs: Math.round(e.durationMs),
        // Each change with its label first (`resource`: "file:/etc/x"), then its typed fields.
        steps: e.results.map((s) => ({ ...s, changes: s.changes.map((c) => ({ resource: changeLabel(c), ...c })) })),
      });
  }) as Renderer;
  r.finish = (extra = {}) =>
    write(JSON.stringify({ ok: runs.every((x) => (x as { ok: boolean }).ok), runs, notes, ...extra }, null, 2));
  return r;
}

/** Live progress on a terminal: a spinner line for the running step, summaries above it. */
export function ttyRenderer(stream: NodeJS.WriteStream, diff = false): Renderer {
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
  const r = ((e: RunEvent) => {
    if (e.kind === 'run:start') out(`\x1b[1m${e.mode}\x1b[0m on ${e.host}`);
    else if (e.kind === 'note') out(e.line);
    else if (e.kind === 'step:start') current = { id: e.id, phase: 'check', line: '', t0: Date.now() };
    else if (e.kind === 'step:phase' && current) current.phase = e.phase;
    else if (e.kind === 'step:progress' && current) current.line = e.line.replace(/\s+/g, ' ');
    else if (e.kind === 'step:end') {
      current = undefined;
      stepSummary(e.result, diff).forEach((l, n) => out(n === 0 ? colour(e.result.status, l) : `\x1b[2m${l}\x1b[0m`));
    } else if (e.kind === 'run:end')
      out(
        `${e.ok ? '\x1b[32mok\x1b[0m' : '\x1b[31mFAILED\x1b[0m'}: ${totals(e.results)} in ${(e.durationMs / 1000).toFixed(1)}s`,
      );
    draw();
  }) as Renderer;
  r.finish = () => {
    clearInterval(timer);
    clear();
  };
  return r;
}

function colour(s: StepResult['status'], line: string): string {
  const c = s === 'failed' ? 31 : s === 'changed' || s === 'planned' ? 33 : s === 'skipped' ? 2 : 32;
  return `\x1b[${c}m${line}\x1b[0m`;
}

export function makeRenderer(mode: OutputMode, diff: boolean): Renderer {
  if (mode === 'json') return jsonRenderer((s) => process.stdout.write(s + '\n'));
  if (mode === 'tty') return ttyRenderer(process.stdout, diff);
  return plainRenderer((s) => process.stdout.write(s + '\n'), diff);
}
