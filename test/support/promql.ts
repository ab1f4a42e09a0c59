import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { stringify } from 'yaml';

/** PromQL checks shared by the dashboard tests (the lab's dashboards and the workshop's). */

const KEYWORDS = new Set([
  'by',
  'without',
  'on',
  'ignoring',
  'group_left',
  'group_right',
  'bool',
  'and',
  'or',
  'unless',
  'offset',
  'inf',
  'nan',
]);

/** Series names a PromQL expression selects (strings, label sets, groupings and durations removed). */
export function metricNames(expr: string): string[] {
  const stripped = expr
    .replace(/"(?:[^"\\]|\\.)*"/g, '""')
    .replace(/\{[^}]*\}/g, ' ')
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ')
    .replace(/\[[^\]]*\]/g, ' ');
  const names = new Set<string>();
  for (const m of stripped.matchAll(/[A-Za-z_:][A-Za-z0-9_:]*/g)) {
    const word = m[0];
    const after = stripped.slice((m.index ?? 0) + word.length).trimStart();
    if (after.startsWith('(') || KEYWORDS.has(word.toLowerCase())) continue;
    names.add(word);
  }
  return [...names];
}

/** Label names an expression groups by (`by (a, b)`, `without (c)`) or matches on (`{x="..."}`). */
export function labelNamesUsed(expr: string): string[] {
  const out = new Set<string>();
  for (const m of expr.matchAll(/\b(?:by|without)\s*\(([^)]*)\)/g))
    for (const l of (m[1] ?? '').split(',')) if (l.trim()) out.add(l.trim());
  for (const m of expr.replace(/"(?:[^"\\]|\\.)*"/g, '""').matchAll(/\{([^}]*)\}/g))
    for (const l of (m[1] ?? '').matchAll(/([A-Za-z_][A-Za-z0-9_]*)\s*(?:=~|!~|!=|=)/g)) out.add(l[1] as string);
  return [...out];
}

/**
 * Runs the real promtool on every expression, each as a recording rule of its own group:
 * `promtool check rules` parses them with Prometheus' own PromQL parser.
 */
export function promtoolCheckExprs(
  exprs: { name: string; expr: string }[],
  file: string,
): ReturnType<typeof spawnSync> & { out: string } {
  const groups = exprs.map((q, i) => ({
    name: `${q.name} #${i}`,
    rules: [{ record: `ebpf_lab:check:${i}`, expr: q.expr }],
  }));
  writeFileSync(file, stringify({ groups }));
  const r = spawnSync('promtool', ['check', 'rules', file], { encoding: 'utf8' });
  return { ...r, out: `${String(r.stdout)}${String(r.stderr)}` };
}
