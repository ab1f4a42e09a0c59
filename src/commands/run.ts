import { STEP_IDS, sandboxPackages } from '../../steps/catalog.js';
import { JSON_PRINTED, RunAborted, UserError, summarizeError } from '../errors.js';
import { canRedraw, colourEnabled } from '../render/colour.js';
import {
  detailRenderer,
  makeRenderer,
  missingParts,
  pickOutput,
  plainRenderer,
  type Renderer,
  type Verbosity,
} from '../render/report.js';
import type { StepResult } from '../runner/types.js';
import { readFactsGuess, readProbeMemo, saveFactsGuess, saveLab, saveProbeMemo } from '../state.js';
import type { ProbeMemo } from '../resources/probe.js';
import { labUrls, urlLines } from '../targets/urls.js';
import { lockOnFirstUse } from '../runner/host-lock.js';
import { selectSteps } from '../runner/select.js';
import { heldEvents, type RunEvent, type Mode } from '../runner/events.js';
import type { LabOptions } from '../options.js';
import { chooseTarget, type TargetInput } from './lab-target.js';
import type { Transport } from '../transports/transport.js';
import { pendingTransport } from '../transports/pending.js';
import { labSecret } from '../secrets.js';
import { guardRun } from '../runner/interrupt.js';

export interface RunCommandInput extends TargetInput {
  mode: Mode;
  only?: string[];
  skip?: string[];
  output?: string;
  diff: boolean;
  /** plan: exit 3 when changes are pending; up/plan/verify: exit 4 when the lab is incomplete. */
  detailedExitcode?: boolean;
  verbosity?: Verbosity;
  /** Lines only the run's log gets (progress, full diffs). */
  logOnly?: (line: string) => void;
  /** The run's log, named in the JSON summary. */
  logPath?: string;
  /** prometheusSource left undefined: the target's default (`package` on the sandbox, which has no internet). */
  options: Omit<LabOptions, 'prometheusSource'> & Partial<Pick<LabOptions, 'prometheusSource'>>;
}

/** Exit codes beyond 0/1/2, documented in the README and `ebpf-lab --help`. */
export const EXIT_CHANGES_PENDING = 3;
export const EXIT_INCOMPLETE = 4;

/**
 * 0 ok, 1 a step failed; with --detailed-exitcode also 3 (changes pending: plan) and 4 (the
 * lab is incomplete: a step skipped, a check NOT VERIFIED). Pending changes come first.
 */
export function exitCode(results: StepResult[], detailed: boolean): number {
  if (results.some((r) => r.status === 'failed')) return 1;
  if (!detailed) return 0;
  if (results.some((r) => r.status === 'planned')) return EXIT_CHANGES_PENDING;
  return missingParts(results).length ? EXIT_INCOMPLETE : 0;
}

/**
 * --only/--skip against the step list: unknown ids, an empty list (`--only ''`, `--only ,,,`)
 * and a step both chosen and left out are bad input.
 */
export function selectLabSteps(only: string[] | undefined, skip: string[] | undefined): string[] {
  const known = `known steps: ${STEP_IDS.join(', ')}`;
  for (const [flag, v] of [
    ['--only', only],
    ['--skip', skip],
  ] as const)
    if (v !== undefined && v.length === 0) throw new UserError(`${flag} needs at least one step id`, known);
  const both = (only ?? []).filter((id) => skip?.includes(id));
  if (both.length)
    throw new UserError(
      `${both.join(', ')} is both in --only and in --skip`,
      'give a step in one of them: --only picks steps, --skip leaves steps out',
    );
  return selectSteps(
    STEP_IDS.map((id) => ({ id })),
    only,
    skip,
  ).map((s) => s.id);
}

/**
 * up / plan / verify: everything is validated (target, steps, options) before any
 * host is touched; then one connection carries the whole run. Returns the exit code.
 */
export async function runCommand(input: RunCommandInput): Promise<number> {
  const stepIds = selectLabSteps(input.only, input.skip);
  const { chosen, ready } = await chooseTarget(input, input.mode === 'up' ? 'create' : 'use');
  const options: LabOptions = {
    ...input.options,
    prometheusSource: input.options.prometheusSource ?? chosen.target.defaults.prometheusSource,
  };
  const mode = pickOutput(input.output, canRedraw(process.stdout));
  const diff = input.diff || input.mode === 'plan';
  const screen = makeRenderer(mode, {
    diff,
    verbosity: input.verbosity ?? 'normal',
    colour: colourEnabled(process.stdout),
  });
  // The log copies the screen; it also gets what the screen leaves out (all of it when the screen is JSON).
  const detail: Renderer | undefined = input.logOnly
    ? mode === 'json'
      ? plainRenderer(input.logOnly, { diff: true, verbosity: 'verbose', heartbeatSecs: 0 })
      : detailRenderer(input.logOnly, diff || input.verbosity === 'verbose')
    : undefined;
  const renderer = ((e: RunEvent) => {
    screen(e);
    detail?.(e);
  }) as Renderer;
  let code = 1;
  let failure: unknown;
  let transport: Transport | undefined;
  // Ctrl-C / SIGTERM: say what was interrupted and the host's state, release the lock, exit 130/143.
  const guard = guardRun({
    emit: renderer,
    say: (l) => process.stderr.write(l + '\n'),
    host: () => transport,
    mode: input.mode,
  });
  try {
    const log = (line: string) => guard.emit({ kind: 'note', line });
    guard.stage(
      `opening ${chosen.spec.label}${chosen.target.kind === 'sandbox' && input.mode === 'up' ? ' (creating or booting it)' : ''}`,
    );
    // The run starts while the connection is made (the ssh handshake is mostly waiting for the
    // host): the steps and the runner load, and the checks work out what to read, under the
    // name the host will have. Its first command waits for the connection (pendingTransport),
    // and its events wait for the open: a host that is not reached hears nothing and is
    // told nothing about, as before.
    let connecting!: (name: string) => void;
    const named = new Promise<string>((r) => (connecting = r));
    const opening = ready.open({ create: input.mode === 'up', packages: sandboxPackages, log, connecting });
    opening.catch(() => {}); // (awaited below; a failure then is the one reported)
    const name = await Promise.race([named, opening.then((o) => o.transport.name)]);
    const [{ STEPS }, { runSteps }] = await Promise.all([import('../../steps/index.js'), import('../runner/run.js')]);
    const steps = STEPS.filter((s) => stepIds.includes(s.id));
    const [factsGuess, probeMemo] = await Promise.all([
      readFactsGuess(chosen.recordName),
      readProbeMemo(chosen.recordName),
    ]);
    let seenFacts: string | undefined;
    let seenMemo: ProbeMemo | undefined;
    const start = (host: string, lab: string, guess = factsGuess, memo = probeMemo) => {
      const pending = pendingTransport(host);
      const events = heldEvents(guard.emit);
      // plan only reads; up and verify (which writes a probe page) take the host's run lock,
      // with the run's first command (see lockOnFirstUse).
      const locked =
        input.mode === 'plan'
          ? undefined
          : lockOnFirstUse(pending.host, {
              note: log,
              what: input.mode,
              onLocked: () => guard.stage(`starting the run on ${host}`),
            });
      const results = runSteps({
        // A lab's secrets are made for a host that was reached, not before.
        secret: async (l, n) => {
          await pending.opened;
          return labSecret(l, n);
        },
        factsGuess: guess,
        onFacts: (raw) => (seenFacts = raw),
        ...(memo ? { probeMemo: memo } : {}),
        onProbeMemo: (m) => (seenMemo = m),
        host: guard.wrap(locked?.host ?? pending.host),
        steps,
        options,
        mode: input.mode,
        emit: events.emit,
        lab,
      });
      results.catch(() => {}); // (awaited below, once the host is open)
      return { pending, events, locked, results };
    };
    let run = start(name, chosen.recordName);
    const opened = await opening;
    transport = opened.transport;
    const { record, urls } = opened;
    guard.holding(() => transport!.close());
    // Opened under another name (a sandbox that had to boot first) or lab: that run never
    // started on a host (its commands wait for ever); this one starts now.
    if (transport.name !== name || record.name !== chosen.recordName)
      run = start(
        transport.name,
        record.name,
        ...(await Promise.all([readFactsGuess(record.name), readProbeMemo(record.name)])),
      );
    const { locked } = run;
    try {
      guard.holding(async () => {
        await locked?.release();
        await transport!.close();
      });
      guard.stage(
        locked
          ? `waiting for the run lock on ${transport.name} (nothing was changed)`
          : `starting the run on ${transport.name}`,
      );
      run.pending.settle(transport);
      run.events.release();
      const results = await run.results.catch((e: unknown) => {
        // The run lock could not be taken: said as before any step began.
        throw e instanceof RunAborted ? e.reason : e;
      });
      if (seenFacts !== undefined) await saveFactsGuess(record.name, seenFacts);
      if (seenMemo !== undefined) await saveProbeMemo(record.name, seenMemo);
      const ok = results.every((r) => r.status !== 'failed');
      code = exitCode(results, Boolean(input.detailedExitcode));
      // Where to open the lab from here: a sandbox's loopback forwards, a remote host's public URLs.
      if (input.mode === 'up') for (const line of urlLines(urls ?? labUrls(record))) log(line);
      if (input.mode === 'up' || record.createdByUs)
        await saveLab({
          ...record,
          createdAt: new Date().toISOString(),
          lastRun: { command: input.mode, at: new Date().toISOString(), ok },
        });
    } finally {
      await locked?.release();
      await transport.close();
    }
  } catch (e) {
    failure = e;
    throw e;
  } finally {
    guard.dispose();
    detail?.finish();
    const extra: Record<string, unknown> = input.logPath ? { log: input.logPath } : {};
    if (failure !== undefined) {
      extra['error'] = summarizeError(failure);
      // The JSON object on stdout carries the error: the CLI must not print a second one.
      if (mode === 'json' && typeof failure === 'object' && failure !== null)
        Object.assign(failure, { [JSON_PRINTED]: true });
    }
    screen.finish(mode === 'json' ? extra : undefined);
  }
  return code;
}
