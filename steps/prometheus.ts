import { readFileSync } from 'node:fs';
import { applyDesired, desiredChanges, desiredProbes, type Desired } from '../src/resources/desired.js';
import { probe } from '../src/resources/probe.js';
import { render } from '../src/render/template.js';
import { prometheus, PROMETHEUS_VERSION } from '../src/artifacts/manifest.js';
import { prepareArtifact } from '../src/lab/artifact-skip.js';
import {
  EXPORTER_LISTEN,
  exporterBinary,
  PROMETHEUS_LISTEN,
  PROMETHEUS_PORT,
  prometheusDir,
} from '../src/lab/layout.js';
import { ofKind, type Change, type Evidence, type Step, type StepContext } from '../src/runner/types.js';
import { waitLoop } from '../src/resources/wait.js';
import { WORKSHOP_RULE_GROUP } from '../src/render/metrics.js';
import {
  parseRules,
  recordNames,
  rulesEvidence,
  workshopSeriesEvidence,
  WORKSHOP_SERIES_QUERIES,
  WORKSHOP_SERIES_WHAT,
} from './prometheus-rules.js';
import { hostScript } from '../src/render/script.js';

/**
 * prometheus — Prometheus scrapes the exporter every 15 s and listens on 127.0.0.1:9090
 * only; enabled, so it survives a reboot. Source `release` (default on real hosts):
 * the upstream 3.x tarball, pinned and sha256-checked, unpacked per version under
 * /opt/ebpf-lab/prometheus/<version>. Source `package` (default on the sandbox, which
 * has no internet): the distribution's package. prometheus.yml is checked by promtool
 * before it replaces the old one; a config change reloads, a binary or unit change restarts.
 * The workshop's recording rules (templates/etc/prometheus/ebpf-lab-workshop.rules.yml:
 * the workshop's series names and labels derived from the lab's) are a file of their own,
 * checked with `promtool check rules` before they go live, and written before the config
 * that names them; verify checks that Prometheus loaded them and that they evaluate.
 */
const CONFIG = '/etc/prometheus/prometheus.yml';
export const WORKSHOP_RULES = '/etc/prometheus/ebpf-lab-workshop.rules.yml';
const UNIT = 'prometheus.service';
const dir = prometheusDir;

function promtool(ctx: StepContext): string {
  return ctx.options.prometheusSource === 'release' ? `${dir(PROMETHEUS_VERSION)}/promtool` : '/usr/bin/promtool';
}

export function workshopRules(): string {
  return render('etc/prometheus/ebpf-lab-workshop.rules.yml', { group: WORKSHOP_RULE_GROUP, interval: '15s' });
}

function desired(ctx: StepContext): Desired {
  // The rules first: promtool's config check reads the rule files the config names.
  const rules = {
    path: WORKSHOP_RULES,
    content: workshopRules(),
    validate: [promtool(ctx), 'check', 'rules', '{}'],
    notify: { unit: UNIT, action: 'reload' as const },
  };
  const config = {
    path: CONFIG,
    content: render('etc/prometheus/prometheus.yml', {
      exporterTarget: EXPORTER_LISTEN,
      selfScrape: true,
      selfTarget: PROMETHEUS_LISTEN,
      ruleFiles: [WORKSHOP_RULES],
    }),
    validate: [promtool(ctx), 'check', 'config', '{}'],
    notify: { unit: UNIT, action: 'reload' as const },
  };
  if (ctx.options.prometheusSource === 'package')
    return {
      packages: ['prometheus'],
      files: [
        {
          path: '/etc/default/prometheus',
          content: render('etc/default/prometheus', { listenAddress: PROMETHEUS_LISTEN, retention: '15d' }),
          notify: { unit: UNIT, action: 'restart' },
        },
        rules,
        config,
      ],
      services: [{ unit: UNIT }],
    };
  const v = PROMETHEUS_VERSION;
  return {
    files: [
      {
        path: `/etc/systemd/system/${UNIT}`,
        content: render('etc/systemd/system/prometheus.service', {
          binary: `${dir(v)}/prometheus`,
          configFile: CONFIG,
          storagePath: '/var/lib/prometheus/metrics2',
          user: 'prometheus',
          listenAddress: PROMETHEUS_LISTEN,
          retention: '15d',
        }),
        notify: { unit: UNIT, action: 'restart' },
      },
      rules,
      config,
    ],
    services: [{ unit: UNIT }],
  };
}

/** Release mode: the unpacked tarball's sha256 is recorded next to it. */
const releaseProbe = (v: string) =>
  probe(
    `cat ${dir(v)}/.tarball-sha256 2>/dev/null; id -u prometheus >/dev/null 2>&1 && echo user`,
    (o) => o.split('\n'),
    { id: 'prometheus-release', args: v },
  );

async function check(ctx: StepContext) {
  const d = desired(ctx);
  const release = ctx.options.prometheusSource === 'release';
  const r = await ctx.probe({ ...desiredProbes(d), ...(release ? { rel: releaseProbe(PROMETHEUS_VERSION) } : {}) });
  const changes: Change[] = [];
  if (release) {
    const want = ctx.artifacts.get('prometheus')?.sha256;
    const [have = '', user = ''] = (r as unknown as { rel: string[] }).rel;
    if (user !== 'user') changes.push({ kind: 'user', name: 'prometheus', action: 'create' });
    if (have !== want)
      changes.push(
        {
          kind: 'artifact',
          name: 'prometheus',
          version: PROMETHEUS_VERSION,
          action: 'install',
          detail: `unpack into ${dir(PROMETHEUS_VERSION)}`,
        },
        { kind: 'unit', unit: UNIT, action: 'restart', detail: 'new binary' },
      );
  }
  // The config cannot be validated before promtool exists: then it is written with the install.
  changes.push(...desiredChanges(d, r));
  return { d, changes };
}

const step: Step = {
  id: 'prometheus',
  title: `Prometheus scrapes the exporter, on ${PROMETHEUS_LISTEN}`,
  needs: ['packages'],
  prepare: (ctx) =>
    ctx.options.prometheusSource === 'release'
      ? prepareArtifact(ctx, prometheus(PROMETHEUS_VERSION))
      : Promise.resolve(undefined),
  async check(ctx) {
    const { changes } = await check(ctx);
    return {
      changes,
      notes: changes.length ? [] : [`Prometheus (${ctx.options.prometheusSource}) running, config valid`],
    };
  },
  async apply(ctx, changes) {
    const { d } = await check(ctx);
    const v = PROMETHEUS_VERSION;
    if (ofKind(changes, 'user').some((c) => c.name === 'prometheus'))
      await ctx.host.exec(
        [
          'useradd',
          '--system',
          '--no-create-home',
          '--home-dir',
          '/var/lib/prometheus',
          '--shell',
          '/usr/sbin/nologin',
          'prometheus',
        ],
        { sudo: true },
      );
    const art = ctx.artifacts.get('prometheus');
    if (ofKind(changes, 'artifact').length && art) {
      const tgz = `/var/cache/ebpf-lab/prometheus-${v}.tar.gz`;
      ctx.progress(`uploading Prometheus ${v} (${Math.round(readFileSync(art.path).length / 1e6)} MB)`);
      await ctx.host.put(tgz, readFileSync(art.path), { mode: 0o644 });
      await ctx.host.exec(
        { script: hostScript('prometheus-unpack', { DIR: dir(v), TARBALL: tgz, SHA256: art.sha256 }) },
        { sudo: true, timeoutMs: 300_000 },
      );
    }
    await applyDesired(
      ctx,
      d,
      changes.filter((c) => c.kind !== 'artifact' && c.kind !== 'user'),
    );
  },
  async verify(ctx) {
    // Prometheus answers 503 while it replays its write-ahead log after a (re)start: wait up to 45 s for 200.
    const poll = `c=$(curl -s -m 2 -o /dev/null -w '%{http_code}' http://${PROMETHEUS_LISTEN}/-/ready); [ "$c" = 200 ]`;
    const ready = waitLoop(poll, { tries: 45, every: 1, giveUpIf: `! systemctl is-active -q ${UNIT}` });
    // The rule group is there after a (re)load, and each rule's health is "unknown" until its
    // first evaluation (every 15 s): wait up to 40 s for both before reading the answer.
    const rulesUrl = `http://${PROMETHEUS_LISTEN}/api/v1/rules`;
    const rulesPoll = `r=$(curl -s -m 5 ${rulesUrl}); case "$r" in *'"name":"${WORKSHOP_RULE_GROUP}"'*) case "$r" in *'"health":"unknown"'*) false ;; esac ;; *) false ;; esac`;
    const rules = waitLoop(rulesPoll, { tries: 40, every: 1, giveUpIf: `! systemctl is-active -q ${UNIT}` });
    const r = await ctx.host.exec(
      { script: hostScript('prometheus-verify', { PORT: PROMETHEUS_PORT, WAIT_READY: ready, WAIT_RULES: rules }) },
      { sudo: true, nothrow: true, timeoutMs: 200_000 },
    );
    const [code = '', listen = '', rulesAnswer = ''] = r.stdout.split('\n');
    return [
      { ok: code === '200', what: 'Prometheus is ready', detail: `GET /-/ready -> ${code || 'no answer'}` },
      {
        ok:
          listen.trim() !== '' &&
          listen
            .trim()
            .split(' ')
            .every((a) => a.startsWith('127.0.0.1:')),
        what: 'Prometheus listens on loopback only',
        detail: listen.trim(),
      },
      ...rulesEvidence(parseRules(rulesAnswer), {
        group: WORKSHOP_RULE_GROUP,
        file: WORKSHOP_RULES,
        records: recordNames(workshopRules()),
      }),
    ];
  },
  async prove(ctx) {
    const derived = WORKSHOP_SERIES_QUERIES.flatMap((p) => [p.from, p.to])
      .map((e) => `q '${e}'; echo`)
      .join('\n');
    const r = await ctx.host.exec(
      {
        script: hostScript('prometheus-prove', {
          LISTEN: PROMETHEUS_LISTEN,
          EXPORTER_BINARY: exporterBinary(ctx.options.exporterVersion),
          DERIVED: derived,
        }),
      },
      { sudo: true, nothrow: true },
    );
    const [up = '', php = '', exporter = '', ...rest] = r.stdout.split('\n');
    const pairs = WORKSHOP_SERIES_QUERIES.map((_, i): [string, string] => [rest[2 * i] ?? '', rest[2 * i + 1] ?? '']);
    const upVal = /"value":\[[^,]+,"(\d)"\]/.exec(up)?.[1];
    const phpCount = Number(/"value":\[[^,]+,"(\d+)"\]/.exec(php)?.[1] ?? 0);
    const ev: Evidence[] = [];
    if (exporter !== 'exporter')
      ev.push(
        {
          ok: false,
          skipped: true,
          what: 'Prometheus scrapes the exporter (up{job="ebpf"} == 1)',
          detail: 'ebpf_exporter is not installed on this host, so there is nothing to scrape',
        },
        {
          ok: false,
          skipped: true,
          what: WORKSHOP_SERIES_WHAT,
          detail: 'ebpf_exporter is not installed on this host, so there are no lab series to derive them from',
        },
      );
    else if (upVal !== '1')
      ev.push({
        ok: false,
        what: 'Prometheus scrapes the exporter (up{job="ebpf"} == 1)',
        detail: `up{job="ebpf"} is ${upVal ?? 'missing'}`,
      });
    else
      ev.push(
        { ok: true, what: 'Prometheus scrapes the exporter (up{job="ebpf"} == 1)' },
        {
          ok: phpCount > 0,
          what: 'PHP series are queryable in Prometheus',
          detail: `${phpCount} ebpf_exporter_php_* series`,
        },
        workshopSeriesEvidence(pairs),
      );
    return ev;
  },
};
export default step;
