import { randomBytes } from 'node:crypto';
import type { Transport } from '../transports/transport.js';

/** A read-only fact: a sh snippet and a parser of its stdout (and exit code). */
export interface Probe<T> {
  script: string;
  parse(stdout: string, exitCode: number): T;
  /** What the probe reads (`file`, `packages`…) and for what: lets the fake context answer it in unit tests. */
  fact?: { id: string; args?: unknown };
}

export type ProbeResults<P extends Record<string, Probe<unknown>>> = {
  [K in keyof P]: P[K] extends Probe<infer T> ? T : never;
};

export function probe<T>(
  script: string,
  parse: (stdout: string, exitCode: number) => T,
  fact?: Probe<T>['fact'],
): Probe<T> {
  return { script, parse, fact };
}

/**
 * Runs every probe in one sh script (one round trip), each in a subshell fenced
 * by nonce markers so one probe's output or failure cannot disturb another's.
 */
export async function runProbes<P extends Record<string, Probe<unknown>>>(
  host: Transport,
  probes: P,
): Promise<ProbeResults<P>> {
  const keys = Object.keys(probes);
  if (keys.length === 0) return {} as ProbeResults<P>;
  const nonce = randomBytes(6).toString('hex');
  const script = keys
    // The extra `echo` ends the probe's last line even when its output lacks a newline.
    .map(
      (k, i) =>
        `echo '@@${nonce} ${i}'\n( ${probes[k]!.script}\n) </dev/null 2>/dev/null\nr=$?; echo; echo "@@${nonce} ${i} $r"`,
    )
    .join('\n');
  const r = await host.exec({ script }, { sudo: true });
  const out: Record<string, unknown> = {};
  const re = new RegExp(`^@@${nonce} (\\d+)\\n([\\s\\S]*?)^@@${nonce} \\1 (\\d+)$`, 'gm');
  const seen = new Map<number, { body: string; code: number }>();
  for (const m of r.stdout.matchAll(re)) seen.set(Number(m[1]), { body: m[2]!, code: Number(m[3]) });
  keys.forEach((k, i) => {
    const s = seen.get(i);
    if (!s)
      throw new Error(`probe ${k} produced no output on ${host.name} (exit ${r.exitCode}): ${r.stderr.slice(-300)}`);
    out[k] = probes[k]!.parse(s.body.slice(0, -1).replace(/\n$/, ''), s.code);
  });
  return out as ProbeResults<P>;
}
