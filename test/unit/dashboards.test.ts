import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { packageRoot } from '../../src/paths.js';
import { GRAFANA_DATASOURCE_UID, queryableMetricNames } from '../../src/render/metrics.js';
import { metricNames, promtoolCheckExprs } from '../support/promql.js';

// Checks every dashboard in dashboards/: structure Grafana's file provisioning needs, the
// fixed data source, and every PromQL expression (syntax by the real promtool, metric names
// against the metric contract in src/render/metrics.ts).

const dir = join(packageRoot(), 'dashboards');
const files = readdirSync(dir)
  .filter((f) => f.endsWith('.json'))
  .sort();
const tmp = mkdtempSync(join(tmpdir(), 'ebpf-lab-dash-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

interface Query {
  dashboard: string;
  where: string;
  expr: string;
}

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

function walk(v: Json, visit: (obj: { [k: string]: Json }) => void): void {
  if (Array.isArray(v)) v.forEach((x) => walk(x, visit));
  else if (v !== null && typeof v === 'object') {
    visit(v);
    Object.values(v).forEach((x) => walk(x, visit));
  }
}

/** Panel targets (rows nest panels) and label_values() variable queries. */
function queries(file: string, d: { [k: string]: Json }): Query[] {
  const out: Query[] = [];
  walk(d, (o) => {
    if (typeof o.expr === 'string') {
      out.push({ dashboard: file, where: `${String(o.refId)} (${String(o.expr).slice(0, 40)})`, expr: o.expr });
    }
  });
  const vars = ((d.templating as { list?: Json[] } | undefined)?.list ?? []) as { [k: string]: Json }[];
  for (const v of vars) {
    if (v.type !== 'query') continue;
    const q = typeof v.query === 'string' ? v.query : String((v.query as { query?: Json }).query);
    const m = /^label_values\((.+),\s*\w+\)$/.exec(q);
    if (!m) throw new Error(`${file}: variable ${String(v.name)} query is not label_values(expr, label): ${q}`);
    out.push({ dashboard: file, where: `variable ${String(v.name)}`, expr: m[1] as string });
  }
  return out;
}

/** Grafana's variables replaced by values promtool accepts; anything else left over fails. */
const GRAFANA_VARS: Record<string, string> = {
  $sapi: '.+',
  $__range: '30m',
  $__rate_interval: '1m',
  $__interval: '15s',
};
function substitute(expr: string): string {
  let out = expr;
  for (const [k, v] of Object.entries(GRAFANA_VARS)) out = out.split(k).join(v);
  if (out.includes('$')) throw new Error(`unknown Grafana variable in ${expr}`);
  return out;
}

function promtoolCheckRules(all: Query[], name: string) {
  return promtoolCheckExprs(
    all.map((q) => ({ name: `${q.dashboard} ${q.where}`, expr: substitute(q.expr) })),
    join(tmp, name),
  );
}

const dashboards = files.map((f) => ({ file: f, raw: readFileSync(join(dir, f), 'utf8') }));
const parsed = dashboards.map((d) => ({ ...d, json: JSON.parse(d.raw) as { [k: string]: Json } }));
const allQueries = parsed.flatMap((d) => queries(d.file, d.json));

describe('dashboards/', () => {
  it('has the lab dashboards', () => {
    expect(files).toEqual(['ebpf-lab-health.json', 'ebpf-lab-php.json']);
  });

  it.each(dashboards)('$file is provisionable: uid = file name, id null, no ${DS_...}', ({ file, raw }) => {
    const d = JSON.parse(raw) as { [k: string]: Json };
    expect(d.uid).toBe(basename(file, '.json'));
    expect(d.id).toBeNull();
    expect(raw).not.toContain('${DS_');
    expect(raw).not.toContain('__inputs');
    expect(d.refresh).toBe('10s');
    expect(d.time).toEqual({ from: 'now-30m', to: 'now' });
  });

  it.each(parsed)('$file uses only the provisioned data source', ({ json }) => {
    const seen: Json[] = [];
    walk(json, (o) => {
      if ('datasource' in o) seen.push(o.datasource as Json);
    });
    expect(seen.length).toBeGreaterThan(0);
    for (const ds of seen) expect(ds).toEqual({ type: 'prometheus', uid: GRAFANA_DATASOURCE_UID });
  });

  it.each(parsed)('$file: panel ids are unique and every panel has a grid position', ({ json }) => {
    const ids: number[] = [];
    walk(json, (o) => {
      if (typeof o.type === 'string' && 'gridPos' in o) ids.push(o.id as number);
    });
    expect(ids.length).toBeGreaterThan(3);
    expect(new Set(ids).size).toBe(ids.length);
  });

  it('has the workshop panels and the health panels', () => {
    const exprs = allQueries.map((q) => q.expr).join('\n');
    for (const p of ['0.5', '0.9', '0.95', '0.99']) {
      expect(exprs).toContain(
        `histogram_quantile(${p}, sum by (le) (rate(ebpf_exporter_php_request_duration_seconds_bucket`,
      );
    }
    expect(exprs).toContain('sum by (le, uri, sapi)');
    expect(exprs).toContain('sum by (dir) (increase(ebpf_exporter_php_compile_file_total');
    expect(exprs).toContain('ebpf_exporter_php_exception_thrown_total');
    expect(exprs).toContain('ebpf_exporter_php_exception_caught_total');
    expect(exprs).toContain('topk(15, sum by (class, function)');
    expect(exprs).toContain('ebpf_exporter_php_request_dropped_total');
    expect(exprs).toContain('ebpf_exporter_ebpf_program_attached');
    const types = new Set<string>();
    parsed.forEach((d) => walk(d.json, (o) => typeof o.type === 'string' && 'gridPos' in o && types.add(o.type)));
    for (const t of ['timeseries', 'piechart', 'heatmap', 'bargauge', 'stat', 'table']) expect(types).toContain(t);
  });

  it('metricNames() finds series names and nothing else', () => {
    expect(
      metricNames(
        'histogram_quantile(0.95, sum by (le, uri) (rate(a_bucket{sapi=~"x|y", le!="1"}[5m]))) / on (id) group_left (config) b_info or vector(0)',
      ),
    ).toEqual(['a_bucket', 'b_info']);
    expect(metricNames('count(up{job="ebpf"} == 0)')).toEqual(['up']);
  });

  it('every query selects only known metrics', () => {
    const known = queryableMetricNames();
    expect(allQueries.length).toBeGreaterThan(15);
    for (const q of allQueries) {
      const names = metricNames(substitute(q.expr));
      expect(names.length, `${q.dashboard} ${q.where}`).toBeGreaterThan(0);
      for (const n of names) expect(known, `${q.dashboard} ${q.where}: ${n}`).toContain(n);
    }
  });

  it('every query is valid PromQL (promtool check rules)', () => {
    const r = promtoolCheckRules(allQueries, 'all.rules.yml');
    expect(r.error).toBeUndefined();
    const out = r.out;
    expect(r.status, out).toBe(0);
    expect(out).toMatch(new RegExp(`SUCCESS: ${allQueries.length} rules found`));
  });

  it('promtool does reject a broken expression (the check can fail)', () => {
    const r = promtoolCheckRules(
      [{ dashboard: 'x', where: 'y', expr: 'sum by (le) (rate(foo[5m])' }],
      'broken.rules.yml',
    );
    expect(r.status).not.toBe(0);
  });
});
