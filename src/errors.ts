import type { CommandResult } from './transports/transport.js';
import { redactUrls } from './redact.js';

/** A user's mistake (bad flag, unreachable host, wrong key): message + hint, exit 2. */
export class UserError extends Error {
  override name = 'UserError';
  constructor(
    message: string,
    readonly hint?: string,
  ) {
    super(message);
  }
}

/** A command on a host failed: host, step, command, exit code and stderr tail; exit 1. */
export class CommandError extends Error {
  override name = 'CommandError';
  constructor(
    readonly result: CommandResult,
    readonly host: string,
    readonly stepId?: string,
  ) {
    super(formatCommandFailure(result, host, stepId));
  }
}

/** A post-condition did not hold; evidence says what was seen. Exit 1. */
export class VerifyError extends Error {
  override name = 'VerifyError';
  constructor(
    message: string,
    readonly evidence: string[] = [],
  ) {
    super(message);
  }
}

/**
 * The host (the lab or this machine) is in a state ebpf-lab cannot work in, for a reason
 * outside the input: a full disk, a directory where a managed file belongs. Message and
 * hint say where and what to do; exit 1, no stack trace.
 */
export class HostError extends Error {
  override name = 'HostError';
  constructor(
    message: string,
    readonly hint?: string,
  ) {
    super(message);
  }
}

/** A step's apply left changes pending: the step does not converge (a bug). */
export class ConvergenceError extends Error {
  override name = 'ConvergenceError';
}

const EXIT_MEANINGS: Record<number, string> = {
  1: 'general error',
  2: 'misuse of shell builtin or bad usage',
  124: 'timed out',
  126: 'command not executable',
  127: 'command not found',
  130: 'interrupted (SIGINT)',
  137: 'killed (SIGKILL)',
  143: 'terminated (SIGTERM)',
  255: 'connection or remote error',
};

export function exitMeaning(code: number): string {
  return EXIT_MEANINGS[code] ?? (code > 128 ? `killed by signal ${code - 128}` : 'failed');
}

/** Last lines of output, error-looking lines first, at most `max` lines. */
export function tail(text: string, max = 20): string[] {
  const lines = text.split('\n').filter((l) => l.trim() !== '');
  const errorish = lines.filter((l) => /(error|fail|fatal|denied|not found|unable|cannot|E:)/i.test(l));
  const picked = errorish.length > 0 ? errorish.slice(-Math.ceil(max / 2)) : [];
  const rest = lines.slice(-(max - picked.length)).filter((l) => !picked.includes(l));
  return [...picked, ...rest].slice(-max);
}

export function formatCommandFailure(r: CommandResult, host: string, stepId?: string): string {
  const where = stepId ? `step ${stepId} on ${host}` : host;
  const out = tail(r.stderr || r.stdout);
  const cmd = r.command.length > 300 ? r.command.slice(0, 300) + ' …' : r.command;
  return [
    `command failed in ${where}: exit ${r.exitCode} (${exitMeaning(r.exitCode)})`,
    `  $ ${cmd}`,
    ...out.map((l) => '  | ' + l),
  ].join('\n');
}

/** An error as data, for `--output json` (bad input, a failure, or a bug in ebpf-lab). */
export interface ErrorSummary {
  kind: 'bad-input' | 'failed' | 'internal';
  message: string;
  hint?: string;
  exitCode: 1 | 2;
}

export function summarizeError(e: unknown): ErrorSummary {
  if (e instanceof UserError)
    return {
      kind: 'bad-input',
      message: redactUrls(e.message),
      ...(e.hint ? { hint: redactUrls(e.hint) } : {}),
      exitCode: 2,
    };
  const err = e as Error;
  if (err?.name === 'CommandError' || err?.name === 'VerifyError')
    return { kind: 'failed', message: redactUrls(err.message), exitCode: 1 };
  if (err?.name === 'HostError') {
    const hint = (err as HostError).hint;
    return {
      kind: 'failed',
      message: redactUrls(err.message),
      ...(hint ? { hint: redactUrls(hint) } : {}),
      exitCode: 1,
    };
  }
  return { kind: 'internal', message: err?.stack ?? String(e), exitCode: 1 };
}

/** Set on an error whose JSON summary is already on stdout (the run's own JSON object carried it). */
export const JSON_PRINTED = Symbol('ebpf-lab.jsonPrinted');

/**
 * The run cannot go on on this host: its run lock could not be taken (another run holds it,
 * no space for its record…), found by the run's first command. The runner stops at once and
 * the command reports `reason` as it would have before any step began.
 */
export class RunAborted extends Error {
  override name = 'RunAborted';
  constructor(readonly reason: unknown) {
    super(reason instanceof Error ? reason.message : String(reason));
  }
}
