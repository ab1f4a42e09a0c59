// Honest output and the conventions of other command-line tools: a lab with a step skipped
// (a failed download) is INCOMPLETE, never a green ok, in text and JSON; a run that failed
// before it started is never ok; NOT VERIFIED stands out; NO_COLOR/FORCE_COLOR/TERM=dumb;
// a heartbeat in plain output; the run log (0600 in 0700, secrets masked, says where).
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { exitCode } from '../../src/commands/run.js';
import { canRedraw, colourEnabled } from '../../src/render/colour.js';
import {
  jsonRenderer,
  missingParts,
  pickOutput,
  plainRenderer,
  ttyRenderer,
  type Renderer,
} from '../../src/render/report.js';
import type { RunEvent } from '../../src/runner/events.js';
import { runSteps } from '../../src/runner/run.js';
import type { Step, StepResult } from '../../src/runner/types.js';
import { DEFAULT_OPTIONS } from '../../src/options.js';
import { startRunLog } from '../../src/runlog.js';
import { FakeTransport } from '../../src/transports/fake.js';

/** A step that converges a counter; `skip` makes prepare say why it cannot run (a failed download). */
function step(id: string, o: { skip?: string; unverified?: boolean } = {}): Step {
  let n = 0;
  return {
    id,
    title: `step ${id}`,
    prepare: async () => o.skip,
    check: async () => ({
      changes: n ? [] : [{ kind: 'step' as const, step: `counter:${id}`, action: 'configure' as const }],
      notes: [],
    }),
    apply: async () => void (n = 1),
    verify: async () =>
      o.unverified
        ? [{ ok: false, skipped: true, what: `${id} component answers`, detail: 'not installed on this host' }]
        : [{ ok: true, what: `${id} works` }],
  };
}

async function render(r: Renderer, steps: Step[], mode: 'up' | 'plan' | 'verify' = 'up'): Promise<StepResult[]> {
  const results = await runSteps({
    host: new FakeTransport(),
    steps,
    options: DEFAULT_OPTIONS,
    mode,
    emit: r,
    secret: async () => 'x',
  });
  r.finish();
  return results;
}

const SKIP =
  'cannot fetch ebpf_exporter 2.5.1: ENOTFOUND github.com. Give a local copy with --mirror DIR|URL, or leave the step out with --skip exporter';

describe('a step skipped because its download failed', () => {
  it('plain: the summary says INCOMPLETE, not ok, and names what is missing and what to do', async () => {
    const out: string[] = [];
    await render(
      plainRenderer((s) => out.push(s)),
      [step('php'), step('exporter', { skip: SKIP }), step('bt')],
    );
    const text = out.join('\n');
    expect(text).not.toMatch(/^ok:/m);
    expect(text).toMatch(/^INCOMPLETE: 2 changed, 0 unchanged, 0 planned, 0 failed, 1 skipped/m);
    expect(text).toMatch(/^the lab lacks 1 part\(s\); everything else is in place:$/m);
    expect(text).toContain(`  exporter       exporter was skipped — ${SKIP}`);
    expect(text).toMatch(/^to complete it: .*--mirror DIR\|URL.* then run `ebpf-lab up` again$/m);
  });

  it('json: ok (nothing failed) but complete: false, with the list', async () => {
    const out: string[] = [];
    await render(
      jsonRenderer((s) => out.push(s)),
      [step('php'), step('exporter', { skip: SKIP })],
    );
    const json = JSON.parse(out[0]!);
    expect(json).toMatchObject({
      ok: true,
      complete: false,
      missing: [{ step: 'exporter', what: 'exporter was skipped', reason: SKIP }],
    });
  });

  it('a complete lab is ok and complete', async () => {
    const out: string[] = [];
    await render(
      jsonRenderer((s) => out.push(s)),
      [step('php')],
    );
    expect(JSON.parse(out[0]!)).toMatchObject({ ok: true, complete: true, missing: [] });
  });

  it('exit code: 0 by default; 4 with --detailed-exitcode; 3 for a plan with changes; 1 for a failure', async () => {
    const incomplete = await render(
      plainRenderer(() => {}),
      [step('php'), step('x', { skip: SKIP })],
    );
    expect(exitCode(incomplete, false)).toBe(0);
    expect(exitCode(incomplete, true)).toBe(4);
    const planned = await render(
      plainRenderer(() => {}),
      [step('php'), step('x', { skip: SKIP })],
      'plan',
    );
    expect(exitCode(planned, true)).toBe(3);
    const complete = await render(
      plainRenderer(() => {}),
      [step('php')],
    );
    expect(exitCode(complete, true)).toBe(0);
    const failed: StepResult[] = [{ ...complete[0]!, status: 'failed' }];
    expect(exitCode(failed, true)).toBe(1);
  });

  it('steps skipped only because an earlier one failed are not "missing": the run failed', () => {
    const r = (id: string, status: StepResult['status'], notes: string[] = []): StepResult => ({
      id,
      title: id,
      status,
      changes: [],
      notes,
      evidence: [],
      durationMs: 0,
    });
    expect(missingParts([r('a', 'failed'), r('b', 'skipped', ['not run: an earlier step failed'])])).toEqual([]);
  });
});

describe('--output json never says ok for a run that failed before it started', () => {
  it('no run and an error: ok false, complete false, the error', () => {
    const out: string[] = [];
    const r = jsonRenderer((s) => out.push(s));
    r({ kind: 'note', line: 'booting sandbox x' });
    r.finish({ error: { kind: 'failed', message: 'sshd did not answer', exitCode: 1 } });
    expect(JSON.parse(out[0]!)).toMatchObject({
      ok: false,
      complete: false,
      runs: [],
      notes: ['booting sandbox x'],
      error: { kind: 'failed', message: 'sshd did not answer' },
    });
  });

  it('no run and no error either: still not ok', () => {
    const out: string[] = [];
    const r = jsonRenderer((s) => out.push(s));
    r.finish();
    expect(JSON.parse(out[0]!).ok).toBe(false);
  });
});

describe('NOT VERIFIED stands out from passing checks', () => {
  it('plain: its own marker; tty: bold yellow, passing lines dim', async () => {
    const out: string[] = [];
    await render(
      plainRenderer((s) => out.push(s)),
      [step('php'), step('grafana', { unverified: true })],
      'verify',
    );
    expect(out).toContain('    ok   php works');
    expect(out).toContain('    ---- NOT VERIFIED: grafana component answers — not installed on this host');
    let tty = '';
    const stream = { write: (s: string) => ((tty += s), true), columns: 200 } as unknown as NodeJS.WriteStream;
    await render(ttyRenderer(stream, { colour: true }), [step('php'), step('grafana', { unverified: true })], 'verify');
    expect(tty).toContain('\x1b[1m\x1b[33m    ---- NOT VERIFIED: grafana component answers');
    expect(tty).toContain('\x1b[2m    ok   php works');
  });

  it('quiet: only what needs attention and the summary', async () => {
    const out: string[] = [];
    await render(
      plainRenderer((s) => out.push(s), { verbosity: 'quiet' }),
      [step('php'), step('grafana', { unverified: true })],
    );
    expect(out.some((l) => l.includes('php works'))).toBe(false);
    expect(out.some((l) => l.includes('NOT VERIFIED: grafana'))).toBe(true);
    expect(out.some((l) => /^INCOMPLETE: /.test(l))).toBe(true);
  });
});

describe('colour and terminals', () => {
  it('NO_COLOR turns colour off, FORCE_COLOR on, TERM=dumb off; otherwise a terminal decides', () => {
    const tty = { isTTY: true };
    const pipe = { isTTY: false };
    expect(colourEnabled(tty, {})).toBe(true);
    expect(colourEnabled(pipe, {})).toBe(false);
    expect(colourEnabled(tty, { NO_COLOR: '1' })).toBe(false);
    expect(colourEnabled(tty, { NO_COLOR: '' })).toBe(true);
    expect(colourEnabled(pipe, { FORCE_COLOR: '1' })).toBe(true);
    expect(colourEnabled(tty, { FORCE_COLOR: '0' })).toBe(false);
    expect(colourEnabled(tty, { TERM: 'dumb' })).toBe(false);
    expect(canRedraw(tty, { TERM: 'dumb' })).toBe(false);
    expect(pickOutput(undefined, canRedraw(tty, { TERM: 'dumb' }))).toBe('plain');
    expect(pickOutput(undefined, canRedraw(tty, {}))).toBe('tty');
    expect(pickOutput('json', false)).toBe('json');
  });

  it('without colour the tty renderer writes no colour codes', async () => {
    let tty = '';
    const stream = { write: (s: string) => ((tty += s), true), columns: 200 } as unknown as NodeJS.WriteStream;
    await render(ttyRenderer(stream, { colour: false }), [step('php')]);
    // only the line-clearing sequence of the live line, no SGR colour codes
    expect(tty).not.toMatch(/\x1b\[[0-9;]*m/);
  });
});

describe('plain output during a long phase', () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it('prints at least every 15 s what it is waiting for', () => {
    const out: string[] = [];
    const r = plainRenderer((s) => out.push(s));
    const ev = (e: RunEvent) => r(e);
    ev({ kind: 'note', line: 'building base root filesystem (about 30 s)' });
    vi.advanceTimersByTime(14_000);
    expect(out).toHaveLength(1);
    vi.advanceTimersByTime(2_000);
    expect(out.at(-1)).toMatch(/^ {2}… still working, 1[5-9]s so far: building base root filesystem/);
    ev({ kind: 'step:start', id: 'packages', title: 'packages' });
    ev({ kind: 'step:phase', id: 'packages', phase: 'apply' });
    ev({ kind: 'step:progress', id: 'packages', line: 'Unpacking clang-14 ...' });
    vi.advanceTimersByTime(31_000);
    const beats = out.filter((l) => l.includes('packages: applying — Unpacking clang-14'));
    expect(beats.length).toBe(2);
    r.finish();
    vi.advanceTimersByTime(60_000);
    expect(out.filter((l) => l.includes('packages: applying')).length).toBe(3); // the "applying" line + 2 beats
  });
});

describe('the run log', () => {
  let home: string;
  const saved = process.env['EBPF_LAB_HOME'];
  beforeEach(() => {
    home = mkdtempSync(join(tmpdir(), 'ebpf-lab-log-'));
    process.env['EBPF_LAB_HOME'] = home;
  });
  afterEach(() => {
    if (saved === undefined) delete process.env['EBPF_LAB_HOME'];
    else process.env['EBPF_LAB_HOME'] = saved;
    rmSync(home, { recursive: true, force: true });
  });

  it('is created at its first line, 0600 in a 0700 directory, and holds what was printed (no colour, no spinner)', () => {
    const log = startRunLog('up', ['up', '--target', 'sandbox'], '0.1.0');
    expect(log.written).toBe(false);
    expect(log.path.startsWith(join(home, 'logs') + '/')).toBe(true);
    const stdout = vi.spyOn(process.stdout, 'write').mockImplementation(() => true);
    log.attach();
    try {
      process.stdout.write('\x1b[32mok\x1b[0m: 1 changed\n');
      process.stdout.write('\r\x1b[2K⠋ php check 0s');
      process.stdout.write('\r\x1b[2K✓ php unchanged\n');
    } finally {
      log.detach();
      stdout.mockRestore();
    }
    log.line('    | packages: Unpacking clang');
    const text = readFileSync(log.path, 'utf8');
    expect(text).toMatch(/^# ebpf-lab 0\.1\.0: ebpf-lab up --target sandbox\n/);
    expect(text).toMatch(/\] ok: 1 changed\n/);
    expect(text).toMatch(/\] ✓ php unchanged\n/);
    expect(text).not.toContain('⠋');
    expect(text).toContain('| packages: Unpacking clang');
    expect(statSync(log.path).mode & 0o777).toBe(0o600);
    expect(statSync(join(home, 'logs')).mode & 0o777).toBe(0o700);
  });

  it('never holds a lab secret, also one generated during the run', () => {
    const log = startRunLog('status', ['status'], '0.1.0');
    log.line('starting');
    mkdirSync(join(home, 'secrets'), { recursive: true });
    writeFileSync(join(home, 'secrets', 'sandbox_default.grafana'), 'Zq3vN8s-secret-value\n');
    log.line('grafana http://127.0.0.1:3000 admin password Zq3vN8s-secret-value');
    expect(readFileSync(log.path, 'utf8')).not.toContain('Zq3vN8s-secret-value');
    expect(readFileSync(log.path, 'utf8')).toContain('admin password ********');
  });

  it('a run that writes nothing leaves no file', () => {
    startRunLog('up', ['up'], '0.1.0');
    expect(readdirSync(home)).toEqual([]);
  });
});
