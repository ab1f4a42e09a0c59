import type { Change, Evidence, StepResult } from './types.js';

export type Mode = 'up' | 'plan' | 'verify';

/** Everything the engine reports; renderers (tty, plain, json, test) consume these. */
export type RunEvent =
  | { kind: 'run:start'; host: string; mode: Mode; steps: string[] }
  | { kind: 'note'; line: string }
  | { kind: 'step:start'; id: string; title: string }
  | { kind: 'step:phase'; id: string; phase: 'check' | 'apply' | 'recheck' | 'verify' | 'prove' }
  | { kind: 'step:changes'; id: string; changes: Change[]; notes: string[] }
  | { kind: 'step:progress'; id: string; line: string }
  | { kind: 'step:evidence'; id: string; evidence: Evidence }
  | { kind: 'step:end'; result: StepResult }
  | {
      kind: 'run:end';
      host: string;
      mode: Mode;
      ok: boolean;
      results: StepResult[];
      durationMs: number;
      /** Round trips to the host during the run (each exec, put and get). */
      roundTrips?: number;
      /** The checks answered by one snapshot of the host (src/runner/snapshot.ts). */
      snapshot?: RunSnapshot;
    };

/** How many steps' checks one snapshot answered, in how many round trips and how long. */
export interface RunSnapshot {
  steps: number;
  roundTrips: number;
  ms: number;
}

export type Emit = (e: RunEvent) => void;

/**
 * Events held back until `release()`, then passed on in order (and every later one at once):
 * a run that starts before its host is open says nothing until it is.
 */
export function heldEvents(emit: Emit): { emit: Emit; release(): void } {
  let held: RunEvent[] | undefined = [];
  return {
    emit: (e) => (held ? held.push(e) : emit(e)),
    release() {
      const out = held ?? [];
      held = undefined;
      for (const e of out) emit(e);
    },
  };
}
