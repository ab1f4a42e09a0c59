import { createRequire } from 'node:module';
import type { Evidence } from '../src/runner/types.js';

/**
 * Evidence about the workshop's recording rules, from what Prometheus' HTTP API answers
 * (GET /api/v1/rules, instant queries). Pure functions: the prometheus step runs the
 * requests on the host, these read the answers (unit-tested on recorded answers).
 */

/** A rule as GET /api/v1/rules reports it. */
export interface LoadedRule {
  name: string;
  health: string;
  lastError?: string;
}

export interface LoadedGroup {
  name: string;
  file: string;
  rules: LoadedRule[];
}

/** The groups of a GET /api/v1/rules answer, or why it cannot be read. */
export function parseRules(body: string): LoadedGroup[] | { error: string } {
  if (!body.trim()) return { error: 'no answer from GET /api/v1/rules' };
  try {
    const j = JSON.parse(body) as { status?: string; error?: string; data?: { groups?: LoadedGroup[] } };
    if (j.status !== 'success') return { error: `GET /api/v1/rules: ${j.status ?? '?'} ${j.error ?? ''}`.trim() };
    return (j.data?.groups ?? []).map((g) => ({
      name: g.name,
      file: g.file,
      rules: (g.rules ?? []).map((r) => ({ name: r.name, health: r.health, lastError: r.lastError })),
    }));
  } catch {
    return { error: `GET /api/v1/rules answered something that is not JSON: ${body.slice(0, 80)}` };
  }
}

/** yaml, loaded on first use: a run that verifies nothing (a no-op re-run) never pays for it. */
const parse = (text: string): unknown => (createRequire(import.meta.url)('yaml') as typeof import('yaml')).parse(text);

/** The record names of a rules file (in file order). */
export function recordNames(rulesYaml: string): string[] {
  const doc = parse(rulesYaml) as { groups: { rules: { record?: string }[] }[] };
  return doc.groups.flatMap((g) => g.rules.flatMap((r) => (r.record ? [r.record] : [])));
}

/**
 * Two lines: the group is loaded from the expected file with exactly the expected rules,
 * and every rule of it evaluates without error (health "ok", no lastError).
 */
export function rulesEvidence(
  answer: LoadedGroup[] | { error: string },
  want: { group: string; file: string; records: string[] },
): Evidence[] {
  const loaded = `Prometheus has loaded the workshop's recording rules (group ${want.group})`;
  const healthy = "the workshop's recording rules evaluate without error";
  if (!Array.isArray(answer))
    return [
      { ok: false, what: loaded, detail: answer.error },
      { ok: false, what: healthy, detail: 'not loaded' },
    ];
  const g = answer.find((x) => x.name === want.group);
  if (!g)
    return [
      {
        ok: false,
        what: loaded,
        detail: `no group ${want.group} among ${answer.length} (${answer.map((x) => x.name).join(', ') || 'none'}); is ${want.file} in rule_files?`,
      },
      { ok: false, what: healthy, detail: 'not loaded' },
    ];
  const have = g.rules.map((r) => r.name).sort();
  const expected = [...want.records].sort();
  const same = g.file === want.file && have.join('\n') === expected.join('\n');
  const missing = expected.filter((r) => !have.includes(r));
  const extra = have.filter((r) => !expected.includes(r));
  const bad = g.rules.filter((r) => r.health !== 'ok' || (r.lastError ?? '') !== '');
  return [
    {
      ok: same,
      what: loaded,
      detail: same
        ? `${g.rules.length} recording rules from ${g.file}`
        : `from ${g.file} (want ${want.file})${missing.length ? `; missing ${missing.join(', ')}` : ''}${extra.length ? `; unexpected ${extra.join(', ')}` : ''}`,
    },
    {
      ok: bad.length === 0 && g.rules.length > 0,
      what: healthy,
      detail: bad.length
        ? bad.map((r) => `${r.name}: health ${r.health}${r.lastError ? `: ${r.lastError}` : ''}`).join('; ')
        : `${g.rules.length}/${g.rules.length} rules: health ok, no lastError`,
    },
  ];
}

/**
 * Pairs of (lab series, workshop series derived from it) that prove counts: when the lab
 * has the first, the second must exist too.
 */
export const WORKSHOP_SERIES_QUERIES: { from: string; to: string }[] = [
  {
    from: 'count(ebpf_exporter_php_request_duration_seconds_bucket)',
    to: 'count(ebpf_exporter_php_request_time_sec_bucket)',
  },
  {
    from: 'count(ebpf_exporter_memcached_set_value_bytes_bucket)',
    to: 'count(ebpf_exporter_memcached_set_val_length_bucket)',
  },
  {
    from: 'count(ebpf_exporter_php_compile_file_total)',
    to: 'count(ebpf_exporter_php_compile_file_total{filename!=""})',
  },
];

/** The value of an instant query answer whose result is one sample (0 when empty). */
export function scalarOf(body: string): number | undefined {
  try {
    const j = JSON.parse(body) as { status?: string; data?: { result?: { value?: [number, string] }[] } };
    if (j.status !== 'success') return undefined;
    const v = j.data?.result?.[0]?.value?.[1];
    return v === undefined ? 0 : Number(v);
  } catch {
    return undefined;
  }
}

/**
 * The derived series exist wherever their lab series do. `answers` holds, per pair of
 * {@link WORKSHOP_SERIES_QUERIES}, the two query answers. Without any lab series yet the
 * line is NOT VERIFIED (skipped), never passing.
 */
export const WORKSHOP_SERIES_WHAT =
  "the workshop's series are derived from the lab's (recording rules, filename label)";

export function workshopSeriesEvidence(answers: [string, string][]): Evidence {
  const what = WORKSHOP_SERIES_WHAT;
  const parts: string[] = [];
  let ok = true;
  let any = false;
  WORKSHOP_SERIES_QUERIES.forEach((q, i) => {
    const [a = '', b = ''] = answers[i] ?? [];
    const from = scalarOf(a);
    const to = scalarOf(b);
    if (from === undefined || to === undefined) {
      ok = false;
      parts.push(`${q.from}: query failed`);
      return;
    }
    if (from > 0) any = true;
    if (from > 0 && to === 0) ok = false;
    parts.push(`${q.to} = ${to} (from ${q.from} = ${from})`);
  });
  if (ok && !any)
    return {
      ok: false,
      skipped: true,
      what,
      detail: `no lab series to derive from yet (no PHP request, memcached set or compile seen): run \`ebpf-lab load\`, then verify again`,
    };
  return { ok, what, detail: parts.join('; ') };
}
