import { spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { exporterUnitPrivileges } from '../support/exporter-unit.js';
import { parse } from 'yaml';
import { packageRoot } from '../../src/paths.js';
import { EXPORTER_CONFIGS, GRAFANA_DATASOURCE_UID } from '../../src/render/metrics.js';
import { MANAGED_MARKER, TemplateError, listTemplates, render, startsWithMarker } from '../../src/render/template.js';

// Renders the exporter / Prometheus / Grafana templates with sample locals and validates
// the output with each service's own checker where the host has one (systemd-analyze,
// promtool); Grafana is not installed here, so its files are parsed and checked by shape.

const tmp = mkdtempSync(join(tmpdir(), 'ebpf-lab-tpl-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

// systemd-analyze verify insists that ExecStart= binaries exist and are executable.
const fakeBinary = join(tmp, 'fake-binary');
writeFileSync(fakeBinary, '#!/bin/sh\nexit 0\n');
chmodSync(fakeBinary, 0o755);

const T = {
  exporterUnit: 'etc/systemd/system/ebpf_exporter.service',
  promUnit: 'etc/systemd/system/prometheus.service',
  promDefault: 'etc/default/prometheus',
  promYml: 'etc/prometheus/prometheus.yml',
  promRules: 'etc/prometheus/ebpf-lab-workshop.rules.yml',
  datasource: 'etc/grafana/provisioning/datasources/ebpf-lab.yaml',
  dashProvider: 'etc/grafana/provisioning/dashboards/ebpf-lab.yaml',
  grafanaIni: 'etc/grafana/grafana.ini',
} as const;

const PASSWORD = 'lab-Pw;#1"x';
// prometheus.yml names the rules file; promtool's config check reads it, so it must exist.
const rulesFile = join(tmp, 'ebpf-lab-workshop.rules.yml');
const SAMPLES: Record<string, Record<string, unknown>> = {
  [T.exporterUnit]: {
    binary: fakeBinary,
    configDir: '/opt/ebpf-lab/bpf',
    configNames: [...EXPORTER_CONFIGS],
    listenAddress: '127.0.0.1:9435',
    ...exporterUnitPrivileges({ ubuntuKernel: false, perfEventParanoid: 2 }),
  },
  [T.promUnit]: {
    binary: fakeBinary,
    configFile: '/etc/prometheus/prometheus.yml',
    storagePath: '/var/lib/prometheus/metrics2',
    user: 'prometheus',
    listenAddress: '127.0.0.1:9090',
    retention: '15d',
  },
  [T.promDefault]: { listenAddress: '127.0.0.1:9090', retention: '15d' },
  [T.promYml]: {
    exporterTarget: '127.0.0.1:9435',
    selfScrape: true,
    selfTarget: '127.0.0.1:9090',
    ruleFiles: [rulesFile],
  },
  [T.promRules]: { group: 'ebpf-lab-workshop', interval: '15s' },
  [T.datasource]: { prometheusUrl: 'http://127.0.0.1:9090' },
  [T.dashProvider]: { dashboardsDir: '/var/lib/ebpf-lab/dashboards' },
  [T.grafanaIni]: { httpAddr: '0.0.0.0', httpPort: 3000, adminPassword: PASSWORD },
};

writeFileSync(rulesFile, render(T.promRules, SAMPLES[T.promRules] as Record<string, unknown>));

function run(cmd: string, args: string[]): { status: number | null; out: string; stderr: string } {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  if (r.error) throw r.error;
  return { status: r.status, out: `${r.stdout}${r.stderr}`, stderr: r.stderr };
}

function write(name: string, text: string): string {
  const p = join(tmp, name);
  writeFileSync(p, text);
  return p;
}

/** `systemd-analyze verify` prints unknown keys and bad values as warnings with exit 0. */
function verifyUnit(name: string, text: string): void {
  const r = run('systemd-analyze', ['verify', write(name, text)]);
  expect(r.status, r.out).toBe(0);
  expect(r.stderr, r.out).toBe('');
}

/** Minimal INI reader: { section: { key: value } }. */
function parseIni(text: string): Record<string, Record<string, string>> {
  const out: Record<string, Record<string, string>> = {};
  let cur = '';
  for (const line of text.split('\n')) {
    const l = line.trim();
    if (l === '' || l.startsWith(';') || l.startsWith('#')) continue;
    const sec = /^\[(.+)\]$/.exec(l);
    if (sec) {
      cur = sec[1] as string;
      out[cur] = {};
      continue;
    }
    const kv = /^([\w.]+)\s*=\s*(.*)$/.exec(l);
    if (!kv) throw new Error(`bad INI line: ${line}`);
    (out[cur] ??= {})[kv[1] as string] = kv[2] as string;
  }
  return out;
}

describe('service and config templates', () => {
  it('every template of this group is listed and has sample locals', () => {
    const listed = listTemplates();
    for (const t of Object.values(T)) expect(listed).toContain(t);
  });

  it.each(Object.values(T))('%s renders and starts with the managed-by comment', (t) => {
    const out = render(t, SAMPLES[t] as Record<string, unknown>);
    expect(startsWithMarker(out)).toBe(true);
    expect(out.split('\n')[0]).toContain(MANAGED_MARKER);
    expect(out).not.toContain('undefined');
    expect(out).not.toContain('&#');
    expect(out).not.toContain('admin/admin');
  });

  it('a missing local throws with the template and line', () => {
    const { listenAddress: _drop, ...rest } = SAMPLES[T.exporterUnit] as Record<string, unknown>;
    const src = readFileSync(join(packageRoot(), 'templates', `${T.exporterUnit}.ejs`), 'utf8');
    const line = src.split('\n').findIndex((l) => l.startsWith('ExecStart=')) + 1;
    let err: unknown;
    try {
      render(T.exporterUnit, rest);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(TemplateError);
    expect((err as TemplateError).template).toBe(T.exporterUnit);
    expect((err as TemplateError).line).toBe(line);
    expect((err as TemplateError).message).toContain(`${T.exporterUnit}:${line}`);
  });

  it('a local that is present but undefined also throws (never an empty string)', () => {
    expect(() => render(T.datasource, { prometheusUrl: undefined })).toThrow(TemplateError);
    expect(() => render(T.promDefault, { listenAddress: null, retention: '15d' })).toThrow(/null/);
  });

  it('refuses values a unit file cannot carry, and paths outside templates/', () => {
    expect(() => render(T.exporterUnit, { ...SAMPLES[T.exporterUnit], binary: '/opt/my dir/x' })).toThrow(/not safe/);
    expect(() => render('../package.json', {})).toThrow(TemplateError);
    expect(() => render(T.datasource, { prometheusUrl: 'x', q: 1 })).toThrow(/reserved/);
  });

  it('ebpf_exporter.service passes systemd-analyze verify and has the lab settings', () => {
    const out = render(T.exporterUnit, SAMPLES[T.exporterUnit] as Record<string, unknown>);
    verifyUnit('ebpf_exporter.service', out);
    expect(out).toContain(
      `ExecStart=${fakeBinary} --config.dir=/opt/ebpf-lab/bpf --config.names=${EXPORTER_CONFIGS.join(',')} --web.listen-address=127.0.0.1:9435\n`,
    );
    for (const l of [
      'Type=notify',
      'DynamicUser=yes',
      'AmbientCapabilities=CAP_BPF CAP_PERFMON',
      'CapabilityBoundingSet=CAP_BPF CAP_PERFMON',
      'NoNewPrivileges=yes',
      'ProtectSystem=strict',
      'ProtectHome=yes',
      'Restart=on-failure',
      'WantedBy=multi-user.target',
    ]) {
      expect(out).toContain(`\n${l}\n`);
    }
  });

  it('the systemd check can fail: a unit with a bad key is reported', () => {
    const out = render(T.exporterUnit, SAMPLES[T.exporterUnit] as Record<string, unknown>);
    const r = run('systemd-analyze', [
      'verify',
      write('bad.service', out.replace('DynamicUser=yes', 'DynamicUsr=yes')),
    ]);
    expect(r.stderr).toMatch(/Unknown key/);
  });

  it('prometheus.service (upstream release) passes systemd-analyze verify', () => {
    const out = render(T.promUnit, SAMPLES[T.promUnit] as Record<string, unknown>);
    verifyUnit('prometheus.service', out);
    expect(out).toContain('--web.listen-address=127.0.0.1:9090 --web.enable-lifecycle');
    expect(out).toContain('\nUser=prometheus\n');
    expect(out).toContain('--storage.tsdb.path=/var/lib/prometheus/metrics2');
    expect(out).toContain('\nReadWritePaths=/var/lib/prometheus/metrics2\n');
  });

  it('/etc/default/prometheus is a valid environment file with loopback ARGS', () => {
    const file = write('prometheus.default', render(T.promDefault, SAMPLES[T.promDefault] as Record<string, unknown>));
    const r = run('sh', ['-c', 'set -e; . "$1"; printf %s "$ARGS"', 'sh', file]);
    expect(r.status, r.out).toBe(0);
    expect(r.out).toBe('--web.listen-address=127.0.0.1:9090 --web.enable-lifecycle --storage.tsdb.retention.time=15d');
  });

  it.each([true, false])('prometheus.yml passes promtool check config (selfScrape=%s)', (selfScrape) => {
    const out = render(T.promYml, { ...SAMPLES[T.promYml], selfScrape });
    const r = run('promtool', ['check', 'config', write(`prometheus-${selfScrape}.yml`, out)]);
    expect(r.status, r.out).toBe(0);
    expect(r.out).toContain('SUCCESS');
    // promtool read the rules file the config names, and found the workshop's rules in it
    expect(r.out).toMatch(/Checking .*ebpf-lab-workshop\.rules\.yml\s+SUCCESS: 6 rules found/);
    const y = parse(out) as {
      rule_files: string[];
      global: Record<string, string>;
      scrape_configs: {
        job_name: string;
        static_configs: { targets: string[] }[];
        metric_relabel_configs?: unknown[];
      }[];
    };
    expect(y.global.scrape_interval).toBe('15s');
    const jobs = y.scrape_configs.map((j) => j.job_name);
    expect(jobs).toEqual(selfScrape ? ['ebpf', 'prometheus'] : ['ebpf']);
    expect(y.scrape_configs[0]?.static_configs[0]?.targets).toEqual(['127.0.0.1:9435']);
    expect(y.rule_files).toEqual([rulesFile]);
    expect(y.scrape_configs[0]?.metric_relabel_configs?.[0]).toEqual({
      source_labels: ['__name__'],
      regex: 'ebpf_exporter_.+',
      action: 'keep',
    });
    // the workshop's `filename` label (test/unit/workshop-mode.test.ts checks what it yields)
    expect(y.scrape_configs[0]?.metric_relabel_configs?.slice(1)).toMatchObject([
      { source_labels: ['__name__', 'dir'], target_label: 'filename' },
      { source_labels: ['__name__', 'dir'], target_label: 'filename' },
    ]);
  });

  it('the workshop rules pass promtool check rules, and a broken rule is rejected', () => {
    const out = render(T.promRules, SAMPLES[T.promRules] as Record<string, unknown>);
    const ok = run('promtool', ['check', 'rules', write('workshop.rules.yml', out)]);
    expect(ok.status, ok.out).toBe(0);
    expect(ok.out).toContain('SUCCESS: 6 rules found');
    const broken = run('promtool', [
      'check',
      'rules',
      write('broken.rules.yml', out.replace('sum without (uri, method) (', 'sum without (uri, method (')),
    ]);
    expect(broken.status).not.toBe(0);
  });

  it('promtool check config can fail (a broken config is rejected)', () => {
    const out = render(T.promYml, SAMPLES[T.promYml] as Record<string, unknown>).replace(
      'action: keep',
      'action: keeep',
    );
    expect(run('promtool', ['check', 'config', write('broken.yml', out)]).status).not.toBe(0);
  });

  it('the Grafana data source has the fixed uid, loopback URL and is the default', () => {
    const y = parse(render(T.datasource, SAMPLES[T.datasource] as Record<string, unknown>)) as {
      apiVersion: number;
      datasources: Record<string, unknown>[];
    };
    expect(y.apiVersion).toBe(1);
    expect(y.datasources).toHaveLength(1);
    expect(y.datasources[0]).toMatchObject({
      uid: GRAFANA_DATASOURCE_UID,
      type: 'prometheus',
      url: 'http://127.0.0.1:9090',
      isDefault: true,
      access: 'proxy',
    });
  });

  it('the Grafana dashboard provider reads the copied dashboards directory', () => {
    const y = parse(render(T.dashProvider, SAMPLES[T.dashProvider] as Record<string, unknown>)) as {
      providers: { type: string; options: { path: string } }[];
    };
    expect(y.providers).toHaveLength(1);
    expect(y.providers[0]?.type).toBe('file');
    expect(y.providers[0]?.options.path).toBe('/var/lib/ebpf-lab/dashboards');
  });

  it('grafana.ini sets the password and locks the lab down', () => {
    const ini = parseIni(render(T.grafanaIni, SAMPLES[T.grafanaIni] as Record<string, unknown>));
    expect(ini.security?.admin_password).toBe(`"""${PASSWORD}"""`);
    expect(ini['auth.anonymous']?.enabled).toBe('false');
    expect(ini.users?.allow_sign_up).toBe('false');
    expect(ini.analytics?.reporting_enabled).toBe('false');
    expect(ini.analytics?.check_for_updates).toBe('false');
    expect(ini.server).toEqual({ http_addr: '0.0.0.0', http_port: '3000' });
  });

  it.each(['', 'admin', 'two\nlines', 'a"""b'])('grafana.ini refuses admin password %j', (pw) => {
    expect(() => render(T.grafanaIni, { ...SAMPLES[T.grafanaIni], adminPassword: pw })).toThrow(TemplateError);
  });

  it('no rendered output carries a default or empty password', () => {
    for (const t of Object.values(T)) {
      const out = render(t, SAMPLES[t] as Record<string, unknown>);
      expect(out).not.toMatch(/admin\/admin/);
      expect(out).not.toMatch(/password\s*=\s*("{0,3}\s*"{0,3})?\s*$/im);
    }
  });
});
