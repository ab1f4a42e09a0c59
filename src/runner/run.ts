import { performance } from 'node:perf_hooks';
import { UserError, VerifyError, ConvergenceError, RunAborted } from '../errors.js';
import { hostFactsProbe, type HostFacts } from '../facts/host.js';
import { readScripts, runProbes, type Probe, type ProbeMemo } from '../resources/probe.js';
import { labSecret } from '../secrets.js';
import type { LabOptions } from '../options.js';
import type { Transport } from '../transports/transport.js';
import type { Emit, Mode } from './events.js';
import { changeLabel, type Change, type Evidence, type Step, type StepContext, type StepResult } from './types.js';
import { injectFaults } from './fault.js';
import { countRoundTrips } from './count.js';
import { factsGuess, snapshotChecks, type Snapshot } from './snapshot.js';

export interface RunInput {
  host: Transport;
  steps: Step[];
  options: LabOptions;
  mode: Mode;
  emit: Emit;
  /** Lab name, for secrets (default: the host's name). */
  lab?: string;
  /** Where lab secrets come from (default: generated once, 0600 under EBPF_LAB_HOME). */
  secret?: (lab: string, name: string) => Promise<string>;
  /** The host's facts as the run before read them (the facts script's output), checked before use. */
  factsGuess?: string;
  /** Called with the facts script's output when this run read it and it differs from the guess. */
  onFacts?: (raw: string) => void;
  /** Fingerprinted probes' answers as the run before read them (see Probe.fingerprint). */
  probeMemo?: ProbeMemo;
  /** Called with the fingerprinted probes' answers this run's snapshot read, when they differ from probeMemo. */
  onProbeMemo?: (memo: ProbeMemo) => void;
}

/**
 * Runs the selected steps on one host. up: check → apply → check again (a change
 * left is a failure) → verify. plan: check only. verify: verify + prove.
 * The checks first run against one snapshot of the host (snapshot.ts): a converged lab is
 * checked in two round trips; from the first step with changes on, `up` checks step by step.
 * Facts are read late (per step) and dropped after every apply.
 */
export async function runSteps(input: RunInput): Promise<StepResult[]> {
  const { steps, options, mode } = input;
  // Fault injection for the reliability tests: the host and the events, wrapped once.
  const faulty = process.env['EBPF_LAB_FAULT'] ? injectFaults(input.host, input.emit) : input;
  const { emit } = faulty;
  const counted = countRoundTrips(faulty.host);
  const host = counted.host;
  const started = performance.now();
  let facts: Promise<HostFacts> | undefined;
  const results: StepResult[] = [];
  const artifacts = new Map<string, { path: string; sha256: string }>();
  const lab = input.lab ?? host.name;
  const secret = input.secret ?? labSecret;
  // The facts script's output as last read in this run: the next run's guess.
  let lastFacts: string | undefined;
  const readFacts = async () => {
    const [raw] = await readScripts(host, [hostFactsProbe], ['host facts']);
    const f = hostFactsProbe.parse(raw!.body, raw!.code);
    lastFacts = raw!.code === 0 ? raw!.body : undefined;
    return f;
  };
  const contextFor = (step: Step): StepContext => ({
    host,
    stepId: step.id,
    options,
    lab,
    artifacts,
    secret: (name) => secret(lab, name),
    facts: () => (facts ??= readFacts()),
    probe: <P extends Record<string, Probe<unknown>>>(p: P) => runProbes(host, p),
    progress: (line) => emit({ kind: 'step:progress', id: step.id, line }),
  });
  emit({ kind: 'run:start', host: host.name, mode, steps: steps.map((s) => s.id) });
  // The run before's facts, for prepare and the snapshot's first round trip; the snapshot
  // reads the real ones in that round trip, and a guess that was wrong is undone below.
  const guess = mode === 'verify' || input.factsGuess === undefined ? undefined : factsGuess(input.factsGuess);
  let preparedOnGuess = false;
  // prepare: before anything changes, every step may fetch what it needs or say why it
  // cannot run here; a UserError stops the run with nothing changed. The steps' fetches are
  // independent, so they run side by side (offline, each one's failed lookup costs seconds).
  const skipped = new Map<string, string>();
  const prepare = async (guess?: HostFacts) => {
    skipped.clear();
    const ctxFor = (step: Step): StepContext =>
      guess
        ? {
            ...contextFor(step),
            facts: async () => {
              preparedOnGuess = true;
              return guess;
            },
          }
        : contextFor(step);
    const why = await Promise.all(steps.map((step) => step.prepare?.(ctxFor(step))));
    steps.forEach((step, i) => why[i] && skipped.set(step.id, why[i]));
  };
  if (mode !== 'verify') await prepare(guess?.facts);
  // Every check against one snapshot; a failure to read it leaves the checks to the steps.
  let snapshot: Snapshot | undefined;
  const memo = { ...(input.probeMemo ? { known: input.probeMemo } : {}), read: {} as ProbeMemo };
  if (mode !== 'verify') {
    const known = facts ? await facts.catch(() => undefined) : undefined;
    snapshot = await snapshotChecks(
      host,
      steps.filter((s) => !skipped.has(s.id)),
      mode,
      (step, over) => ({ ...contextFor(step), ...over }),
      known,
      known ? undefined : guess,
      memo,
    ).catch(() => undefined);
    if (Object.keys(memo.read).length && JSON.stringify(memo.read) !== JSON.stringify(input.probeMemo ?? {}))
      input.onProbeMemo?.(memo.read);
    if (snapshot?.facts) facts ??= Promise.resolve(snapshot.facts);
    if (snapshot?.factsRaw !== undefined) lastFacts = snapshot.factsRaw;
    // prepare chose on facts the host does not have (or that were never checked): again, on the real ones.
    if (preparedOnGuess && snapshot?.guessHeld !== true) {
      await prepare();
      if (snapshot) snapshot = { ...snapshot, checks: new Map() };
    }
  }
  let failed = false;
  let anyFailed = false;
  // plan: a step that builds on a step with planned changes read the host before those
  // changes, so what it shows is a lower bound; say so instead of promising "unchanged".
  const planned = new Set<string>();
  for (const step of steps) {
    if (failed || skipped.has(step.id)) {
      const r = result(
        step,
        'skipped',
        [],
        [failed ? 'not run: an earlier step failed' : skipped.get(step.id)!],
        [],
        0,
      );
      results.push(r);
      emit({ kind: 'step:end', result: r });
      continue;
    }
    const ctx = contextFor(step);
    const t0 = performance.now();
    const trips0 = counted.count();
    const timing = (r: StepResult): StepResult => ({
      ...r,
      checkMs: Math.round(checkMs),
      roundTrips: counted.count() - trips0,
    });
    let checkMs = 0;
    emit({ kind: 'step:start', id: step.id, title: step.title });
    let changes: Change[] = [];
    let notes: string[] = [];
    const evidence: Evidence[] = [];
    try {
      if (mode !== 'verify') {
        emit({ kind: 'step:phase', id: step.id, phase: 'check' });
        const pre = snapshot?.checks.get(step.id);
        for (const line of pre?.progress ?? []) ctx.progress(line);
        const c0 = performance.now();
        const checked = pre?.result ?? (await step.check(ctx));
        checkMs = pre?.ms ?? performance.now() - c0;
        ({ changes, notes } = checked);
        if (checked.skip) {
          const r = timing(result(step, 'skipped', [], [checked.skip, ...notes], [], performance.now() - t0));
          results.push(r);
          emit({ kind: 'step:end', result: r });
          continue;
        }
        if (mode === 'plan') {
          const after = (step.needs ?? []).filter((n) => planned.has(n));
          if (after.length)
            notes = [
              `may change more once ${after.join(', ')} ${after.length > 1 ? 'are' : 'is'} applied: checked against the host as it is now`,
              ...notes,
            ];
          if (changes.length || after.length) planned.add(step.id);
        }
        emit({ kind: 'step:changes', id: step.id, changes, notes });
      }
      if (mode === 'up' && changes.length > 0) {
        emit({ kind: 'step:phase', id: step.id, phase: 'apply' });
        await step.apply(ctx, changes);
        facts = undefined;
        emit({ kind: 'step:phase', id: step.id, phase: 'recheck' });
        const again = await step.check(ctx);
        if (again.changes.length > 0)
          throw new ConvergenceError(
            `step ${step.id} does not converge: still pending after apply: ` +
              again.changes
                .map(
                  (c) => `${c.action} ${changeLabel(c)}${c.detail && !c.detail.includes('\n') ? ` (${c.detail})` : ''}`,
                )
                .join(', '),
          );
      }
      // up verifies what it changed (an unchanged step was verified when it last
      // changed, and check already saw its state); verify re-checks everything.
      if (mode === 'verify' || (mode === 'up' && changes.length > 0)) {
        const checks = [step.verify, mode === 'verify' ? step.prove : undefined];
        for (const [i, fn] of checks.entries()) {
          if (!fn) continue;
          emit({ kind: 'step:phase', id: step.id, phase: i === 0 ? 'verify' : 'prove' });
          for (const e of await fn.call(step, ctx)) {
            evidence.push(e);
            emit({ kind: 'step:evidence', id: step.id, evidence: e });
          }
        }
        const bad = evidence.filter((e) => !e.ok && !e.skipped);
        if (bad.length) throw new VerifyError(`${step.id}: ${bad.map((e) => e.what).join('; ')}`);
      }
      const status =
        mode === 'plan'
          ? changes.length
            ? 'planned'
            : 'unchanged'
          : changes.length && mode === 'up'
            ? 'changed'
            : 'unchanged';
      const r = timing(result(step, status, changes, notes, evidence, performance.now() - t0));
      results.push(r);
      emit({ kind: 'step:end', result: r });
    } catch (err) {
      if (err instanceof UserError || err instanceof RunAborted) throw err;
      // verify reports every check; up stops at the first failure (later steps build on it).
      if (mode !== 'verify') failed = true;
      else anyFailed = true;
      const r = timing(result(step, 'failed', changes, notes, evidence, performance.now() - t0, err));
      results.push(r);
      emit({ kind: 'step:end', result: r });
    }
  }
  if (lastFacts !== undefined && lastFacts !== input.factsGuess) input.onFacts?.(lastFacts);
  emit({
    kind: 'run:end',
    host: host.name,
    mode,
    ok: !failed && !anyFailed,
    results,
    durationMs: performance.now() - started,
    roundTrips: counted.count(),
    ...(snapshot
      ? { snapshot: { steps: snapshot.checks.size, roundTrips: snapshot.roundTrips, ms: Math.round(snapshot.ms) } }
      : {}),
  });
  return results;
}

function result(
  step: Step,
  status: StepResult['status'],
  changes: Change[],
  notes: string[],
  evidence: Evidence[],
  ms: number,
  err?: unknown,
): StepResult {
  const r: StepResult = {
    id: step.id,
    title: step.title,
    status,
    changes,
    notes,
    evidence,
    durationMs: Math.round(ms),
  };
  if (err !== undefined)
    r.error =
      err instanceof Error
        ? err.name === 'Error' ||
          err.name === 'CommandError' ||
          err.name === 'VerifyError' ||
          err.name === 'ConvergenceError' ||
          err.name === 'HostError'
          ? err.message
          : (err.stack ?? err.message)
        : String(err);
  return r;
}

export { selectSteps } from './select.js';
