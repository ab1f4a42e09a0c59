import { probe } from '../resources/probe.js';
import { waitLoop } from '../resources/wait.js';
import { hostScript } from '../render/script.js';
import type { StepContext } from '../runner/types.js';
import { GRAFANA_PORT, GRAFANA_URL } from './layout.js';

/**
 * Talking to Grafana on the lab host: its local HTTP API through curl, with the admin
 * password in a curl config read from stdin (`-K -`) so it is never in an argv (the
 * process list, sudo logs, our own command log), and the host facts the step reads.
 */
export const GRAFANA_UNIT = 'grafana-server.service';
export const GRAFANA_DB = '/var/lib/grafana/grafana.db';

/** Who calls: the lab's admin (password via stdin), the well-known default, or nobody. */
export type GrafanaAuth = { password: string } | 'admin:admin' | 'anonymous';

export interface ApiResponse {
  /** HTTP status; 0 when Grafana could not be reached. */
  status: number;
  body: string;
}

/** A value in a curl config file: double-quoted, backslash and quote escaped. */
export function curlQuote(value: string): string {
  if (/[\r\n\0]/.test(value)) throw new Error('curl config value contains a newline or NUL');
  return `"${value.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
}

/**
 * The argv (nothing secret: path, method, the default admin:admin) and the stdin config
 * (the lab's credentials and the body) of one API call.
 */
export function apiCall(
  path: string,
  auth: GrafanaAuth,
  opts: { method?: string; body?: unknown } = {},
): { argv: string[]; input?: string } {
  const argv = ['curl', '-sS', '-m', '20', '-w', '\\n%{http_code}'];
  if (opts.method) argv.push('-X', opts.method);
  if (auth === 'admin:admin') argv.push('-u', 'admin:admin');
  const config: string[] = [];
  if (typeof auth === 'object') config.push(`user = ${curlQuote(`admin:${auth.password}`)}`);
  if (opts.body !== undefined) {
    config.push(`header = "Content-Type: application/json"`);
    // data-raw: a body starting with @ is not read as a file name.
    config.push(`data-raw = ${curlQuote(JSON.stringify(opts.body))}`);
  }
  if (config.length) argv.push('-K', '-');
  argv.push(GRAFANA_URL + path);
  return { argv, input: config.length ? config.join('\n') + '\n' : undefined };
}

/** One call to Grafana's API on the host (read-only unless `method` says otherwise). */
export async function grafanaApi(
  ctx: StepContext,
  path: string,
  auth: GrafanaAuth,
  opts: { method?: string; body?: unknown } = {},
): Promise<ApiResponse> {
  const { argv, input } = apiCall(path, auth, opts);
  const r = await ctx.host.exec(argv, { input, nothrow: true, timeoutMs: 30_000 });
  const i = r.stdout.lastIndexOf('\n');
  const status = Number(r.stdout.slice(i + 1).trim());
  if (r.exitCode !== 0 || !Number.isInteger(status) || i < 0)
    return { status: 0, body: (r.stderr || r.stdout).trim().slice(-300) };
  return { status, body: r.stdout.slice(0, i) };
}

/** Parses a JSON body, undefined when it is not JSON. */
export function json<T = Record<string, unknown>>(body: string): T | undefined {
  try {
    return JSON.parse(body) as T;
  } catch {
    return undefined;
  }
}

/**
 * Waits (up to 120 s, on the host) until /api/health answers 200: the first start runs
 * the database migrations, and the password reset and verify need a serving Grafana.
 */
export async function waitForGrafana(ctx: StepContext): Promise<void> {
  ctx.progress(`waiting for Grafana to answer on :${GRAFANA_PORT}`);
  const health = `${GRAFANA_URL}/api/health`;
  const answers = `[ "$(curl -s -m 2 -o /dev/null -w '%{http_code}' ${health})" = 200 ]`;
  await ctx.host.exec(
    {
      script: `${waitLoop(answers, { tries: 120, every: 1, then: 'exit 0' })}; echo 'Grafana did not answer on ${health} within 120 s' >&2; exit 1`,
    },
    { timeoutMs: 150_000 },
  );
}

export interface GrafanaState {
  /** Installed version of the `grafana` package, undefined when not installed. */
  version?: string;
  /** Grafana's database exists (it was started once: admin_password no longer applies). */
  db: boolean;
  /** *.json files in the dashboards directory. */
  dashboards: string[];
}

/** Package version, database presence and the provisioned dashboard files, in one probe. */
export function grafanaStateProbe(dashboardsDir: string) {
  return probe<GrafanaState>(
    hostScript('grafana-state', { DB: GRAFANA_DB, DASHBOARDS_DIR: dashboardsDir }),
    (out) => {
      const s: GrafanaState = { db: false, dashboards: [] };
      for (const line of out.split('\n')) {
        const [k, v = ''] = line.split('\t');
        if (k === 'version' && v) s.version = v.trim();
        if (k === 'db') s.db = true;
        if (k === 'dashboard' && v) s.dashboards.push(v);
      }
      return s;
    },
    { id: 'grafana', args: dashboardsDir },
  );
}

/** Is something listening on Grafana's TCP port (any address)? */
export const listenProbe = probe(`ss -Hltn 'sport = :${GRAFANA_PORT}' 2>/dev/null | head -3`, (out) => out.trim(), {
  id: 'grafana-listen',
});
