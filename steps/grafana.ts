import { readFile } from 'node:fs/promises';
import { UserError } from '../src/errors.js';
import { GRAFANA_KEY, GRAFANA_VERSION } from '../src/artifacts/manifest.js';
import { ensureSigningKey, SigningKeyUnavailable } from '../src/artifacts/openpgp.js';
import { applyDesired, desiredChanges, desiredProbes, unitStates, type Desired } from '../src/resources/desired.js';
import { aptGet } from '../src/resources/apt.js';
import { render } from '../src/render/template.js';
import { cacheDir } from '../src/state.js';
import { GRAFANA_UNIT, grafanaApi, grafanaStateProbe, waitForGrafana } from '../src/lab/grafana-api.js';
import { labDashboards, proveGrafana, verifyGrafana } from '../src/lab/grafana-verify.js';
import { DASHBOARDS_DIR, GRAFANA_PORT, PROMETHEUS_URL } from '../src/lab/layout.js';
import { ofKind, type Change, type CheckResult, type Step, type StepContext } from '../src/runner/types.js';

/**
 * grafana — Grafana from its own APT repository, pinned, provisioned and locked down.
 *
 * - Repository, with Grafana's current key method (the workshop's `gpg.key | gpg --dearmor`
 *   broke when the key was rotated in 2025): https://apt.grafana.com/gpg-full.key is
 *   fetched once into the local artifact cache (`<cache>/artifacts/grafana-apt-key/grafana-gpg-full.key`;
 *   with `--mirror DIR|https://URL` it is read from `DIR/grafana-apt-key/grafana-gpg-full.key`),
 *   accepted only if every primary key in it is one pinned by full fingerprint in
 *   {@link GRAFANA_KEY} (parsed here, see src/artifacts/openpgp.ts), and a keyring holding only
 *   the pinned signing key (re-serialised from the parsed packets, ASCII-armored) is written to
 *   /etc/apt/keyrings/grafana.asc (0644): apt trusts nothing else from the file;
 *   /etc/apt/sources.list.d/grafana.list is rewritten whole with {@link GRAFANA_SOURCE}.
 *   The packages themselves still come from apt.grafana.com.
 * - Package `grafana` at {@link GRAFANA_VERSION} (dpkg's installed version must equal it),
 *   installed with `apt-get update` then `apt-get install grafana=<version>`; a downgrade
 *   is not forced (apt refuses it).
 * - /etc/grafana/grafana.ini (listens on 0.0.0.0:3000 for attendees, anonymous access and
 *   sign-up off) with the lab's admin password from `ctx.secret('grafana')` (generated
 *   once, kept 0600 on the operator's machine): a secret file, diffs masked, 0640
 *   root:grafana. A Prometheus data source with uid `ebpf-lab-prometheus`
 *   (http://127.0.0.1:9090) and a dashboards provider reading {@link DASHBOARDS_DIR}, where
 *   every dashboards/*.json is copied (others there are removed). A config or
 *   provisioning change restarts grafana-server (data sources load only at start).
 * - The admin password in Grafana's database is the lab's: grafana.ini applies only when
 *   the database is created, so check logs in through the API (credentials on curl's
 *   stdin) and, when refused, apply runs `grafana-cli admin reset-admin-password
 *   --password-from-stdin`. The password never appears in an argv, a change or a log.
 * - grafana-server enabled and active, answering on :3000.
 *
 * prepare() fetches and checks the key; when it cannot be fetched (no internet) the step
 * is skipped with a reason naming --mirror and --skip grafana. verify and prove go
 * through Grafana's HTTP API; without Grafana installed they report it as skipped.
 */
export const KEYRING = '/etc/apt/keyrings/grafana.asc';
export const SOURCE_LIST = '/etc/apt/sources.list.d/grafana.list';
export const GRAFANA_SOURCE = `deb [signed-by=${KEYRING}] https://apt.grafana.com stable main`;
const INI = '/etc/grafana/grafana.ini';
const REPO_FILES = [KEYRING, SOURCE_LIST];

/** The repository's changes: its key and source list, and the CA certificates apt needs for it. */
const isRepo = (c: Change) =>
  (c.kind === 'package' && c.name === 'ca-certificates') || (c.kind === 'file' && REPO_FILES.includes(c.path));
const isGrafanaPackage = (c: Change) => c.kind === 'package' && c.name === 'grafana';

/** The files and service the step wants, from the (checked) key text and the admin password. */
export function grafanaDesired(key: string, adminPassword: string): Desired {
  const conf = (path: string, content: string, secret = false) => ({
    path,
    content,
    mode: 0o640,
    owner: 'root',
    group: 'grafana',
    secret,
    notify: { unit: GRAFANA_UNIT, action: 'restart' as const },
  });
  return {
    packages: ['ca-certificates'], // apt needs them for the https repository
    files: [
      { path: KEYRING, content: key, mode: 0o644 },
      {
        path: SOURCE_LIST,
        content: `# managed by ebpf-lab: do not edit, \`ebpf-lab up\` rewrites this file.\n${GRAFANA_SOURCE}\n`,
        mode: 0o644,
      },
      conf(
        INI,
        render('etc/grafana/grafana.ini', { httpAddr: '0.0.0.0', httpPort: GRAFANA_PORT, adminPassword }),
        true,
      ),
      conf(
        '/etc/grafana/provisioning/datasources/ebpf-lab.yaml',
        render('etc/grafana/provisioning/datasources/ebpf-lab.yaml', { prometheusUrl: PROMETHEUS_URL }),
      ),
      conf(
        '/etc/grafana/provisioning/dashboards/ebpf-lab.yaml',
        render('etc/grafana/provisioning/dashboards/ebpf-lab.yaml', { dashboardsDir: DASHBOARDS_DIR }),
      ),
      ...labDashboards().map((d) => ({ path: `${DASHBOARDS_DIR}/${d.file}`, content: d.content, mode: 0o644 })),
    ],
    services: [{ unit: GRAFANA_UNIT }],
  };
}

/** The keyring of the pinned key: from prepare() (ctx.artifacts), else fetched and checked now; or why not. */
async function signingKey(ctx: StepContext): Promise<{ armored: string } | { skip: string }> {
  const have = ctx.artifacts.get(GRAFANA_KEY.id);
  if (have) return { armored: await readFile(have.path, 'utf8') };
  try {
    const k = await ensureSigningKey(GRAFANA_KEY, {
      cacheDir: cacheDir(),
      mirror: ctx.options.mirror,
      log: (l) => ctx.progress(l),
    });
    // What the host gets is the keyring of the pinned key only, not the publisher's file.
    ctx.artifacts.set(GRAFANA_KEY.id, { path: k.keyringPath, sha256: k.sha256 });
    return { armored: k.keyring };
  } catch (e) {
    if (!(e instanceof SigningKeyUnavailable)) throw e;
    return {
      skip:
        `Grafana's APT signing key cannot be fetched from ${e.source} (${e.reason}): ${ctx.options.mirror ? 'the mirror has no copy of it' : 'this machine cannot reach apt.grafana.com'}. ` +
        `Give a copy with --mirror DIR|https://URL (DIR/${GRAFANA_KEY.id}/${GRAFANA_KEY.file}, a copy of ${GRAFANA_KEY.url}) or leave Grafana out with --skip grafana`,
    };
  }
}

async function inspect(ctx: StepContext): Promise<CheckResult> {
  const key = await signingKey(ctx);
  if ('skip' in key) return { changes: [], notes: [], skip: key.skip };
  const password = await ctx.secret('grafana');
  const d = grafanaDesired(key.armored, password);
  const r = await ctx.probe({ ...desiredProbes(d), grafana: grafanaStateProbe(DASHBOARDS_DIR) });
  const g = r.grafana;
  const all = desiredChanges(d, r);
  // In apply order: repository, package, provisioning, services, password.
  const changes = all.filter(isRepo);
  if (g.version !== GRAFANA_VERSION)
    changes.push({
      kind: 'package',
      name: 'grafana',
      action: 'install',
      detail: `grafana=${GRAFANA_VERSION} (installed: ${g.version ?? 'none'})`,
    });
  const ours = new Set(labDashboards().map((x) => x.file));
  const stale = g.dashboards
    .filter((f) => !ours.has(f))
    .map((f): Change => ({
      kind: 'file',
      path: `${DASHBOARDS_DIR}/${f}`,
      action: 'delete',
      detail: 'not a dashboard of ebpf-lab',
    }));
  changes.push(...all.filter((c) => !isRepo(c) && c.kind !== 'unit'), ...stale, ...ofKind(all, 'unit'));
  const notes: string[] = [];
  if (g.version && g.db) {
    if (unitStates(r)[GRAFANA_UNIT]?.active === 'active') {
      const login = await grafanaApi(ctx, '/api/user', { password });
      if (login.status === 401)
        changes.push({
          kind: 'password',
          of: 'grafana',
          action: 'reset',
          detail: "Grafana's database holds another admin password (the lab's is refused: HTTP 401)",
        });
      else if (login.status !== 200)
        notes.push(`admin password not checked: Grafana answered ${login.status || 'nothing'} on /api/user`);
    } else
      changes.push({
        kind: 'password',
        of: 'grafana',
        action: 'reset',
        detail: 'Grafana is stopped and its database exists: the admin password cannot be checked, so it is set',
      });
  }
  if (!changes.length)
    notes.push(
      `grafana ${GRAFANA_VERSION} from apt.grafana.com, running; data source ebpf-lab-prometheus and ${ours.size} dashboards provisioned; admin password is the lab's`,
    );
  return { changes, notes };
}

const step: Step = {
  id: 'grafana',
  title: 'Grafana (pinned, from apt.grafana.com) shows the lab dashboards, admin password protected',
  needs: ['packages', 'prometheus'],
  async prepare(ctx) {
    const key = await signingKey(ctx);
    return 'skip' in key ? key.skip : undefined;
  },
  check: inspect,
  async apply(ctx, changes) {
    const key = await signingKey(ctx);
    if ('skip' in key) throw new UserError(key.skip);
    const password = await ctx.secret('grafana');
    const d = grafanaDesired(key.armored, password);
    const repo = changes.filter(isRepo);
    const resetPassword = ofKind(changes, 'password').length > 0;
    await applyDesired(ctx, { ...d, files: d.files!.filter((f) => REPO_FILES.includes(f.path)), services: [] }, repo);
    if (changes.some(isGrafanaPackage)) {
      // The repository may be new: apt knows nothing about it until an update.
      await aptGet(ctx, ['update', '-q']);
      ctx.progress(`apt-get install grafana=${GRAFANA_VERSION}`);
      await aptGet(ctx, ['install', '-y', '-q', '--no-install-recommends', `grafana=${GRAFANA_VERSION}`]);
      await ctx.host.exec(['systemctl', 'daemon-reload'], { sudo: true });
    }
    const rest = changes.filter((c) => !repo.includes(c) && !isGrafanaPackage(c) && c.kind !== 'password');
    const absent = ofKind(rest, 'file', 'delete').map((c) => c.path);
    await applyDesired(
      ctx,
      { ...d, packages: [], files: d.files!.filter((f) => !REPO_FILES.includes(f.path)), absent },
      rest,
    );
    const dashboardsChanged = ofKind(rest, 'file').some((c) => c.path.startsWith(`${DASHBOARDS_DIR}/`));
    const restarted = ofKind(rest, 'unit').some((c) => c.unit === GRAFANA_UNIT);
    if (restarted || dashboardsChanged || resetPassword) await waitForGrafana(ctx);
    if (resetPassword) {
      ctx.progress("setting the admin password in Grafana's database (grafana-cli, password on stdin)");
      await ctx.host.exec(
        ['runuser', '-u', 'grafana', '--', 'grafana-cli', 'admin', 'reset-admin-password', '--password-from-stdin'],
        { sudo: true, input: `${password}\n`, timeoutMs: 120_000 },
      );
    }
    // The provider rescans every 30 s; ask for it now so verify sees the new dashboards.
    if (dashboardsChanged && !restarted)
      await grafanaApi(ctx, '/api/admin/provisioning/dashboards/reload', { password }, { method: 'POST' });
  },
  verify: verifyGrafana,
  prove: (ctx) => proveGrafana(ctx),
};
export default step;
