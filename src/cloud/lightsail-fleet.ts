import type { LightsailClient } from '@aws-sdk/client-lightsail';
import { UserError } from '../errors.js';
import type { CloudOptions } from './api.js';
import { getInstance, listLabs, type LabInstance } from './lightsail.js';
import { GRAFANA_PORT } from '../lab/layout.js';

/**
 * Default cap on a workshop fleet. Lightsail's documented per-region instance quota is 20,
 * and new accounts are often held lower (they fail with "reached the maximum number of
 * instances"); a larger fleet needs a quota increase and an explicit `limit`.
 */
export const DEFAULT_FLEET_LIMIT = 20;

const PREFIX_RE = /^[a-z][a-z0-9-]{0,40}$/;

/**
 * Lab names for a workshop: `lab-01` … `lab-30` (zero-padded to at least 2 digits so they
 * sort). UserError (exit 2) for a bad prefix or a count outside 1..limit.
 */
export function labNames(prefix: string, count: number, limit = DEFAULT_FLEET_LIMIT): string[] {
  if (!PREFIX_RE.test(prefix)) {
    throw new UserError(
      `prefix "${prefix}" is not allowed`,
      'Use 1-41 lowercase letters, digits or "-", starting with a letter (e.g. --prefix lab).',
    );
  }
  if (!Number.isInteger(count) || count < 1 || count > limit) {
    throw new UserError(
      `count must be between 1 and ${limit}, got ${count}`,
      count > limit
        ? `Lightsail limits instances per region (default quota ${DEFAULT_FLEET_LIMIT}, often less on new accounts); request a quota increase, then raise the limit.`
        : 'Pass --count N with N ≥ 1.',
    );
  }
  const width = Math.max(2, String(count).length);
  return Array.from({ length: count }, (_, i) => `${prefix}-${String(i + 1).padStart(width, '0')}`);
}

/** What a (re-)run of `workshop up` must do for each name. */
export interface FleetPlan {
  /** Ours and present: only provisioning may be left to do. */
  existing: LabInstance[];
  /** Absent: to be created. */
  missing: string[];
  /** Taken by something that is not this lab: the run must stop before creating anything. */
  foreign: string[];
}

/**
 * Sort the wanted names into existing (ours), missing and foreign, so a re-run creates only
 * what is missing and a name clash is reported before anything is created.
 */
export async function planFleet(
  client: LightsailClient,
  names: readonly string[],
  opts: CloudOptions = {},
): Promise<FleetPlan> {
  const ours = new Map((await listLabs(client, opts)).map((l) => [l.name, l]));
  const plan: FleetPlan = { existing: [], missing: [], foreign: [] };
  for (const name of names) {
    const mine = ours.get(name);
    if (mine && mine.lab === name) {
      plan.existing.push(mine);
      continue;
    }
    // not in our list: absent, or present without our tags (or tagged for another lab)
    const other = mine ?? (await getInstance(client, name, opts));
    if (other) plan.foreign.push(name);
    else plan.missing.push(name);
  }
  return plan;
}

/** One attendee's line of the roster. */
export interface RosterRow {
  lab: string;
  ip: string;
  grafanaUrl: string;
  grafanaPassword: string;
  ssh: string;
}

/**
 * One row per lab, sorted by name: IP, Grafana URL (port 3000), Grafana admin password and
 * the SSH command. Labs without an IP (still starting) get empty IP/URL/SSH cells.
 */
export function rosterRows(
  labs: readonly LabInstance[],
  passwords: Readonly<Record<string, string>> | ReadonlyMap<string, string>,
  opts: { keyPath?: string } = {},
): RosterRow[] {
  const pw = (lab: string): string =>
    (passwords instanceof Map ? passwords.get(lab) : (passwords as Record<string, string>)[lab]) ?? '';
  return [...labs]
    .sort((a, b) => a.name.localeCompare(b.name))
    .map((l) => {
      const ip = l.publicIp ?? '';
      const user = l.username || 'ubuntu';
      const key = opts.keyPath ? `-i ${opts.keyPath} ` : '';
      return {
        lab: l.name,
        ip,
        grafanaUrl: ip ? `http://${ip}:${GRAFANA_PORT}/` : '',
        grafanaPassword: pw(l.name),
        ssh: ip ? `ssh ${key}${user}@${ip}` : '',
      };
    });
}

const COLUMNS: Array<[keyof RosterRow, string, string]> = [
  ['lab', 'lab', 'Lab'],
  ['ip', 'ip', 'IP'],
  ['grafanaUrl', 'grafana_url', 'Grafana'],
  ['grafanaPassword', 'grafana_password', 'Grafana password'],
  ['ssh', 'ssh', 'SSH'],
];

/** RFC 4180 field: quoted when it holds a comma, quote, CR or LF; quotes doubled. */
function csvField(value: string): string {
  return /[",\r\n]/.test(value) ? `"${value.replace(/"/g, '""')}"` : value;
}

/** The roster as CSV (header row, CRLF line ends as RFC 4180 says). */
export function rosterCsv(rows: readonly RosterRow[]): string {
  const lines = [COLUMNS.map(([, h]) => h).join(',')];
  for (const r of rows) lines.push(COLUMNS.map(([k]) => csvField(r[k])).join(','));
  return lines.join('\r\n') + '\r\n';
}

/** Inline code that survives any content: fence longer than the longest backtick run, pipes escaped. */
function mdCode(value: string): string {
  if (value === '') return '';
  const flat = value.replace(/[\r\n]+/g, ' ').replace(/\|/g, '\\|');
  const longest = Math.max(0, ...(flat.match(/`+/g) ?? []).map((s) => s.length));
  const fence = '`'.repeat(longest + 1);
  const pad = flat.startsWith('`') || flat.endsWith('`') ? ' ' : '';
  return `${fence}${pad}${flat}${pad}${fence}`;
}

/** The roster as a Markdown table; passwords and commands in code spans so nothing is reformatted. */
export function rosterMarkdown(rows: readonly RosterRow[]): string {
  const lines = [`| ${COLUMNS.map(([, , t]) => t).join(' | ')} |`, `| ${COLUMNS.map(() => '---').join(' | ')} |`];
  for (const r of rows) {
    const cells = [r.lab.replace(/\|/g, '\\|'), r.ip, r.grafanaUrl, mdCode(r.grafanaPassword), mdCode(r.ssh)];
    lines.push(`| ${cells.join(' | ')} |`);
  }
  return lines.join('\n') + '\n';
}
