import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runSteps } from '../../src/runner/run.js';
import { probe } from '../../src/resources/probe.js';
import { connectLocal } from '../../src/transports/local.js';
import { DEFAULT_OPTIONS } from '../../src/options.js';
import type { RunEvent } from '../../src/runner/events.js';
import type { Step } from '../../src/runner/types.js';
import type { Transport } from '../../src/transports/transport.js';

/**
 * The run's checks against one snapshot of the host (src/runner/snapshot.ts), with real sh
 * through the local transport: a converged run takes one round trip for every check, and a
 * step with changes hands the steps after it back to step-by-step checks, which see what
 * its apply wrote.
 */
let dir: string;
let local: Transport;
const scripts: string[] = [];

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'ebpf-lab-snapshot-'));
  const l = await connectLocal();
  local = {
    name: l.name,
    exec: (cmd, opts) => {
      scripts.push(Array.isArray(cmd) ? cmd.join(' ') : cmd.script);
      return l.exec(cmd, opts);
    },
    put: (p, c, o) => l.put(p, c, o),
    get: (p) => l.get(p),
    close: () => l.close(),
  };
});
afterAll(async () => {
  await local.close();
  rmSync(dir, { recursive: true, force: true });
});

const file = (name: string) => join(dir, name);
const read = (name: string) => probe(`cat ${file(name)} 2>/dev/null || echo absent`, (o) => o);

/** A step wanting `name` to hold `want`; with `from`, what it wants is what file `from` holds. */
function fileStep(id: string, name: string, want: string, opts: { from?: string; twice?: boolean } = {}): Step {
  const wanted = async (ctx: Parameters<Step['check']>[0]) =>
    opts.from ? (await ctx.probe({ src: read(opts.from) })).src : want;
  return {
    id,
    title: `${name} holds ${want}`,
    async check(ctx) {
      const w = await wanted(ctx);
      const { have } = await ctx.probe({ have: read(name) });
      // A check that reads again after a first answer (one more round trip).
      if (opts.twice) await ctx.probe({ again: probe(`echo ${have.length}`, (o) => o) });
      return have === w
        ? { changes: [], notes: [`${name} is ${w}`] }
        : { changes: [{ kind: 'file', path: file(name), action: 'update', detail: `${have} -> ${w}` }], notes: [] };
    },
    async apply(ctx) {
      writeFileSync(file(name), (await wanted(ctx)) + '\n');
    },
  };
}

async function run(steps: Step[], mode: 'up' | 'plan' = 'up', guess?: string) {
  const events: RunEvent[] = [];
  scripts.length = 0;
  const seen: string[] = [];
  const results = await runSteps({
    host: local,
    steps,
    options: DEFAULT_OPTIONS,
    mode,
    emit: (e) => events.push(e),
    ...(guess !== undefined ? { factsGuess: guess } : {}),
    onFacts: (raw) => seen.push(raw),
  });
  const end = events.find((e) => e.kind === 'run:end');
  if (end?.kind !== 'run:end') throw new Error('no run:end');
  return { results, end, execs: scripts.length, seen };
}

describe('checks against one snapshot', () => {
  it('a converged run reads every check in ONE round trip, and says so in run:end', async () => {
    for (const n of ['a', 'b', 'c']) writeFileSync(file(n), `${n}1\n`);
    const steps = ['a', 'b', 'c'].map((n) => fileStep(n, n, `${n}1`));
    const { results, end, execs } = await run(steps);
    expect(results.map((r) => r.status)).toEqual(['unchanged', 'unchanged', 'unchanged']);
    expect(results[1]!.notes).toEqual(['b is b1']);
    expect(execs).toBe(1);
    expect(end.roundTrips).toBe(1);
    expect(end.snapshot).toMatchObject({ steps: 3, roundTrips: 1 });
    expect(results.every((r) => r.roundTrips === 0 && typeof r.checkMs === 'number')).toBe(true);
  });

  it('a check that reads again after its first answer takes one more round trip for all', async () => {
    for (const n of ['a', 'b']) writeFileSync(file(n), `${n}1\n`);
    const { results, execs } = await run([
      fileStep('a', 'a', 'a1', { twice: true }),
      fileStep('b', 'b', 'b1', { twice: true }),
    ]);
    expect(results.map((r) => r.status)).toEqual(['unchanged', 'unchanged']);
    expect(execs).toBe(2);
  });

  it('up: the first step with changes is applied, and the steps after it are checked after that apply', async () => {
    writeFileSync(file('a'), 'a1\n');
    writeFileSync(file('b'), 'old\n');
    writeFileSync(file('c'), 'old\n'); // c wants what b holds: known only after b's apply
    const steps = [fileStep('a', 'a', 'a1'), fileStep('b', 'b', 'new'), fileStep('c', 'c', '', { from: 'b' })];
    const { results, end } = await run(steps);
    expect(results.map((r) => [r.id, r.status])).toEqual([
      ['a', 'unchanged'],
      ['b', 'changed'],
      ['c', 'changed'],
    ]);
    // c's check ran after b's apply: it wanted "new", never the "old" the snapshot saw.
    expect(results[2]!.changes[0]!.detail).toBe('old -> new');
    expect(readFileSync(file('c'), 'utf8')).toBe('new\n');
    expect(end.snapshot).toMatchObject({ steps: 2 });
    expect(results[2]!.roundTrips).toBeGreaterThan(0);
    // And a second up is a no-op: two round trips (c asks for b's content, then for its own).
    const again = await run(steps);
    expect(again.results.map((r) => r.status)).toEqual(['unchanged', 'unchanged', 'unchanged']);
    expect(again.execs).toBe(2);
  });

  it('plan: every step is answered by the snapshot, even after a planned step', async () => {
    writeFileSync(file('a'), 'x\n');
    writeFileSync(file('b'), 'x\n');
    const { results, execs, end } = await run([fileStep('a', 'a', 'a1'), fileStep('b', 'b', 'b1')], 'plan');
    expect(results.map((r) => r.status)).toEqual(['planned', 'planned']);
    expect(results.map((r) => r.changes[0]!.detail)).toEqual(['x -> a1', 'x -> b1']);
    expect(execs).toBe(1);
    expect(end.snapshot).toMatchObject({ steps: 2 });
    expect(readFileSync(file('a'), 'utf8')).toBe('x\n');
  });

  it('a check that fails against the snapshot is checked again step by step, and fails there as it did', async () => {
    writeFileSync(file('a'), 'a1\n');
    let calls = 0;
    const broken: Step = {
      ...fileStep('b', 'b', 'b1'),
      async check(ctx) {
        calls++;
        await ctx.probe({ have: read('a') });
        throw new Error('cannot parse what the host said');
      },
    };
    const { results } = await run([fileStep('a', 'a', 'a1'), broken, fileStep('c', 'c', 'c1')]);
    expect(results.map((r) => r.status)).toEqual(['unchanged', 'failed', 'skipped']);
    expect(results[1]!.error).toMatch(/cannot parse what the host said/);
    expect(calls).toBe(3); // asked for its probe, failed on the answer, failed again step by step
  });

  it('a check that reads host facts gets them from the same snapshot', async () => {
    writeFileSync(file('a'), 'a1\n');
    let arch = '';
    const facty: Step = {
      ...fileStep('a', 'a', 'a1'),
      async check(ctx) {
        arch = (await ctx.facts()).arch;
        return fileStep('a', 'a', 'a1').check(ctx);
      },
    };
    const { results, execs } = await run([facty]);
    expect(results[0]!.status).toBe('unchanged');
    expect(arch).toMatch(/\S/);
    expect(execs).toBe(2); // the facts, then the file the check asked for once it had them
  });

  describe("with the run before's facts as a guess", () => {
    /** A step whose probe depends on the facts: it wants file `name` to hold the host's arch. */
    const archStep = (name: string, preparedArch?: string[]): Step => ({
      id: name,
      title: `${name} holds the arch`,
      prepare: preparedArch
        ? async (ctx) => {
            preparedArch.push((await ctx.facts()).arch);
            return undefined;
          }
        : undefined,
      async check(ctx) {
        const { arch } = await ctx.facts();
        const { have } = await ctx.probe({ have: probe(`cat ${file(name)}; echo " ${arch}"`, (o) => o) });
        const [content, asked] = have.trim().split(/\s+/);
        return content === asked
          ? { changes: [], notes: [`${name} is ${asked}`] }
          : {
              changes: [{ kind: 'file', path: file(name), action: 'update', detail: `${content} -> ${asked}` }],
              notes: [],
            };
      },
      async apply(ctx) {
        writeFileSync(file(name), (await ctx.facts()).arch + '\n');
      },
    });

    it('a right guess: facts and every probe in ONE round trip, and nothing new to record', async () => {
      const first = await run([archStep('g')]);
      expect(first.results[0]!.status).toBe('changed');
      expect(first.seen).toHaveLength(1); // the facts this run read: the next run's guess
      const again = await run([archStep('g')], 'up', first.seen[0]);
      expect(again.results[0]!.status).toBe('unchanged');
      expect(again.results[0]!.notes[0]).toBe(`g is ${readFileSync(file('g'), 'utf8').trim()}`);
      expect(again.execs).toBe(1);
      expect(again.end.snapshot?.roundTrips).toBe(1);
      expect(again.seen).toEqual([]);
    });

    it('a wrong guess (the host changed since): the checks run again on the facts read, and those are recorded', async () => {
      const real = (await run([archStep('h')])).seen[0]!;
      const arch = readFileSync(file('h'), 'utf8').trim();
      // The run before saw another machine: its probe asks for "sparc64", which the host is not.
      const wrong = real.replace(new RegExp(`^${arch}$`, 'm'), 'sparc64');
      expect(wrong).not.toBe(real);
      const again = await run([archStep('h')], 'plan', wrong);
      expect(again.results[0]!.status).toBe('unchanged');
      expect(again.results[0]!.notes[0]).toBe(`h is ${arch}`);
      expect(again.execs).toBe(2); // the guess's round trip, then the probe the real facts ask for
      expect(again.seen).toEqual([real]);
    });

    it('a wrong guess that the file already matches is still not believed', async () => {
      const real = (await run([archStep('k')])).seen[0]!;
      const arch = readFileSync(file('k'), 'utf8').trim();
      writeFileSync(file('k'), 'sparc64\n'); // drift that only the guessed facts would call converged
      const wrong = real.replace(new RegExp(`^${arch}$`, 'm'), 'sparc64');
      const again = await run([archStep('k')], 'plan', wrong);
      expect(again.results[0]!.status).toBe('planned');
      expect(again.results[0]!.changes[0]!.detail).toBe(`sparc64 -> ${arch}`);
    });

    it('a wrong guess: a check that reads only the facts is answered on the real ones', async () => {
      const real = (await run([archStep('n')])).seen[0]!;
      const arch = readFileSync(file('n'), 'utf8').trim();
      const factsOnly: Step = {
        id: 'facts-only',
        title: 'says the arch',
        async check(ctx) {
          return { changes: [], notes: [`arch ${(await ctx.facts()).arch}`] };
        },
        async apply() {},
      };
      const right = await run([factsOnly], 'plan', real);
      expect(right.results[0]!.notes).toEqual([`arch ${arch}`]);
      const wrong = await run([factsOnly], 'plan', real.replace(new RegExp(`^${arch}$`, 'm'), 'sparc64'));
      expect(wrong.results[0]!.notes).toEqual([`arch ${arch}`]);
    });

    it('a guess that is not facts at all is no guess', async () => {
      writeFileSync(file('m'), 'x\n');
      const again = await run([archStep('m')], 'plan', 'not the facts script output');
      expect(again.results[0]!.status).toBe('planned');
      expect(again.execs).toBe(2);
    });

    it('prepare chose on the guess; a wrong guess prepares again on the facts read', async () => {
      const real = (await run([archStep('p')])).seen[0]!;
      const arch = readFileSync(file('p'), 'utf8').trim();
      const prepared: string[] = [];
      const right = await run([archStep('p', prepared)], 'up', real);
      expect(prepared).toEqual([arch]);
      expect(right.execs).toBe(1);
      prepared.length = 0;
      const wrong = real.replace(new RegExp(`^${arch}$`, 'm'), 'sparc64');
      const again = await run([archStep('p', prepared)], 'up', wrong);
      expect(prepared).toEqual(['sparc64', arch]);
      expect(again.results[0]!.status).toBe('unchanged');
    });
  });
});
