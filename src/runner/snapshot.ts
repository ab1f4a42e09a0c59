import { performance } from 'node:perf_hooks';
import { hostFactsProbe, type HostFacts } from '../facts/host.js';
import {
  readScripts,
  type Probe,
  type ProbeMemo,
  type ProbeResults,
  type RawOutput,
  type Readable,
} from '../resources/probe.js';
import type { Transport } from '../transports/transport.js';
import type { Mode } from './events.js';
import type { CheckResult, Step, StepContext } from './types.js';

/**
 * The checks of a run, read from ONE snapshot of the host before anything changes.
 *
 * A re-run of a converged lab is mostly checks, and checked step by step each one costs a
 * round trip (or two: facts, then probes) that starts its own shell on the host. Here every
 * step's check runs against a snapshot instead: a check asks for facts and probes as usual;
 * what the snapshot lacks is noted, the check is abandoned, and every step's wants are read
 * in one round trip; then the checks run again (a check is read-only, so running it again
 * is safe). Two round trips answer the lab's checks (facts, then the probes that depend on
 * them); a check that probes again after reading a first answer costs one more.
 *
 * Nothing gets weaker: every step's check runs in this run, on what the host holds now, and
 * nothing has changed on the host since the snapshot was read, so its answer is the one a
 * check step by step would get. In `up`, the answers are used up to and including the first
 * step with changes; from the step after it on, the runner checks step by step again, after
 * that step's apply, with facts read again (STYLE #3). A check that fails here (an error, a
 * user error) is simply checked again step by step, where it fails as it always did.
 *
 * One round trip instead of two, with the facts of the run before (`guess`): the checks ask
 * for their probes as those facts imply, and the facts are read in the same round trip as the
 * probes. Only when what the host says now is exactly the guess (the facts script's whole
 * output, byte for byte) do the answers stand: then the checks asked for what facts read
 * first would have made them ask for, and every answer was read at one moment. Otherwise the
 * checks are dropped and run again on the facts just read (the probes already read still
 * answer: each is keyed by its own script, not by the facts), which costs the round trip the
 * guess saved and nothing more.
 *
 * A probe with a fingerprint (Probe.fingerprint) is answered from `memo` (what the run before
 * read) when its fingerprint is still the same; what this snapshot read goes to `memo.read`.
 */

/** The snapshot lacks what a check asked for: the check is run again once it is read. */
class NotInSnapshot extends Error {
  constructor(readonly probes: Readable[]) {
    super('not in the snapshot');
  }
}

/** One step's check as the snapshot answered it. */
export interface SnapshotCheck {
  result: CheckResult;
  /** Time spent in the step's own check code, over every pass (the shared reads are not in it). */
  ms: number;
  /** Progress lines the check printed, for the runner to show once the step starts. */
  progress: string[];
}

export interface Snapshot {
  /** Steps whose check the snapshot answered and whose answer stands (see above). */
  checks: Map<string, SnapshotCheck>;
  /** The facts read, for the steps checked step by step until something is applied. */
  facts?: HostFacts;
  /** The facts script's output as read now (the next run's guess), when this snapshot read it. */
  factsRaw?: string;
  /** A guess was given and the host's facts were exactly it. */
  guessHeld?: boolean;
  /** Round trips the snapshot took. */
  roundTrips: number;
  /** Wall time of the whole snapshot, checks and reads. */
  ms: number;
}

/** The most passes before the rest is left to step-by-step checks (a check that keeps asking). */
const MAX_PASSES = 5;

/** The run before's facts: the facts script's output, and what it parses to. */
export interface FactsGuess {
  raw: string;
  facts: HostFacts;
}

/** The facts script's raw output (a run's record of its host) as a guess; undefined when it does not parse. */
export function factsGuess(raw: string): FactsGuess | undefined {
  try {
    return { raw, facts: hostFactsProbe.parse(raw, 0) };
  } catch {
    return undefined;
  }
}

/**
 * Checks `steps` (in order) against one snapshot of `host`. `contextFor` gives a step's
 * context with its facts() and probe() replaced by the snapshot's. `facts` already read in
 * this run (by prepare) are used as they are: nothing has changed since. Without them,
 * `guess` (the facts the run before read) lets the first round trip read the
 * facts and the probes together (see above).
 */
export async function snapshotChecks(
  host: Transport,
  steps: Step[],
  mode: Mode,
  contextFor: (step: Step, over: Pick<StepContext, 'facts' | 'probe' | 'progress'>) => StepContext,
  facts?: HostFacts,
  guess?: FactsGuess,
  memo?: { known?: ProbeMemo; read: ProbeMemo },
): Promise<Snapshot> {
  const t0 = performance.now();
  const raw = new Map<string, RawOutput>();
  const done = new Map<string, SnapshotCheck & { changed: boolean }>();
  const spent = new Map<string, number>();
  const guessed = facts ? undefined : guess;
  let known = facts ?? guessed?.facts;
  let factsRaw: string | undefined;
  let guessHeld: boolean | undefined;
  let roundTrips = 0;
  for (let pass = 0; pass < MAX_PASSES; pass++) {
    const want = new Map<string, Readable>();
    // Until the guess is checked, the facts are read with whatever the checks ask for.
    if (guessed && guessHeld === undefined) want.set(hostFactsProbe.script, hostFactsProbe);
    let changed = false;
    for (const step of steps) {
      const prev = done.get(step.id);
      // up: after the first step with changes, the rest is checked after its apply.
      if (changed && mode === 'up') break;
      if (prev) {
        changed = prev.changed;
        continue;
      }
      const progress: string[] = [];
      const ctx = contextFor(step, {
        facts: async () => known ?? missing([hostFactsProbe]),
        probe: async <P extends Record<string, Probe<unknown>>>(probes: P) => answer(raw, probes),
        progress: (line) => progress.push(line),
      });
      const s0 = performance.now();
      try {
        const result = await step.check(ctx);
        const ms = (spent.get(step.id) ?? 0) + performance.now() - s0;
        changed = result.changes.length > 0 && !result.skip;
        done.set(step.id, { result, ms, progress, changed });
      } catch (e) {
        spent.set(step.id, (spent.get(step.id) ?? 0) + performance.now() - s0);
        if (!(e instanceof NotInSnapshot)) {
          // Checked again step by step, where it fails as it always did.
          changed = true;
          continue;
        }
        for (const p of e.probes) want.set(p.script, p);
      }
    }
    if (want.size === 0) break;
    const scripts = [...want.keys()];
    const out = await readScripts(host, [...want.values()], [], memo);
    roundTrips++;
    scripts.forEach((s, i) => raw.set(s, out[i]!));
    const f = raw.get(hostFactsProbe.script);
    if (f && factsRaw === undefined) {
      factsRaw = f.code === 0 ? f.body : undefined;
      if (guessed) {
        guessHeld = f.code === 0 && f.body === guessed.raw;
        // Asked for on facts the host no longer has: every check runs again on the real ones.
        if (!guessHeld) done.clear();
      }
      if (!known || guessed) known = hostFactsProbe.parse(f.body, f.code);
    }
  }
  // The answers that stand: in order, up to and including the first step with changes (up)
  // or that the snapshot could not answer.
  const checks = new Map<string, SnapshotCheck>();
  for (const step of steps) {
    const d = done.get(step.id);
    if (!d) {
      if (mode === 'up') break;
      continue;
    }
    checks.set(step.id, { result: d.result, ms: d.ms, progress: d.progress });
    if (d.changed && mode === 'up') break;
  }
  // (A guess is always checked: the first round trip reads the facts whatever else it reads.)
  return {
    checks,
    ...(known ? { facts: known } : {}),
    ...(factsRaw !== undefined ? { factsRaw } : {}),
    ...(guessHeld !== undefined ? { guessHeld } : {}),
    roundTrips,
    ms: performance.now() - t0,
  };
}

function missing(probes: Readable[]): never {
  throw new NotInSnapshot(probes);
}

function answer<P extends Record<string, Probe<unknown>>>(raw: Map<string, RawOutput>, probes: P): ProbeResults<P> {
  const lacking = Object.values(probes).filter((p) => !raw.has(p.script));
  if (lacking.length) missing(lacking);
  const out: Record<string, unknown> = {};
  for (const [k, p] of Object.entries(probes)) {
    const r = raw.get(p.script)!;
    out[k] = p.parse(r.body, r.code);
  }
  return out as ProbeResults<P>;
}
