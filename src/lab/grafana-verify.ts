import { readFileSync, readdirSync } from 'node:fs';
import { assetPath } from '../paths.js';
import { GRAFANA_VERSION } from '../artifacts/manifest.js';
import { GRAFANA_DATASOURCE_UID } from '../render/metrics.js';
import { unitsProbe } from '../resources/systemd.js';
import { DASHBOARDS_DIR, GRAFANA_PORT, SAMPLE_PAGES } from './layout.js';
import { GRAFANA_UNIT, grafanaApi, grafanaStateProbe, json, listenProbe, type ApiResponse } from './grafana-api.js';
import type { Evidence, StepContext } from '../runner/types.js';

interface Target {
  refId: string;
  expr?: string;
  datasource?: { type?: string; uid?: string };
  [k: string]: unknown;
}
interface Panel {
  id: number;
  title: string;
  type: string;
  datasource?: { type?: string; uid?: string };
  targets?: Target[];
  panels?: Panel[];
}
interface Dashboard {
  uid: string;
  title: string;
  panels: Panel[];
  templating?: { list?: { name: string; includeAll?: boolean; allValue?: string; current?: { value?: unknown } }[] };
}

/** dashboards/*.json shipped with ebpf-lab: file name (= uid + .json) and content. */
export function labDashboards(): { file: string; content: string; dashboard: Dashboard }[] {
  const dir = assetPath('dashboards');
  return readdirSync(dir)
    .filter((f) => f.endsWith('.json'))
    .sort()
    .map((file) => {
      const content = readFileSync(`${dir}/${file}`, 'utf8');
      return { file, content, dashboard: JSON.parse(content) as Dashboard };
    });
}

/** Every panel with queries, rows flattened. */
export function queryPanels(d: Dashboard): Panel[] {
  const out: Panel[] = [];
  const walk = (ps: Panel[]) =>
    ps.forEach((p) => (p.targets?.some((t) => t.expr) && out.push(p), walk(p.panels ?? [])));
  walk(d.panels);
  return out;
}

/**
 * The query Grafana's frontend would send for a target with every dashboard variable at
 * "All" (its allValue); $__range and friends are left to Grafana's backend.
 */
export function panelQuery(d: Dashboard, p: Panel, t: Target): Record<string, unknown> {
  let expr = t.expr ?? '';
  for (const v of d.templating?.list ?? []) {
    const value = v.includeAll
      ? (v.allValue ?? '.*')
      : String(Array.isArray(v.current?.value) ? v.current?.value[0] : (v.current?.value ?? ''));
    expr = expr.split(`\${${v.name}}`).join(value).split(`$${v.name}`).join(value);
  }
  const datasource = { type: 'prometheus', uid: t.datasource?.uid ?? p.datasource?.uid ?? GRAFANA_DATASOURCE_UID };
  return { ...t, expr, datasource, intervalMs: 15_000, maxDataPoints: 300 };
}

/** Metrics whose panels are empty on a healthy lab (nothing was dropped). */
const EMPTY_WHEN_HEALTHY = ['ebpf_exporter_php_request_dropped_total'];

/** Counts the series of a /api/ds/query result that hold at least one finite number. */
export function seriesWithData(result: unknown): { series: number; error?: string } {
  const r = result as
    | { error?: string; frames?: { schema?: { fields?: { type?: string }[] }; data?: { values?: unknown[][] } }[] }
    | undefined;
  if (!r) return { series: 0, error: 'no result' };
  if (r.error) return { series: 0, error: r.error };
  let series = 0;
  for (const f of r.frames ?? []) {
    const fields = f.schema?.fields ?? [];
    const values = f.data?.values ?? [];
    values.forEach((col, i) => {
      const numeric = fields[i] ? fields[i]!.type === 'number' : i > 0;
      if (numeric && col.some((v) => typeof v === 'number' && Number.isFinite(v))) series++;
    });
  }
  return { series };
}

const ok = (what: string, cond: boolean, detail?: string): Evidence => ({ ok: cond, what, detail });
const st = (r: ApiResponse) => (r.status === 0 ? `unreachable: ${r.body}` : `HTTP ${r.status}`);

async function installed(ctx: StepContext): Promise<Evidence | undefined> {
  const r = await ctx.probe({ g: grafanaStateProbe(DASHBOARDS_DIR) });
  if (r.g.version) return undefined;
  return {
    ok: false,
    skipped: true,
    what: 'Grafana',
    detail: 'not installed on this host (the grafana step was skipped or has not run): nothing to check',
  };
}

/** Post-conditions through Grafana's HTTP API, with the lab's admin password via stdin. */
export async function verifyGrafana(ctx: StepContext): Promise<Evidence[]> {
  const skip = await installed(ctx);
  if (skip) return [skip];
  const auth = { password: await ctx.secret('grafana') };
  const r = await ctx.probe({
    g: grafanaStateProbe(DASHBOARDS_DIR),
    units: unitsProbe([GRAFANA_UNIT]),
    listen: listenProbe,
  });
  const u = r.units[GRAFANA_UNIT];
  const ev: Evidence[] = [
    ok(`grafana ${GRAFANA_VERSION} installed`, r.g.version === GRAFANA_VERSION, `installed ${r.g.version}`),
    ok(
      `${GRAFANA_UNIT} enabled and active`,
      u?.enabled === 'enabled' && u.active === 'active',
      `${u?.enabled}/${u?.active}`,
    ),
    ok(
      `Grafana listens on :${GRAFANA_PORT}`,
      r.listen !== '',
      r.listen.split('\n')[0] || `nothing listens on :${GRAFANA_PORT}`,
    ),
  ];
  const health = await grafanaApi(ctx, '/api/health', 'anonymous');
  ev.push(
    ok(
      '/api/health: database ok',
      health.status === 200 && json(health.body)?.['database'] === 'ok',
      `${st(health)} ${health.body.slice(0, 120)}`,
    ),
  );
  const user = await grafanaApi(ctx, '/api/user', auth);
  ev.push(ok('the lab admin password logs in', user.status === 200, st(user)));
  const ds = await grafanaApi(ctx, `/api/datasources/uid/${GRAFANA_DATASOURCE_UID}/health`, auth);
  const dsBody = json(ds.body);
  ev.push(
    ok(
      `data source ${GRAFANA_DATASOURCE_UID} is healthy`,
      ds.status === 200 && dsBody?.['status'] === 'OK',
      `${st(ds)} ${String(dsBody?.['message'] ?? ds.body.slice(0, 160))}`,
    ),
  );
  for (const { dashboard } of labDashboards()) {
    // Provisioning runs in the background of a start: give a fresh Grafana up to 30 s.
    let d = await grafanaApi(ctx, `/api/dashboards/uid/${dashboard.uid}`, auth);
    for (let i = 0; d.status === 404 && i < 15; i++) {
      await new Promise((res) => setTimeout(res, 2000));
      d = await grafanaApi(ctx, `/api/dashboards/uid/${dashboard.uid}`, auth);
    }
    const title = json<{ dashboard?: { title?: string } }>(d.body)?.dashboard?.title ?? '';
    ev.push(
      ok(
        `dashboard ${dashboard.uid} is provisioned`,
        d.status === 200 && title === dashboard.title,
        `${st(d)} ${title}`,
      ),
    );
  }
  const anon = await grafanaApi(ctx, `/api/dashboards/uid/${labDashboards()[0]?.dashboard.uid ?? 'x'}`, 'anonymous');
  ev.push(ok('anonymous access is rejected', anon.status === 401, st(anon)));
  // Last: a failed login counts towards Grafana's brute-force lockout of "admin".
  const dflt = await grafanaApi(ctx, '/api/user', 'admin:admin');
  ev.push(ok('admin/admin is rejected', dflt.status === 401, st(dflt)));
  return ev;
}

/** Requests to every sample page, `times` times, through mod_php (/) and php-fpm (/fpm/). */
export function requestsScript(times: number): string {
  const urls = SAMPLE_PAGES.flatMap((p) => [`http://127.0.0.1/${p.page}`, `http://127.0.0.1/fpm/${p.page}`]);
  return `for i in $(seq ${times}); do for u in ${urls.map((u) => `'${u}'`).join(' ')}; do curl -s -m 10 -o /dev/null "$u"; done; done`;
}

/**
 * Evidence that every panel shows data: requests to the sample pages, then each panel's
 * queries through POST /api/ds/query as the dashboard would send them, retried (with
 * more requests) until each has data or `timeoutMs` passes (scrapes are 15 s apart).
 */
export async function proveGrafana(
  ctx: StepContext,
  timing = { timeoutMs: 120_000, pollMs: 10_000 },
): Promise<Evidence[]> {
  const skip = await installed(ctx);
  if (skip) return [skip];
  const auth = { password: await ctx.secret('grafana') };
  const panels = labDashboards().flatMap(({ dashboard }) => queryPanels(dashboard).map((p) => ({ d: dashboard, p })));
  const results = new Map<string, { ok: boolean; detail: string }>();
  const key = (d: Dashboard, p: Panel) => `${d.uid}#${p.id}`;
  const deadline = Date.now() + timing.timeoutMs;
  for (let round = 0; ; round++) {
    ctx.progress(`generating requests to the sample pages (round ${round + 1})`);
    await ctx.host.exec({ script: requestsScript(20) }, { nothrow: true, timeoutMs: 300_000 });
    for (const { d, p } of panels) {
      if (results.get(key(d, p))?.ok) continue;
      const parts: string[] = [];
      let good = true;
      for (const t of (p.targets ?? []).filter((t) => t.expr)) {
        const r = await grafanaApi(ctx, '/api/ds/query', auth, {
          method: 'POST',
          body: { from: 'now-15m', to: 'now', queries: [panelQuery(d, p, t)] },
        });
        const res = json<{ results?: Record<string, unknown> }>(r.body)?.results?.[t.refId];
        const got: { series: number; error?: string } = res ? seriesWithData(res) : { series: 0 };
        if (r.status !== 200 && !got.error) got.error = st(r);
        const emptyOk = EMPTY_WHEN_HEALTHY.some((m) => t.expr!.includes(m)) && !got.error;
        if (got.series === 0 && !emptyOk) good = false;
        parts.push(
          `${t.refId}: ${got.error ? `error ${got.error.slice(0, 160)}` : got.series ? `${got.series} series` : emptyOk ? 'no data (nothing dropped: expected)' : 'no data'}`,
        );
      }
      results.set(key(d, p), { ok: good, detail: parts.join('; ') });
    }
    if ([...results.values()].every((x) => x.ok) || Date.now() + timing.pollMs > deadline) break;
    await new Promise((res) => setTimeout(res, timing.pollMs));
  }
  return panels.map(({ d, p }) => {
    const r = results.get(key(d, p))!;
    return { ok: r.ok, what: `panel "${p.title}" (${d.uid}) returns data`, detail: r.detail };
  });
}
