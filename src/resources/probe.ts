import { randomBytes } from 'node:crypto';
import { quote } from '../transports/quote.js';
import type { Transport } from '../transports/transport.js';

/** A read-only fact: a sh snippet and a parser of its stdout (and exit code). */
export interface Probe<T> {
  script: string;
  parse(stdout: string, exitCode: number): T;
  /** What the probe reads (`file`, `packages`…) and for what: lets the fake context answer it in unit tests. */
  fact?: { id: string; args?: unknown };
  /** Probes of this kind are read together in one script (see ProbeBatch). */
  batch?: ProbeBatch;
  /**
   * A cheap command whose output changes whenever the probe's answer can: with the answer a
   * run before read under the same fingerprint (a {@link ProbeMemo}), the probe itself does
   * not run. Each probe that has one says why it is enough.
   */
  fingerprint?: string;
}

/** Answers of fingerprinted probes as a run read them, by probe script: the next run's memo. */
export type ProbeMemo = Record<string, { fingerprint: string } & RawOutput>;

/**
 * Probes of one kind that one script answers together: every managed file's stat and sha256
 * in one `stat` and one `sha256sum`, every unit in one `systemctl show`, instead of a few
 * processes per file or unit. A snapshot of a converged lab holds ~50 such probes; on the host
 * each process costs more than the whole round trip. The batch's output for an item is exactly
 * what the probe's own script prints, so parse() is the same either way; the probe's own
 * script names it (the snapshot's key) and is what the unit tests compare the batch with.
 */
export interface ProbeBatch {
  /** Probes with the same kind share `script`. */
  kind: string;
  /** This probe's item: one line, handed to script(). */
  item: string;
  /** One script for the items: it prints a line `<mark> <i>` before the output of items[i]. */
  script(items: string[], mark: string): string;
}

export type ProbeResults<P extends Record<string, Probe<unknown>>> = {
  [K in keyof P]: P[K] extends Probe<infer T> ? T : never;
};

export function probe<T>(
  script: string,
  parse: (stdout: string, exitCode: number) => T,
  fact?: Probe<T>['fact'],
  batch?: ProbeBatch,
  fingerprint?: string,
): Probe<T> {
  return { script, parse, fact, ...(batch ? { batch } : {}), ...(fingerprint ? { fingerprint } : {}) };
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
    keys.map((k) => probes[k]!),
    keys,
  );
  const out: Record<string, unknown> = {};
  keys.forEach((k, i) => (out[k] = probes[k]!.parse(raw[i]!.body, raw[i]!.code)));
  return out as ProbeResults<P>;
}

/** What readScripts runs: a probe's script, and its batch when it has one. */
export type Readable = Pick<Probe<unknown>, 'script' | 'batch' | 'fingerprint'>;

/**
 * A fingerprinted probe's section: its fingerprint, then the probe, unless the fingerprint is
 * the one `memo` was read under (then only `<same>`). Its output: `<same>`, or the fingerprint,
 * a line `<fp>`, and the probe's own output.
 */
function fingerprinted(
  script: string,
  fingerprint: string,
  known: string | undefined,
  same: string,
  fp: string,
): string {
  const check = known !== undefined ? `if [ "$f" = ${quote(known)} ]; then echo '${same}'; exit 0; fi\n` : '';
  return `f=$( ${fingerprint}\n)\n${check}printf '%s\\n' "$f"; echo '${fp}'\n${script}`;
}

/**
 * The fingerprint the members of a batch share (each has it: a batch reads one source, e.g.
 * dpkg's database for every step's packages), and the one their memo entries were all read
 * under, when they were.
 */
function batchFingerprint(
  members: Readable[],
  memo: ProbeMemo | undefined,
): { fingerprint: string; known?: string } | undefined {
  const fingerprint = members[0]?.fingerprint;
  if (!fingerprint || members.some((p) => p.fingerprint !== fingerprint)) return undefined;
  const read = members.map((p) => memo?.[p.script]?.fingerprint);
  const known = read[0] !== undefined && read.every((f) => f === read[0]) ? read[0] : undefined;
  return { fingerprint, ...(known !== undefined ? { known } : {}) };
}

/** From this many sections on, a script runs them side by side (see {@link sideBySide}). */
const SIDE_BY_SIDE_FROM = 4;

/**
 * Sections run side by side on the host, each into a file of its own in a private temporary
 * directory, then printed in order: the script prints what it prints with the sections one
 * after the other, and the host takes the time of the slowest section instead of the sum of
 * all (a snapshot's dozen sections start a few processes each, and on a small host a process
 * costs a millisecond or more). The sections only read, so reading them at once is one moment
 * as much as reading them in turn is. Where no directory can be made, or a section's output
 * could not all be written (a full disk, say), they run in turn, as they always did; the
 * directory goes when the script ends.
 */
function sideBySide(parts: string[]): string {
  const files = parts.map((_, i) => `"$ebpf_lab_d/${i}"`).join(' ');
  return [
    ...parts.map((p, i) => `ebpf_lab_s${i}() {\n${p}\n}`),
    'ebpf_lab_d=$(mktemp -d 2>/dev/null) || ebpf_lab_d=',
    'if [ -n "$ebpf_lab_d" ]; then',
    `  trap 'rm -rf -- "$ebpf_lab_d"' EXIT`,
    `  trap 'exit 129' HUP PIPE TERM INT`,
    ...parts.map((_, i) => `  ebpf_lab_s${i} >"$ebpf_lab_d/${i}" & ebpf_lab_p${i}=$!`),
    // A section that could not write all of its output (its last line is the last write)
    // fails: then they all run again in turn, as below.
    '  ebpf_lab_ok=1',
    ...parts.map((_, i) => `  wait "$ebpf_lab_p${i}" || ebpf_lab_ok=`),
    `  if [ -n "$ebpf_lab_ok" ]; then cat -- ${files}; exit; fi`,
    'fi',
    ...parts.map((_, i) => `ebpf_lab_s${i}`),
  ].join('\n');
}

/**
 * The raw outputs of `probes`, run in one sh script (one round trip) as {@link runProbes}
 * runs them; `names` name them in errors. The probes of one batch kind run as their batch's
 * one script (one item or many: a unit alone costs one systemctl instead of four); each gets
 * the part of its output that belongs to its item.
 */
export async function readScripts(
  host: Transport,
  probes: Readable[],
  names: string[] = [],
  memo?: { known?: ProbeMemo; read: ProbeMemo },
): Promise<RawOutput[]> {
  if (probes.length === 0) return [];
  const nonce = randomBytes(6).toString('hex');
  const mark = `@@${nonce}-item`;
  const same = `@@${nonce}-same`;
  const fp = `@@${nonce}-fp`;
  // Sections: a probe alone, or every probe of one batch kind.
  const kinds = new Map<string, number[]>();
  probes.forEach((p, i) => p.batch && kinds.set(p.batch.kind, [...(kinds.get(p.batch.kind) ?? []), i]));
  const sections: { script: string; one?: number; members?: number[]; fingerprinted?: boolean }[] = [];
  const batched = new Set<number>();
  for (const members of kinds.values()) {
    const items = members.map((i) => probes[i]!.batch!.item);
    const script = probes[members[0]!]!.batch!.script(items, mark);
    const f = memo
      ? batchFingerprint(
          members.map((i) => probes[i]!),
          memo.known,
        )
      : undefined;
    sections.push(
      f
        ? { script: fingerprinted(script, f.fingerprint, f.known, same, fp), members, fingerprinted: true }
        : { script, members },
    );
    members.forEach((i) => batched.add(i));
  }
  probes.forEach((p, i) => {
    if (batched.has(i)) return;
    const f = memo && p.fingerprint;
    sections.push({
      script: f ? fingerprinted(p.script, f, memo.known?.[p.script]?.fingerprint, same, fp) : p.script,
      one: i,
      fingerprinted: Boolean(f),
    });
  });
  // The extra `echo` ends the probe's last line even when its output lacks a newline.
  const parts = sections.map(
    (s, i) => `echo '@@${nonce} ${i}'\n( ${s.script}\n) </dev/null 2>/dev/null\nr=$?; echo; echo "@@${nonce} ${i} $r"`,
  );
  const script = parts.length >= SIDE_BY_SIDE_FROM ? sideBySide(parts) : parts.join('\n');
  const r = await host.exec({ script }, { sudo: true });
  const re = new RegExp(`^@@${nonce} (\\d+)\\n([\\s\\S]*?)^@@${nonce} \\1 (\\d+)$`, 'gm');
  const seen = new Map<number, RawOutput>();
  for (const m of r.stdout.matchAll(re)) {
    const section = sections[Number(m[1])]!;
    const body = m[2]!.slice(0, -1);
    const members = section.members ?? [section.one!];
    let own = body;
    let fingerprint: string | undefined;
    if (section.fingerprinted && memo) {
      // `<same>`: every member's answer is the memo's. Else the fingerprint, the `<fp>` line
      // and the probe's (or the batch's) own output.
      if (body === `${same}\n`) {
        for (const i of members) {
          const known = memo.known?.[probes[i]!.script];
          if (!known) continue;
          memo.read[probes[i]!.script] = known;
          seen.set(i, { body: known.body, code: known.code });
        }
        continue;
      }
      const at = body.indexOf(`\n${fp}\n`);
      if (at < 0) continue;
      fingerprint = body.slice(0, at);
      own = body.slice(at + fp.length + 2);
    }
    const answer = (i: number, read: RawOutput) => {
      seen.set(i, read);
      if (fingerprint !== undefined) memo!.read[probes[i]!.script] = { fingerprint, ...read };
    };
    if (!section.members) {
      answer(section.one!, { body: own.replace(/\n$/, ''), code: Number(m[3]) });
      continue;
    }
    // The batch's items, each after its `<mark> <i>` line.
    const parts = own.split(new RegExp(`^${mark} (\\d+)\\n`, 'm'));
    for (let k = 1; k + 1 < parts.length; k += 2) {
      const member = section.members[Number(parts[k])];
      if (member !== undefined) answer(member, { body: parts[k + 1]!.replace(/\n$/, ''), code: 0 });
    }
  }
  return probes.map((_, i) => {
    const s = seen.get(i);
    if (!s)
      throw new Error(
        `probe ${names[i] ?? i} produced no output on ${host.name} (exit ${r.exitCode}): ${r.stderr.slice(-300)}`,
      );
    return s;
  });
}
