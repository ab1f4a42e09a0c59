import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { packageRoot } from '../../src/paths.js';
import { render } from '../../src/render/template.js';
import {
  EXPORTER_PREFIX,
  GRAFANA_DATASOURCE_UID,
  LAB_METRICS,
  WORKSHOP_METRICS,
  WORKSHOP_RULE_GROUP,
  queryableMetricNames,
  seriesLabels,
} from '../../src/render/metrics.js';
import { workshopRules, WORKSHOP_RULES } from '../../steps/prometheus.js';
import {
  parseRules,
  recordNames,
  rulesEvidence,
  workshopSeriesEvidence,
  WORKSHOP_SERIES_QUERIES,
} from '../../steps/prometheus-rules.js';
import { labelNamesUsed, metricNames, promtoolCheckExprs } from '../support/promql.js';

// Workshop mode: the workshop's own material (egmc/php-sessionless-conference-ebpf-workshop)
// against the lab. Facts about it are in test/fixtures/workshop/ (see the README there).

const fixtures = join(packageRoot(), 'test', 'fixtures', 'workshop');
const tmp = mkdtempSync(join(tmpdir(), 'ebpf-lab-workshop-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

interface PanelFacts {
  id: number;
  type: string;
  title: string;
  queries: { refId: string; expr: string; legend?: string }[];
}
const dashboard = JSON.parse(readFileSync(join(fixtures, 'dashboard-panels.json'), 'utf8')) as {
  inputs: { name: string; type: string; pluginId: string }[];
  panelDatasource: { type: string; uid: string };
  panels: PanelFacts[];
};
const exporterPhp = JSON.parse(readFileSync(join(fixtures, 'exporter-php.json'), 'utf8')) as {
  metrics: { name: string; type: 'counter' | 'histogram'; labels: string[] }[];
  maps: { name: string; metric: string | null }[];
};
const commands = JSON.parse(readFileSync(join(fixtures, 'workshop-commands.json'), 'utf8')) as { mapGrep: string };
const queries = dashboard.panels.flatMap((p) => p.queries.map((q) => ({ panel: p, ...q })));
const rulesYaml = workshopRules();

function promtoolTestRules(testYaml: string): { status: number | null; out: string } {
  const rules = join(tmp, 'ebpf-lab-workshop.rules.yml');
  writeFileSync(rules, rulesYaml);
  const file = join(tmp, `rules-test-${Math.random().toString(36).slice(2)}.yml`);
  writeFileSync(file, testYaml.replaceAll('RULES_FILE', rules));
  const r = spawnSync('promtool', ['test', 'rules', file], { encoding: 'utf8' });
  if (r.error) throw r.error;
  return { status: r.status, out: `${r.stdout}${r.stderr}` };
}

describe('workshop mode: the recording rules', () => {
  const rulesTest = readFileSync(join(fixtures, 'rules-test.yml'), 'utf8');

  it('promtool test rules: the workshop series, layouts and panel values from synthetic lab series', () => {
    const r = promtoolTestRules(rulesTest);
    expect(r.status, r.out).toBe(0);
    expect(r.out).toContain('SUCCESS');
    expect((rulesTest.match(/- expr:/g) ?? []).length).toBe(18);
  });

  it('promtool test rules can fail: a wrong expected value is reported', () => {
    const wrong = rulesTest.replace('value: 780.8', 'value: 781');
    expect(wrong).not.toBe(rulesTest);
    const r = promtoolTestRules(wrong);
    expect(r.status).not.toBe(0);
    expect(r.out).toMatch(/FAILED[\s\S]*exp: \{\} 7\.81E\+02[\s\S]*got: \{\} 7\.808E\+02/);
  });

  it('the rules record exactly the workshop series that WORKSHOP_METRICS says come from rules', () => {
    const records = new Set(recordNames(rulesYaml));
    const want = new Set(
      WORKSHOP_METRICS.filter((m) => m.via === 'rule').flatMap((m) =>
        ['_bucket', '_sum', '_count'].map((s) => m.name + s),
      ),
    );
    expect([...records].sort()).toEqual([...want].sort());
    const doc = parse(rulesYaml) as { groups: { name: string; interval: string }[] };
    expect(doc.groups.map((g) => [g.name, g.interval])).toEqual([[WORKSHOP_RULE_GROUP, '15s']]);
    expect(WORKSHOP_RULES).toBe('/etc/prometheus/ebpf-lab-workshop.rules.yml');
  });

  it("WORKSHOP_METRICS covers every metric of the workshop's exporter config, with its labels", () => {
    const have = WORKSHOP_METRICS.map((m) => ({ name: m.name, type: m.type, labels: [...m.labels] }));
    const want = exporterPhp.metrics.map((m) => ({ name: EXPORTER_PREFIX + m.name, type: m.type, labels: m.labels }));
    expect(have.sort((a, b) => a.name.localeCompare(b.name))).toEqual(
      want.sort((a, b) => a.name.localeCompare(b.name)),
    );
    for (const m of WORKSHOP_METRICS) {
      const lab = LAB_METRICS.find((l) => l.name === m.from);
      expect(lab, m.name).toBeDefined();
      expect(lab!.type).toBe(m.type);
      // `same`/`relabel`: the lab's series already has the workshop's name
      if (m.via !== 'rule') expect(EXPORTER_PREFIX + lab!.name).toBe(m.name);
      if (m.via === 'same') for (const l of m.labels) expect(lab!.labels).toContain(l);
    }
  });
});

describe("workshop mode: the workshop's dashboard", () => {
  it('has the recorded panels and queries', () => {
    expect(dashboard.panels.map((p) => `${p.id} ${p.type}`)).toEqual([
      '5 text',
      '3 heatmap',
      '6 timeseries',
      '7 timeseries',
      '2 piechart',
      '1 stat',
    ]);
    expect(queries).toHaveLength(10);
  });

  it('every panel query is valid PromQL (promtool check rules)', () => {
    const r = promtoolCheckExprs(
      queries.map((q) => ({ name: `${q.panel.title} ${q.refId}`, expr: q.expr })),
      join(tmp, 'panels.rules.yml'),
    );
    expect(r.status, r.out).toBe(0);
    expect(r.out).toContain(`SUCCESS: ${queries.length} rules found`);
  });

  it('every panel query selects series the lab produces (its own, or the recording rules)', () => {
    const known = queryableMetricNames();
    const recorded = new Set(recordNames(rulesYaml));
    const labSeries = new Set(
      LAB_METRICS.flatMap((m) =>
        m.type === 'histogram'
          ? ['_bucket', '_sum', '_count'].map((s) => EXPORTER_PREFIX + m.name + s)
          : [EXPORTER_PREFIX + m.name],
      ),
    );
    for (const q of queries) {
      const names = metricNames(q.expr);
      expect(names.length, q.expr).toBeGreaterThan(0);
      for (const n of names) {
        expect(known, `${q.panel.title}: ${n}`).toContain(n);
        expect(recorded.has(n) || labSeries.has(n), `${n} is neither recorded nor exported by the lab`).toBe(true);
      }
    }
  });

  it('every label a panel groups by, matches on or shows in its legend is on the series it selects', () => {
    const labels = seriesLabels();
    for (const q of queries) {
      const used = [
        ...labelNamesUsed(q.expr),
        ...[...(q.legend ?? '').matchAll(/\{\{\s*(\w+)\s*\}\}/g)].map((m) => m[1] as string),
      ];
      for (const name of metricNames(q.expr))
        for (const l of used) expect(labels.get(name), `${q.panel.title}: ${name} has no label ${l}`).toContain(l);
    }
  });

  it("importing it as the workshop's README says resolves its data-source input to the provisioned data source", () => {
    // The import form offers, for a datasource input, the data sources whose type is the
    // input's pluginId; import replaces ${<input name>} with the chosen one's uid.
    const ds = (
      parse(
        render('etc/grafana/provisioning/datasources/ebpf-lab.yaml', { prometheusUrl: 'http://127.0.0.1:9090' }),
      ) as {
        datasources: { name: string; uid: string; type: string }[];
      }
    ).datasources;
    expect(dashboard.inputs).toHaveLength(1);
    const input = dashboard.inputs[0]!;
    expect(input.type).toBe('datasource');
    const offered = ds.filter((d) => d.type === input.pluginId);
    expect(offered.map((d) => [d.name, d.uid])).toEqual([['Prometheus (ebpf-lab)', GRAFANA_DATASOURCE_UID]]);
    const resolved = JSON.parse(
      JSON.stringify(dashboard.panelDatasource).split(`\${${input.name}}`).join(offered[0]!.uid),
    ) as unknown;
    expect(resolved).toEqual({ type: 'prometheus', uid: GRAFANA_DATASOURCE_UID });
  });
});

describe('workshop mode: the filename label of the compile counter', () => {
  interface Relabel {
    source_labels: string[];
    regex: string;
    target_label?: string;
    replacement?: string;
    action?: string;
  }
  const yml = parse(
    render('etc/prometheus/prometheus.yml', {
      exporterTarget: '127.0.0.1:9435',
      selfScrape: true,
      selfTarget: '127.0.0.1:9090',
      ruleFiles: [WORKSHOP_RULES],
    }),
  ) as { scrape_configs: { job_name: string; metric_relabel_configs: Relabel[] }[] };
  const relabels = yml.scrape_configs.find((j) => j.job_name === 'ebpf')!.metric_relabel_configs;

  /** Prometheus' `replace` action (the default) as documented: anchored regex, ${n} expansion, empty result drops. */
  function relabel(labels: Record<string, string>): Record<string, string> {
    const out = { ...labels };
    for (const r of relabels) {
      if ((r.action ?? 'replace') !== 'replace') continue;
      const value = r.source_labels.map((l) => out[l] ?? '').join(';');
      const m = new RegExp(`^(?:${r.regex})$`).exec(value);
      if (!m) continue;
      const v = (r.replacement ?? '$1').replace(/\$\{(\d+)\}|\$(\d+)/g, (_, a, b) => m[Number(a ?? b)] ?? '');
      if (v === '') delete out[r.target_label!];
      else out[r.target_label!] = v;
    }
    return out;
  }

  it.each([
    ['/var/www/html/path1', '/var/www/html/path1/'],
    ['/var/www/html', '/var/www/html/'],
    ['/', '/'],
  ])('dir %s gives filename %s (the workshop keeps the trailing slash)', (dir, filename) => {
    const name = 'ebpf_exporter_php_compile_file_total';
    expect(relabel({ __name__: name, sapi: 'apache', dir })).toEqual({ __name__: name, sapi: 'apache', dir, filename });
  });

  it('no other series gets a filename label', () => {
    const other = { __name__: 'ebpf_exporter_php_function_calls_total', dir: '/x' };
    expect(relabel(other)).toEqual(other);
    expect(relabel({ __name__: 'ebpf_exporter_php_compile_file_total', dir: '' })).not.toHaveProperty('filename');
  });
});

describe("workshop mode: the workshop's bpftool map commands", () => {
  /** Map names of the lab's BPF programs, as the kernel keeps them (BPF_OBJ_NAME_LEN 16: 15 chars + NUL). */
  const bpfDir = join(packageRoot(), 'bpf');
  const labMaps = readdirSync(bpfDir)
    .filter((f) => f.endsWith('.bpf.c'))
    .flatMap((f) => [...readFileSync(join(bpfDir, f), 'utf8').matchAll(/\}\s*(\w+)\s+SEC\("\.maps"\)/g)])
    .map((m) => m[1] as string);
  const kernelName = (n: string) => n.slice(0, 15);

  it(`"bpftool map | grep ${commands.mapGrep}" finds exactly one lab map: the compile counter, as in the workshop`, () => {
    expect(labMaps.length).toBeGreaterThanOrEqual(8);
    const hits = labMaps.filter((n) => kernelName(n).includes(commands.mapGrep));
    expect(hits).toEqual(['php_compile_file_total']);
    const ws = exporterPhp.maps.filter((m) => kernelName(m.name).includes(commands.mapGrep));
    expect(ws.map((m) => m.metric)).toEqual(['php_compile_file_total']);
    expect(kernelName(hits[0]!)).toBe(kernelName(ws[0]!.name));
  });

  it('the workshop maps the lab has under the same kernel name', () => {
    const same = exporterPhp.maps
      .filter((m) => labMaps.some((l) => kernelName(l) === kernelName(m.name)))
      .map((m) => m.name);
    // php_request_time_sec and php_req have no same-named lab map (php_request_duration_seconds,
    // php_request_start); README "Workshop mode" says so.
    expect(same).toEqual([
      'php_compile_file_total',
      'php_exception_thrown_total',
      'php_exception_caught_total',
      'memcached_set_val_length',
    ]);
  });
});

describe('workshop mode: what verify reports about the rules (recorded answers of Prometheus 2.42)', () => {
  const want = { group: WORKSHOP_RULE_GROUP, file: WORKSHOP_RULES, records: recordNames(rulesYaml) };
  const answer = (name: string) => readFileSync(join(fixtures, name), 'utf8');

  it('loaded and healthy: two passing lines', () => {
    const ev = rulesEvidence(parseRules(answer('api-v1-rules-ok.json')), want);
    expect(ev).toEqual([
      {
        ok: true,
        what: "Prometheus has loaded the workshop's recording rules (group ebpf-lab-workshop)",
        detail: '6 recording rules from /etc/prometheus/ebpf-lab-workshop.rules.yml',
      },
      {
        ok: true,
        what: "the workshop's recording rules evaluate without error",
        detail: '6/6 rules: health ok, no lastError',
      },
    ]);
  });

  it("a rule that fails to evaluate fails the second line with Prometheus' error", () => {
    const ev = rulesEvidence(parseRules(answer('api-v1-rules-err.json')), want);
    expect(ev[0]!.ok).toBe(true);
    expect(ev[1]).toMatchObject({
      ok: false,
      detail:
        'ebpf_exporter_memcached_set_val_length_sum: health err: vector cannot contain metrics with the same labelset',
    });
  });

  it('not loaded, not evaluated yet, other rules, no answer: each fails with its reason', () => {
    const ok = answer('api-v1-rules-ok.json');
    expect(rulesEvidence(parseRules(ok.replace('"ebpf-lab-workshop"', '"other"')), want)[0]).toMatchObject({
      ok: false,
      detail: expect.stringMatching(/no group ebpf-lab-workshop among 1 \(other\)/),
    });
    const unknown = rulesEvidence(parseRules(ok.replace('"health":"ok"', '"health":"unknown"')), want);
    expect(unknown[1]).toMatchObject({ ok: false, detail: expect.stringMatching(/health unknown/) });
    const fewer = rulesEvidence(parseRules(ok), { ...want, records: [...want.records, 'extra_rule'] });
    expect(fewer[0]).toMatchObject({ ok: false, detail: expect.stringMatching(/missing extra_rule/) });
    expect(rulesEvidence(parseRules(''), want).map((e) => e.ok)).toEqual([false, false]);
    expect(rulesEvidence(parseRules('<html>'), want)[0]!.detail).toMatch(/not JSON/);
  });

  const q = (v: number | null) =>
    JSON.stringify({
      status: 'success',
      data: { resultType: 'vector', result: v === null ? [] : [{ metric: {}, value: [1, String(v)] }] },
    });

  it('derived series: present where the lab series are; NOT VERIFIED (never passing) without any', () => {
    expect(WORKSHOP_SERIES_QUERIES).toHaveLength(3);
    const good = workshopSeriesEvidence([
      [q(58), q(58)],
      [q(26), q(24)],
      [q(2), q(2)],
    ]);
    expect(good).toMatchObject({
      ok: true,
      detail: expect.stringMatching(/count\(ebpf_exporter_php_request_time_sec_bucket\) = 58/),
    });
    expect(good.skipped).toBeUndefined();
    expect(
      workshopSeriesEvidence([
        [q(58), q(null)],
        [q(null), q(null)],
        [q(null), q(null)],
      ]).ok,
    ).toBe(false);
    const none = workshopSeriesEvidence([
      [q(null), q(null)],
      [q(null), q(null)],
      [q(null), q(null)],
    ]);
    expect(none).toMatchObject({ ok: false, skipped: true, detail: expect.stringMatching(/ebpf-lab load/) });
    expect(
      workshopSeriesEvidence([
        ['', ''],
        ['', ''],
        ['', ''],
      ]).ok,
    ).toBe(false);
  });
});
