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

/** What one probe script printed (its last newline dropped) and its exit code. */
export interface RawOutput {
  body: string;
  code: number;
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
  const raw = await readScripts(
    host,
    keys.map((k) => probes[k]!.script),
    keys,
  );
  const out: Record<string, unknown> = {};
  keys.forEach((k, i) => (out[k] = probes[k]!.parse(raw[i]!.body, raw[i]!.code)));
  return out as ProbeResults<P>;
}

/**
 * The raw outputs of `scripts`, run in one sh script (one round trip) as {@link runProbes}
 * runs them; `names` name them in errors.
 */
export async function readScripts(host: Transport, scripts: string[], names: string[] = []): Promise<RawOutput[]> {
  if (scripts.length === 0) return [];
  const nonce = randomBytes(6).toString('hex');
  const script = scripts
    // The extra `echo` ends the probe's last line even when its output lacks a newline.
    .map((s, i) => `echo '@@${nonce} ${i}'\n( ${s}\n) </dev/null 2>/dev/null\nr=$?; echo; echo "@@${nonce} ${i} $r"`)
    .join('\n');
  const r = await host.exec({ script }, { sudo: true });
  const re = new RegExp(`^@@${nonce} (\\d+)\\n([\\s\\S]*?)^@@${nonce} \\1 (\\d+)$`, 'gm');
  const seen = new Map<number, RawOutput>();
  for (const m of r.stdout.matchAll(re))
    seen.set(Number(m[1]), { body: m[2]!.slice(0, -1).replace(/\n$/, ''), code: Number(m[3]) });
  return scripts.map((_, i) => {
    const s = seen.get(i);
    if (!s)
      throw new Error(
        `probe ${names[i] ?? i} produced no output on ${host.name} (exit ${r.exitCode}): ${r.stderr.slice(-300)}`,
      );
    return s;
  });
}
