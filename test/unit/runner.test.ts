import { describe, expect, it } from 'vitest';
import { runSteps, selectSteps } from '../../src/runner/run.js';
import { runProbes, probe } from '../../src/resources/probe.js';
import { connectLocal } from '../../src/transports/local.js';
import { FakeTransport } from '../../src/transports/fake.js';
import { jsonRenderer, plainRenderer } from '../../src/render/report.js';
import { DEFAULT_OPTIONS } from '../../src/options.js';
import { RunAborted, UserError } from '../../src/errors.js';
import type { RunEvent } from '../../src/runner/events.js';
import type { Step } from '../../src/runner/types.js';

/** A step over a counter: converges when apply closes the gap. */
function counterStep(id: string, state: { n: number }, want: number, opts: { broken?: boolean } = {}): Step {
  return {
    id,
    title: `${id} reaches ${want}`,
    async check() {
      return state.n === want
        ? { changes: [], notes: [`${id} is ${want}`] }
        : {
            changes: [
              { kind: 'file', path: `/counter/${id}`, action: 'update', detail: `${state.n} -> ${want}` } as const,
            ],
            notes: [],
          };
    },
    async apply() {
      if (!opts.broken) state.n = want;
    },
    async verify() {
      return [{ ok: state.n === want, what: `${id} = ${want}` }];
    },
  };
}

const run = (steps: Step[], mode: 'up' | 'plan' | 'verify' = 'up') => {
  const events: RunEvent[] = [];
  const host = new FakeTransport();
  return runSteps({ host, steps, options: DEFAULT_OPTIONS, mode, emit: (e) => events.push(e) }).then((results) => ({
    results,
    events,
  }));
};

describe('runner', () => {
  it('up converges, then a second up changes nothing', async () => {
    const a = { n: 0 };
    const b = { n: 5 };
    const first = await run([counterStep('a', a, 1), counterStep('b', b, 5)]);
    expect(first.results.map((r) => [r.id, r.status, r.changes.length])).toEqual([
      ['a', 'changed', 1],
      ['b', 'unchanged', 0],
    ]);
    const second = await run([counterStep('a', a, 1), counterStep('b', b, 5)]);
    expect(second.results.map((r) => r.status)).toEqual(['unchanged', 'unchanged']);
    expect(second.results[0]!.notes).toEqual(['a is 1']);
  });

  it('plan only checks: nothing is applied', async () => {
    const a = { n: 0 };
    const { results } = await run([counterStep('a', a, 1)], 'plan');
    expect(results[0]!.status).toBe('planned');
    expect(a.n).toBe(0);
  });

  it('plan marks steps that build on a planned step (directly or through another) as a lower bound', async () => {
    const a = counterStep('a', { n: 0 }, 1);
    const b = { ...counterStep('b', { n: 1 }, 1), needs: ['a'] };
    const c = { ...counterStep('c', { n: 1 }, 1), needs: ['b'] };
    const d = counterStep('d', { n: 1 }, 1);
    const { results } = await run([a, b, c, d], 'plan');
    expect(results.map((r) => r.status)).toEqual(['planned', 'unchanged', 'unchanged', 'unchanged']);
    expect(results[1]!.notes).toContain('may change more once a is applied: checked against the host as it is now');
    expect(results[1]!.notes[0]).toMatch(/^may change more/);
    expect(results[2]!.notes.some((n) => n.startsWith('may change more once b is applied'))).toBe(true);
    expect(results[3]!.notes).toEqual(['d is 1']);
    const up = await run([counterStep('a', { n: 0 }, 1), { ...counterStep('b', { n: 1 }, 1), needs: ['a'] }]);
    expect(up.results[1]!.notes).toEqual(['b is 1']);
  });

  it('a step whose apply leaves a change pending fails (does not converge) and later steps are skipped', async () => {
    const { results, events } = await run([
      counterStep('a', { n: 0 }, 1, { broken: true }),
      counterStep('b', { n: 0 }, 1),
    ]);
    expect(results[0]!.status).toBe('failed');
    expect(results[0]!.error).toMatch(/does not converge: still pending after apply: update file:\/counter\/a/);
    expect(results[1]!.status).toBe('skipped');
    const end = events.find((e) => e.kind === 'run:end');
    expect(end?.kind === 'run:end' && end.ok).toBe(false);
  });

  it('a failed verify fails the step with its evidence', async () => {
    const bad: Step = {
      ...counterStep('v', { n: 1 }, 1),
      verify: async () => [{ ok: false, what: 'port 80 answers', detail: 'connection refused' }],
    };
    const { results } = await run([bad], 'verify');
    expect(results[0]!.status).toBe('failed');
    expect(results[0]!.evidence).toEqual([{ ok: false, what: 'port 80 answers', detail: 'connection refused' }]);
  });

  it('a skipped evidence item is reported but never counted as passing or failing', async () => {
    const s: Step = {
      ...counterStep('s', { n: 1 }, 1),
      verify: async () => [{ ok: false, skipped: true, what: 'Grafana not installed' }],
    };
    const { results } = await run([s], 'verify');
    expect(results[0]!.status).toBe('unchanged');
    expect(results[0]!.evidence[0]!.skipped).toBe(true);
  });

  it('a user error in check stops the run (exit 2 path), not a step failure', async () => {
    const s: Step = {
      ...counterStep('x', { n: 0 }, 1),
      check: async () => {
        throw new UserError('unsupported OS');
      },
    };
    await expect(run([s])).rejects.toThrow(UserError);
  });

  it('selects steps with --only/--skip and rejects unknown ids', () => {
    const steps = ['a', 'b', 'c'].map((id) => counterStep(id, { n: 0 }, 0));
    expect(selectSteps(steps, ['a', 'c']).map((s) => s.id)).toEqual(['a', 'c']);
    expect(selectSteps(steps, undefined, ['b']).map((s) => s.id)).toEqual(['a', 'c']);
    expect(() => selectSteps(steps, ['nope'])).toThrow(/unknown step "nope".*/);
  });
});

describe('a run lock that cannot be taken', () => {
  it('stops the run at its first command: no step fails, the reason is thrown', async () => {
    const reason = new UserError('another ebpf-lab run is working on h', 'wait');
    const host = new FakeTransport();
    host.exec = async () => {
      throw new RunAborted(reason);
    };
    const probing: Step = {
      id: 'p',
      title: 'probes',
      async check(ctx) {
        await ctx.probe({ x: probe('true', (o) => o) });
        return { changes: [], notes: [] };
      },
      async apply() {},
    };
    const events: RunEvent[] = [];
    const e = await runSteps({
      host,
      steps: [probing, counterStep('b', { n: 0 }, 1)],
      options: DEFAULT_OPTIONS,
      mode: 'up',
      emit: (ev) => events.push(ev),
    }).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(RunAborted);
    expect((e as RunAborted).reason).toBe(reason);
    expect(events.filter((ev) => ev.kind === 'step:end')).toEqual([]);
  });
});

describe('renderers', () => {
  it('json renders one object with per-step status, changes and duration', async () => {
    const out: string[] = [];
    const r = jsonRenderer((s) => out.push(s));
    const events: RunEvent[] = [];
    await runSteps({
      host: new FakeTransport(),
      steps: [counterStep('a', { n: 0 }, 2)],
      options: DEFAULT_OPTIONS,
      mode: 'up',
      emit: (e) => {
        events.push(e);
        r(e);
      },
    });
    r.finish();
    expect(out).toHaveLength(1);
    const obj = JSON.parse(out[0]!);
    expect(obj.ok).toBe(true);
    expect(obj.runs[0].steps[0]).toMatchObject({
      id: 'a',
      status: 'changed',
      changes: [{ resource: 'file:/counter/a', kind: 'file', path: '/counter/a', action: 'update', detail: '0 -> 2' }],
    });
    expect(typeof obj.runs[0].steps[0].durationMs).toBe('number');
  });
  it('plain renders a line per step and a summary', async () => {
    const out: string[] = [];
    const r = plainRenderer((s) => out.push(s));
    await runSteps({
      host: new FakeTransport(),
      steps: [counterStep('a', { n: 0 }, 2)],
      options: DEFAULT_OPTIONS,
      mode: 'up',
      emit: r,
    });
    expect(out.some((l) => /^✎ a +changed/.test(l))).toBe(true);
    expect(out.at(-1)).toMatch(/^ok: 1 changed, 0 unchanged/);
  });
});

describe('batched probes (real sh through the local transport)', () => {
  it('runs every probe in one exec and keeps their outputs and exit codes apart', async () => {
    const local = await connectLocal();
    let execs = 0;
    const counting = {
      ...local,
      name: local.name,
      exec: (...a: Parameters<typeof local.exec>) => {
        execs++;
        return local.exec(...a);
      },
      put: local.put.bind(local),
      get: local.get.bind(local),
      close: local.close.bind(local),
    };
    const r = await runProbes(counting, {
      a: probe('echo one; echo two', (o) => o.split('\n')),
      b: probe('echo "@@ fake marker"; exit 3', (o, code) => ({ o, code })),
      c: probe('printf "no newline"', (o) => o),
    });
    expect(execs).toBe(1);
    expect(r.a).toEqual(['one', 'two']);
    expect(r.b).toEqual({ o: '@@ fake marker', code: 3 });
    expect(r.c).toBe('no newline');
    await local.close();
  });
});
